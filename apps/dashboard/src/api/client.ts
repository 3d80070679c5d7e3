import { API_PREFIX, BACKEND_ROUTES, buildPath, envelopeMessage } from '@ktrdr/contracts/constants';
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

function messageOf(body: unknown, fallback: string): string {
  return envelopeMessage(body, fallback).slice(0, 300);
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

let fetchImpl: FetchLike = (input, init) => fetch(input, init);

/** Tests swap the transport. */
export function setFetch(f: FetchLike): void {
  fetchImpl = f;
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
  let res: Response;
  try {
    res = await fetchImpl(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, `The backend did not answer (${String(err)})`, null);
  }
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!res.ok) {
    if (res.status === 401) setAuthNeeded(true);
    const retry = Number(res.headers.get('retry-after'));
    throw new ApiError(
      res.status,
      messageOf(parsed, `${res.status} ${res.statusText}`.trim()),
      parsed,
      Number.isFinite(retry) && retry > 0 ? retry : null,
    );
  }
  return parsed as T;
}

export const get = <T>(path: string, signal?: AbortSignal) =>
  api<T>('GET', path, undefined, signal);
