import { WORKER_ROUTES, WorkerActivity, httpExchange } from '@ktrdr/contracts/constants';
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
  const r = await httpExchange(endpointUrl + WORKER_ROUTES.health, {
    method: 'GET',
    timeoutMs,
  });
  if (r.kind === 'unreachable') return { ok: false, reason: r.detail };
  if (!r.ok) return { ok: false, reason: `HTTP ${r.status}` };
  if (r.json === undefined) return { ok: false, reason: 'health response is not JSON' };
  const body = r.json;
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
}
