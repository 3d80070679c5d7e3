import {
  API_PREFIX,
  BACKEND_ROUTES,
  buildPath,
  envelopeMessage,
  errorText,
  fetchTransport,
  httpExchange,
  type FetchLike,
  type HttpTransport,
} from '@ktrdr/contracts/constants';
import { authHeaders, setAuthNeeded } from './auth';

/** A non-2xx answer: `message` is the backend's one-line message (it names the field or resource). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * The text of what a call threw, for a notice or an error line: an ApiError as `<status>: <the
 * answer's message>` (its message alone when no answer came: it says so), anything else as
 * errorText says it.
 */
export function apiErrorText(err: unknown): string {
  if (err instanceof ApiError) return err.status ? `${err.status}: ${err.message}` : err.message;
  return errorText(err);
}

export type RouteName = keyof typeof BACKEND_ROUTES;

export type Query = Record<string, string | number | boolean | null | undefined>;

/** `/api/v1/<route>` with path parameters filled in and the query appended. */
export function apiPath(route: RouteName, params: Record<string, string> = {}, query?: Query) {
  let path = `/${API_PREFIX}/${buildPath(BACKEND_ROUTES[route], params)}`;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
    }
    const s = qs.toString();
    if (s) path += `?${s}`;
  }
  return path;
}

export type { FetchLike };

let transport: HttpTransport = fetchTransport();

/** Tests swap the transport (a fetch stand-in). */
export function setFetch(f: FetchLike): void {
  transport = fetchTransport(f);
}

/**
 * One call to the backend (same origin). Sends the API key when one is set; a 401 marks the key as
 * needed (the page asks for it) and throws like any other error answer.
 */
export async function api<T>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await httpExchange(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    transport,
  });
  if (r.kind === 'unreachable') {
    throw new ApiError(0, `The backend did not answer (${r.detail})`, null);
  }
  // The body: parsed JSON, or its text when it is not JSON (a proxy's error page).
  const parsed = r.json === undefined ? r.text : r.json;
  if (!r.ok) {
    if (r.status === 401) setAuthNeeded(true);
    throw new ApiError(
      r.status,
      envelopeMessage(parsed, `${r.status} ${r.statusText}`.trim()).slice(0, 300),
      parsed,
      r.retryAfterSeconds,
    );
  }
  return parsed as T;
}

export const get = <T>(path: string, signal?: AbortSignal) =>
  api<T>('GET', path, undefined, signal);
