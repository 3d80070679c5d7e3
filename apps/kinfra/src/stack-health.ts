/** Probing a slot's backend: health and the number of registered workers (GET /api/v1/workers → total). */

import { errorText } from '@ktrdr/contracts/constants';

export interface HttpDeps {
  fetch: (
    url: string,
    init?: {
      signal?: AbortSignal;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
    },
  ) => Promise<{
    ok: boolean;
    status: number;
    json(): Promise<unknown>;
  }>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

export const defaultHttpDeps: HttpDeps = {
  fetch: (url, init) => fetch(url, init),
  now: Date.now,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export function apiBaseUrl(apiPort: number): string {
  return `http://127.0.0.1:${apiPort}/api/v1`;
}

export interface StackProbe {
  backend_healthy: boolean;
  /** undefined when the backend did not answer the workers request. */
  workers_registered: number | undefined;
  error?: string;
}

const REQUEST_TIMEOUT_MS = 3_000;

/** `apiKey`: the slot's API key (GET /workers needs a read key; /health is public). */
export async function probeStack(
  apiPort: number,
  http: HttpDeps,
  apiKey?: string,
): Promise<StackProbe> {
  const base = apiBaseUrl(apiPort);
  try {
    const health = await http.fetch(`${base}/health`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (!health.ok) {
      return {
        backend_healthy: false,
        workers_registered: undefined,
        error: `GET ${base}/health answered ${health.status}`,
      };
    }
  } catch (err) {
    return {
      backend_healthy: false,
      workers_registered: undefined,
      error: `GET ${base}/health failed: ${errorText(err)}`,
    };
  }
  try {
    const res = await http.fetch(`${base}/workers`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      ...(apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {}),
    });
    if (!res.ok) {
      return {
        backend_healthy: true,
        workers_registered: undefined,
        error: `GET ${base}/workers answered ${res.status}`,
      };
    }
    const body = (await res.json()) as { total?: unknown; workers?: unknown };
    const total =
      typeof body.total === 'number'
        ? body.total
        : Array.isArray(body.workers)
          ? body.workers.length
          : undefined;
    if (total === undefined) {
      return {
        backend_healthy: true,
        workers_registered: undefined,
        error: `GET ${base}/workers: no "total" in the answer`,
      };
    }
    return { backend_healthy: true, workers_registered: total };
  } catch (err) {
    return {
      backend_healthy: true,
      workers_registered: undefined,
      error: `GET ${base}/workers failed: ${errorText(err)}`,
    };
  }
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
