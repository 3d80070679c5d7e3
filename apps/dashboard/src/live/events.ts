import type { QueryClient } from '@tanstack/react-query';
import { EVENT_TYPES } from '@ktrdr/contracts/constants';
import type {
  KtrdrEvent,
  OperationDto,
  OperationEventPayloadDto,
  OperationListResponseDto,
  WorkerDto,
  WorkerListResponseDto,
} from '../api/types';
import type { LiveEvent } from './stream';

/**
 * What an event of `GET /api/v1/events` changes in the page's cache. Frames are the contracts'
 * KtrdrEvent: `{ id, type, time, payload }` with `type` `operation.<kind>` (payload: the operation
 * without params and result), `worker.<kind>` (payload: `{ worker, previous_status }`),
 * `stream.gap` or `stream.dropped`.
 *
 * Progress events patch the cached operation in place (no refetch, so a fast job cannot make the
 * page hammer the API); lifecycle events patch and then ask for a (throttled) refetch of the lists,
 * whose order and membership they change; a gap refetches everything.
 */
export interface CacheEffect {
  patchOperation?: OperationEventPayloadDto;
  patchWorker?: WorkerDto;
  removeWorker?: string;
  refetch: Array<'operations' | 'workers' | 'all'>;
}

function obj(v: unknown): Record<string, unknown> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * The SSE frame as the contracts' KtrdrEvent, or null when it is none (an event type this page does
 * not know, from a newer backend, or a frame without payload). The frame's own `type` wins over the
 * SSE `event:` name. The payload's fields are checked where they are used.
 */
export function parseEvent(e: LiveEvent): KtrdrEvent | null {
  const frame = obj(e.data);
  const type = typeof frame?.type === 'string' ? frame.type : e.type;
  if (!frame || !KNOWN_TYPES.has(type) || !obj(frame.payload)) return null;
  // The wire format is the contracts' (the backend builds it from these DTOs); the checks above
  // make sure it is an event at all.
  return { ...frame, type } as unknown as KtrdrEvent;
}

export function effectOf(e: LiveEvent): CacheEffect {
  const ev = parseEvent(e);
  // Anything this page does not know: re-read the current state.
  if (!ev) return { refetch: ['all'] };
  switch (ev.type) {
    case 'stream.gap':
      return { refetch: ['all'] };
    case 'stream.dropped':
      return { refetch: [] };
    case 'worker.registered':
    case 'worker.status_changed':
    case 'worker.removed': {
      const worker = obj(ev.payload.worker) ? ev.payload.worker : null;
      if (!worker || typeof worker.worker_id !== 'string') return { refetch: ['workers'] };
      if (ev.type === 'worker.removed') return { removeWorker: worker.worker_id, refetch: [] };
      return { patchWorker: worker, refetch: [] };
    }
    default: {
      // operation.*
      const op = typeof ev.payload.operation_id === 'string' ? ev.payload : undefined;
      return {
        patchOperation: op,
        // Progress leaves the lists as they are (in place patch); every other step moves the
        // operation between lists (queue, running, finished) or changes a worker.
        refetch: ev.type === 'operation.progress' && op ? [] : ['operations', 'workers'],
      };
    }
  }
}

function mergeOp(op: OperationDto, patch: OperationEventPayloadDto): OperationDto {
  // The event carries no params, metrics or queue place: keep the cached ones.
  return { ...op, ...patch, params: op.params, metrics: op.metrics };
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
