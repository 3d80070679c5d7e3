import { randomBytes } from 'node:crypto';
import { getWorkerSettings } from '@ktrdr/config';

/** `{worker_type}-worker-{8 hex}`. */
export function generateWorkerId(workerType: string): string {
  return `${workerType}-worker-${randomBytes(4).toString('hex')}`;
}

let processWorkerId: string | null = null;

/**
 * The id of the worker this process runs: `KTRDR_WORKER_ID`, else one generated id fixed for the
 * whole process. Tracing starts before the Nest app exists and needs the id for its resource; the
 * runtime then uses the same one (resolveRuntimeConfig), so traces and the registry agree.
 */
export function fixProcessWorkerId(workerType: string): string {
  processWorkerId ??= getWorkerSettings().worker_id ?? generateWorkerId(workerType);
  return processWorkerId;
}

/** The id fixed by fixProcessWorkerId, if any (null in tests that never start tracing). */
export function fixedProcessWorkerId(): string | null {
  return processWorkerId;
}
