import { WORKER_ROUTES, WorkerActivity, errorText } from '@ktrdr/contracts/constants';
import type { WorkerHealthResponseDto } from '@ktrdr/contracts';

/** What one /health probe found (a 200 with healthy:false counts as a failure). */
export type HealthOutcome =
  | {
      ok: true;
      report: Pick<WorkerHealthResponseDto, 'worker_status' | 'current_operation'> & {
        worker_id?: string;
      };
    }
  | { ok: false; reason: string };

/**
 * GET {endpoint}/health with a timeout. Decorator-free (constants only): it runs in the health
 * probe thread as well as on the main thread.
 */
export async function probeHealth(endpointUrl: string, timeoutMs: number): Promise<HealthOutcome> {
  try {
    const res = await fetch(endpointUrl + WORKER_ROUTES.health, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) return { ok: false, reason: `HTTP ${res.status}` };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, reason: 'health response is not JSON' };
    }
    if (!body || typeof body !== 'object') return { ok: false, reason: 'health body invalid' };
    const b = body as Record<string, unknown>;
    if (b.healthy !== true) return { ok: false, reason: 'worker reports healthy: false' };
    return {
      ok: true,
      report: {
        worker_status: b.worker_status === 'busy' ? WorkerActivity.BUSY : WorkerActivity.IDLE,
        current_operation: typeof b.current_operation === 'string' ? b.current_operation : null,
        ...(typeof b.worker_id === 'string' ? { worker_id: b.worker_id } : {}),
      },
    };
  } catch (err) {
    return { ok: false, reason: errorText(err) };
  }
}
