import type { QueryClient } from '@tanstack/react-query';
import type {
  OperationDto,
  OperationListResponseDto,
  WorkerDto,
  WorkerListResponseDto,
} from '../api/types';
import type { LiveEvent } from './stream';

/**
 * What an event of `GET /api/v1/events` changes in the page's cache. Frames are
 * `{ id, type, time, payload }` with `type` `operation.<kind>` (payload: the operation without params
 * and result), `worker.<kind>` (payload: `{ worker, previous_status }`), `stream.gap` or
 * `stream.dropped`.
 *
 * Progress events patch the cached operation in place (no refetch, so a fast job cannot make the
 * page hammer the API); lifecycle events patch and then ask for a (throttled) refetch of the lists,
 * whose order and membership they change; a gap refetches everything.
 */
export interface CacheEffect {
  patchOperation?: Partial<OperationDto> & { operation_id: string };
  patchWorker?: WorkerDto;
  removeWorker?: string;
  refetch: Array<'operations' | 'workers' | 'all'>;
}

function obj(v: unknown): Record<string, unknown> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

export function effectOf(e: LiveEvent): CacheEffect {
  const frame = obj(e.data);
  const type = typeof frame?.type === 'string' ? frame.type : e.type;
  const payload = obj(frame?.payload);
  if (type.startsWith('operation.')) {
    const op = payload && typeof payload.operation_id === 'string' ? payload : null;
    const kind = type.slice('operation.'.length);
    return {
      patchOperation: op ? (op as unknown as CacheEffect['patchOperation']) : undefined,
      // Progress leaves the lists as they are (in place patch); every other step moves the
      // operation between lists (queue, running, finished) or changes a worker.
      refetch: kind === 'progress' && op ? [] : ['operations', 'workers'],
    };
  }
  if (type.startsWith('worker.')) {
    const worker = obj(payload?.worker) as unknown as WorkerDto | null;
    if (!worker || typeof worker.worker_id !== 'string') return { refetch: ['workers'] };
    if (type === 'worker.removed') return { removeWorker: worker.worker_id, refetch: [] };
    return { patchWorker: worker, refetch: [] };
  }
  if (type === 'stream.dropped') return { refetch: [] };
  // stream.gap, or anything this page does not know: re-read the current state.
  return { refetch: ['all'] };
}

function mergeOp(op: OperationDto, patch: Partial<OperationDto>): OperationDto {
  // The event carries no params or metrics: keep the cached ones.
  return { ...op, ...patch, params: op.params, metrics: patch.metrics ?? op.metrics };
}

/** Applies the in-place part of an effect to the cache; returns what still needs a refetch. */
export function applyEffect(qc: QueryClient, effect: CacheEffect): CacheEffect['refetch'] {
  const p = effect.patchOperation;
  if (p) {
    qc.setQueryData<OperationDto>(['operation', p.operation_id], (old) =>
      old ? mergeOp(old, p) : old,
    );
    qc.setQueriesData<OperationListResponseDto>({ queryKey: ['operations'] }, (old) =>
      old && old.data.some((o) => o.operation_id === p.operation_id)
        ? {
            ...old,
            data: old.data.map((o) => (o.operation_id === p.operation_id ? mergeOp(o, p) : o)),
          }
        : old,
    );
  }
  const w = effect.patchWorker;
  if (w) {
    let known = true;
    qc.setQueryData<WorkerListResponseDto>(['workers'], (old) => {
      if (!old) return old;
      known = old.workers.some((x) => x.worker_id === w.worker_id);
      if (!known) return old;
      return { ...old, workers: old.workers.map((x) => (x.worker_id === w.worker_id ? w : x)) };
    });
    if (!known) return [...effect.refetch, 'workers'];
  }
  if (effect.removeWorker) {
    const id = effect.removeWorker;
    qc.setQueryData<WorkerListResponseDto>(['workers'], (old) =>
      old
        ? {
            ...old,
            total: old.workers.filter((x) => x.worker_id !== id).length,
            workers: old.workers.filter((x) => x.worker_id !== id),
          }
        : old,
    );
  }
  return effect.refetch;
}
