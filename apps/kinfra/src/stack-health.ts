/** Probing a slot's backend: health and the number of registered workers (GET /api/v1/workers → total). */

import {
  fetchTransport,
  httpExchange,
  type HttpExchange,
  type HttpTransport,
} from '@ktrdr/contracts/constants';

export interface HttpDeps {
  /** How requests go out: fetch, or a stand-in that never reaches the network (tests). */
  transport: HttpTransport;
  now: () => number;
  /** Keeps the process alive while it waits (an ordinary timer). */
  sleep: (ms: number) => Promise<void>;
}

export const defaultHttpDeps: HttpDeps = {
  transport: fetchTransport(),
  now: Date.now,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** No answer within this many ms counts as none. */
const REQUEST_TIMEOUT_MS = 3_000;

/** One request of kinfra's to a backend (the contracts' exchange: JSON parsed, timeout). */
export function backendRequest(
  http: HttpDeps,
  url: string,
  method = 'GET',
  headers: Record<string, string> = {},
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<HttpExchange> {
  return httpExchange(url, { method, headers, timeoutMs, transport: http.transport });
}

export function apiBaseUrl(apiPort: number): string {
  return `http://127.0.0.1:${apiPort}/api/v1`;
}

export interface StackProbe {
  backend_healthy: boolean;
  /** undefined when the backend did not answer the workers request. */
  workers_registered: number | undefined;
  error?: string;
}

/** `apiKey`: the slot's API key (GET /workers needs a read key; /health is public). */
export async function probeStack(
  apiPort: number,
  http: HttpDeps,
  apiKey?: string,
): Promise<StackProbe> {
  const base = apiBaseUrl(apiPort);
  const failed = (backend_healthy: boolean, error: string): StackProbe => ({
    backend_healthy,
    workers_registered: undefined,
    error,
  });
  const health = await backendRequest(http, `${base}/health`);
  if (health.kind === 'unreachable')
    return failed(false, `GET ${base}/health failed: ${health.detail}`);
  if (!health.ok) return failed(false, `GET ${base}/health answered ${health.status}`);
  const auth: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const res = await backendRequest(http, `${base}/workers`, 'GET', auth);
  if (res.kind === 'unreachable') return failed(true, `GET ${base}/workers failed: ${res.detail}`);
  if (!res.ok) return failed(true, `GET ${base}/workers answered ${res.status}`);
  const body = (typeof res.json === 'object' && res.json !== null ? res.json : {}) as {
    total?: unknown;
    workers?: unknown;
  };
  const total =
    typeof body.total === 'number'
      ? body.total
      : Array.isArray(body.workers)
        ? body.workers.length
        : undefined;
  if (total === undefined) return failed(true, `GET ${base}/workers: no "total" in the answer`);
  return { backend_healthy: true, workers_registered: total };
}

export interface WaitResult {
  ok: boolean;
  probe: StackProbe;
  waited_ms: number;
  /** Why waiting failed (when !ok). */
  reason?: string;
}

/** Polls until the backend is healthy and at least `expectedWorkers` are registered, or `timeoutMs`. */
export async function waitForStack(
  apiPort: number,
  expectedWorkers: number,
  timeoutMs: number,
  http: HttpDeps,
  intervalMs = 1_000,
  apiKey?: string,
  onProgress?: (probe: StackProbe) => void,
): Promise<WaitResult> {
  const started = http.now();
  let probe: StackProbe = { backend_healthy: false, workers_registered: undefined };
  for (;;) {
    probe = await probeStack(apiPort, http, apiKey);
    onProgress?.(probe);
    const waited = http.now() - started;
    if (probe.backend_healthy && (probe.workers_registered ?? 0) >= expectedWorkers) {
      return { ok: true, probe, waited_ms: waited };
    }
    if (waited >= timeoutMs) {
      const secs = Math.round(timeoutMs / 1000);
      const reason = !probe.backend_healthy
        ? `the backend at ${apiBaseUrl(apiPort)}/health was not healthy after ${secs}s` +
          (probe.error ? ` (last error: ${probe.error})` : '')
        : `only ${probe.workers_registered ?? 0} of ${expectedWorkers} workers registered after ${secs}s` +
          (probe.error ? ` (last error: ${probe.error})` : '');
      return { ok: false, probe, waited_ms: waited, reason };
    }
    await http.sleep(Math.min(intervalMs, Math.max(0, timeoutMs - waited)));
  }
}
