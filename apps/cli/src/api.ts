/**
 * HTTP client of the backend: base URL, bearer key, per-request timeout and retries with exponential
 * backoff (the ApiClient settings of @ktrdr/config), one-line errors.
 */
import { backoffDelayMs } from '@ktrdr/config';
import { envelopeMessage, httpExchange } from '@ktrdr/contracts/constants';
import { CliError, ApiError, UnreachableError } from './errors';

export interface ApiClientOptions {
  /** Base URL including `/api/v1`. */
  baseUrl: string;
  apiKey?: string;
  timeoutMs: number;
  /** Extra attempts after the first (KTRDR_API_CLIENT_RETRIES). */
  retries: number;
  /** Sleep between attempts (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
  /** First backoff step in ms (doubles each retry, capped at 4 s). */
  backoffMs?: number;
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
}

/** Methods whose repetition changes nothing: retried on any transient failure. */
const IDEMPOTENT = new Set(['GET', 'HEAD']);
/** Answers that mean "nothing was done, try again". */
const RETRY_STATUS = new Set([429, 502, 503, 504]);
const MAX_BACKOFF_MS = 4000;
const MAX_RETRY_AFTER_MS = 5000;

/** Accepts `http://host:8000` and `http://host:8000/api/v1` alike; no trailing slash. */
export function normalizeBaseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(
      `Invalid backend URL '${raw}': expected e.g. http://localhost:8000/api/v1`,
      2,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new CliError(`Invalid backend URL '${raw}': only http and https are supported`, 2);
  }
  let path = u.pathname.replace(/\/+$/, '');
  if (path === '') path = '/api/v1';
  return `${u.protocol}//${u.host}${path}`;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: ApiClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get apiKey(): string | undefined {
    return this.options.apiKey;
  }

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(`${this.baseUrl}/${path.replace(/^\/+/, '')}`);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', ...extra };
    if (this.options.apiKey) h.authorization = `Bearer ${this.options.apiKey}`;
    return h;
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.url(path, opts.query);
    const attempts = 1 + Math.max(0, this.options.retries);
    for (let attempt = 1; ; attempt++) {
      const r = await httpExchange(url, {
        method,
        headers: this.headers(
          opts.body === undefined ? {} : { 'content-type': 'application/json' },
        ),
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        timeoutMs: this.options.timeoutMs,
      });
      if (r.kind === 'unreachable') {
        const detail = r.timedOut
          ? `no answer within ${this.options.timeoutMs / 1000} s`
          : r.detail;
        // Refused / unresolvable: the request never reached the backend, any method may be retried.
        const retryable = IDEMPOTENT.has(method) || !r.sent;
        if (retryable && attempt < attempts) {
          await this.sleep(this.backoff(attempt));
          continue;
        }
        throw new UnreachableError(this.baseUrl, detail);
      }
      if (r.ok) {
        if (r.json === undefined) {
          throw new CliError(
            `The backend at ${this.baseUrl} answered ${method} /${path.replace(/^\/+/, '')} with something that is not JSON: is that URL the KTRDR API?`,
            1,
          );
        }
        return r.json as T;
      }
      if (RETRY_STATUS.has(r.status) && attempt < attempts) {
        const after = r.retryAfterSeconds;
        const wait =
          after !== null ? Math.min(after * 1000, MAX_RETRY_AFTER_MS) : this.backoff(attempt);
        await this.sleep(wait);
        continue;
      }
      throw new ApiError(r.status, errorMessage(r.status, r.text, method, path), method, path);
    }
  }

  /** Delay after failed attempt `attempt` (1 for the first): @ktrdr/config's jittered doubling. */
  private backoff(attempt: number): number {
    return backoffDelayMs(attempt - 1, {
      baseMs: this.options.backoffMs ?? 250,
      capMs: MAX_BACKOFF_MS,
    });
  }
}

/** The backend's one-line message from the error envelope (never a stack, never the raw body). */
export function errorMessage(status: number, text: string, method: string, path: string): string {
  let message: string | undefined;
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: unknown } | null;
    message = envelopeMessage(body, typeof body?.error === 'string' ? body.error : '') || undefined;
  } catch {
    // Not JSON (a proxy's page): fall back to the status line.
  }
  const line = (message ?? `HTTP ${status} from ${method} /${path.replace(/^\/+/, '')}`)
    .split('\n')[0]!
    .trim();
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}
