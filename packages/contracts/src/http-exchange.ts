/**
 * The one HTTP exchange of every KTRDR client (the backend calling workers, a worker calling the
 * backend, the CLI, the dashboard): one request with a timeout, the answer read and its JSON
 * parsed, a failure to get an answer described. Each client keeps its own policy on top (the CLI
 * retries, a worker reads leases, the dashboard asks for a key on 401). Framework-free and
 * browser-safe (its default transport is `fetch`): also in `@ktrdr/contracts/constants`. The
 * backend's calls to workers and the worker runtime pass `nodeHttpTransport` (from
 * `@ktrdr/contracts`: node:http, about a third of fetch's CPU per request, which counts on the
 * dispatch path); the CLI and the backend's health-probe thread load only `/constants` and keep
 * fetch.
 */
import { errorText } from './error-text';

/** `fetch`, or a stand-in with its shape (tests). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The headers of an answer (a fetch `Headers` is one). */
export interface AnswerHeaders {
  /** The value of a header (name in any case), null when absent. */
  get(name: string): string | null;
}

/** What a transport hands back: the whole answer, read. */
export interface TransportAnswer {
  status: number;
  statusText: string;
  headers: AnswerHeaders;
  text: string;
}

/**
 * Sends one request and reads the whole answer. It rejects when no answer came (the error says
 * why; a `code` such as ECONNREFUSED on the error or its `cause` tells a request that never left)
 * and when `signal` aborts.
 */
export type HttpTransport = (
  url: string,
  request: {
    method: string;
    headers: Record<string, string>;
    body: string | Uint8Array | undefined;
    signal: AbortSignal;
  },
) => Promise<TransportAnswer>;

/** A transport over `fetch` (the default one), or over a stand-in with its shape. */
export function fetchTransport(
  fetchImpl: FetchLike = (input, init) => fetch(input, init),
): HttpTransport {
  return async (url, request) => {
    const res = await fetchImpl(url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
    });
    return {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
      text: await res.text(),
    };
  };
}

const defaultTransport = fetchTransport();

export interface HttpExchangeOptions {
  method: string;
  headers?: Record<string, string>;
  /** A JSON text or binary bytes; the caller sets the content-type header. */
  body?: string | Uint8Array;
  /**
   * No answer (headers and body) within this many ms fails the exchange as `timedOut`. The timer is
   * an ordinary one (AbortSignal.timeout's does not keep Node running), cleared when it ends.
   */
  timeoutMs?: number;
  /** The caller's own cancellation: the exchange then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** How the request goes out (default: fetch; a stand-in: `fetchTransport(fake)`). */
  transport?: HttpTransport;
}

/** The server answered (any status). */
export interface HttpAnswer {
  kind: 'answer';
  status: number;
  statusText: string;
  ok: boolean;
  headers: AnswerHeaders;
  /** The body as text ('' when empty). */
  text: string;
  /** The body parsed as JSON; null when empty; undefined when it is not JSON (see `text`). */
  json: unknown;
  /** Seconds from a numeric Retry-After header, else null. */
  retryAfterSeconds: number | null;
}

/** No answer: no connection, a dropped connection, or the timeout. */
export interface HttpUnreachable {
  kind: 'unreachable';
  timedOut: boolean;
  /**
   * False when the request certainly never reached the server (connection refused, name not
   * resolved): then even a non-idempotent request may be sent again.
   */
  sent: boolean;
  /** One line: 'timed out', 'connect ECONNREFUSED 127.0.0.1:5003', … (see errorText). */
  detail: string;
}

export type HttpExchange = HttpAnswer | HttpUnreachable;

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** The system error code of a failed request: on the error (node:http) or its cause (fetch). */
function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return typeof e?.code === 'string' ? e.code : undefined;
}

/**
 * One request. Never rejects except when `options.signal` (the caller's) aborts it: every other
 * failure is an `unreachable` answer.
 */
export async function httpExchange(
  url: string,
  options: HttpExchangeOptions,
): Promise<HttpExchange> {
  const timeout = new AbortController();
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(
          () => timeout.abort(new DOMException('timed out', 'TimeoutError')),
          options.timeoutMs,
        );
  const signal =
    options.signal === undefined
      ? timeout.signal
      : AbortSignal.any([timeout.signal, options.signal]);
  const transport = options.transport ?? defaultTransport;
  try {
    const res = await transport(url, {
      method: options.method,
      headers: options.headers ?? {},
      body: options.body,
      signal,
    });
    const text = res.text;
    let json: unknown = null;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    const retry = Number(res.headers.get('retry-after'));
    return {
      kind: 'answer',
      status: res.status,
      statusText: res.statusText,
      ok: res.status >= 200 && res.status <= 299,
      headers: res.headers,
      text,
      json,
      retryAfterSeconds: Number.isFinite(retry) && retry > 0 ? retry : null,
    };
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason ?? err;
    const timedOut = timeout.signal.aborted;
    const code = errorCode(err);
    return {
      kind: 'unreachable',
      timedOut,
      sent: timedOut || code === undefined || !NOT_SENT_CODES.has(code),
      detail: errorText(timedOut ? timeout.signal.reason : err),
    };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
