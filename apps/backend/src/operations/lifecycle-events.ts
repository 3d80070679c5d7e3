import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import type { WorkerDto } from '@ktrdr/contracts';
import type { OperationRecord } from '../persistence/operations.repository';

export type OperationEventKind =
  | 'created'
  | 'queued'
  | 'dispatched'
  | 'running'
  | 'progress'
  | 'completed'
  | 'failed'
  | 'cancelled';

export type WorkerEventKind = 'registered' | 'status_changed' | 'removed';

export interface OperationEvent {
  kind: OperationEventKind;
  operation: OperationRecord;
}

export interface WorkerEvent {
  kind: WorkerEventKind;
  worker: WorkerDto;
}

interface LifecycleEventMap {
  operation: [OperationEvent];
  worker: [WorkerEvent];
}

/**
 * In-process notifications of what happened to operations and workers: the operation lifecycle and
 * the worker registry emit, the dispatcher and the event stream listen. Emitting is synchronous and
 * a listener must never throw (errors are swallowed so a bad listener cannot break a transition).
 */
@Injectable()
export class LifecycleEvents extends EventEmitter<LifecycleEventMap> {
  constructor() {
    super({ captureRejections: false });
    this.setMaxListeners(100);
  }

  operation(kind: OperationEventKind, operation: OperationRecord): void {
    this.safeEmit('operation', { kind, operation });
  }

  worker(kind: WorkerEventKind, worker: WorkerDto): void {
    this.safeEmit('worker', { kind, worker });
  }

  private safeEmit<K extends keyof LifecycleEventMap>(
    name: K,
    ...args: LifecycleEventMap[K]
  ): void {
    for (const listener of this.listeners(name)) {
      try {
        (listener as (...a: LifecycleEventMap[K]) => void)(...args);
      } catch {
        // A listener's failure is its own; the lifecycle goes on.
      }
    }
  }
}
