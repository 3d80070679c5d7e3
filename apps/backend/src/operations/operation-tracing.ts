import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { TERMINAL_OPERATION_STATUSES } from '@ktrdr/contracts';
import {
  ATTR,
  AttemptContexts,
  SPAN,
  runInContext,
  startSpan,
  withSpan,
  type Context,
  type Span,
} from '@ktrdr/telemetry';
import type { OperationRecord } from '../persistence/operations.repository';
import type { WorkerEntry } from '../workers/worker-registry';
import { LifecycleEvents, type OperationEvent } from './lifecycle-events';
import type { RequeueReason } from './lifecycle.service';

/** How the dispatcher picked a worker (`ktrdr.selection.reason`). */
export type SelectionReason = 'gpu_first' | 'least_recently_selected';

interface Requeue {
  reason: RequeueReason;
  countAttempt: boolean;
}

const FINAL: ReadonlySet<string> = new Set(TERMINAL_OPERATION_STATUSES);

/**
 * The backend's side of the operation traces, one trace per attempt: the attempt span
 * (`ktrdr.operation.attempt`, a child of the submit request for the first attempt, a new trace
 * linked to the first for a re-dispatch), `ktrdr.operation.queued` while it waits, the worker
 * selection and the dispatch (whose start request carries W3C trace context to the worker). It
 * follows the operation lifecycle through LifecycleEvents; the dispatcher and the lifecycle owner
 * call it for what the events do not say (selection details, requeue reasons). No-ops when tracing
 * is off.
 */
@Injectable()
export class OperationTracing implements OnModuleDestroy {
  readonly attempts = new AttemptContexts();
  private readonly queued = new Map<string, Span>();
  private readonly requeues = new Map<string, Requeue>();
  private readonly onOperation = (e: OperationEvent): void => this.apply(e);

  constructor(private readonly events: LifecycleEvents) {
    events.on('operation', this.onOperation);
  }

  onModuleDestroy(): void {
    this.events.off('operation', this.onOperation);
    // Exported before the process exits: a trace that ends here is better than none.
    for (const id of [...this.queued.keys()]) this.endQueued(id, 'backend_stopped');
    this.attempts.endAll('backend_stopped');
    this.requeues.clear();
  }

  /** The context of the operation's current attempt (reports and dispatch run in it). */
  context(operationId: string): Context | undefined {
    return this.attempts.context(operationId);
  }

  /** Called by the lifecycle owner just before it puts `op` back in the queue. */
  noteRequeue(operationId: string, reason: RequeueReason, countAttempt: boolean): void {
    this.requeues.set(operationId, { reason, countAttempt });
  }

  /**
   * The worker selection of a claimed operation (a short span under its attempt): how many workers
   * could take it and which, the chosen one, why. `startTime` is when the dispatcher looked.
   */
  selection(
    op: OperationRecord,
    chosen: WorkerEntry,
    candidates: readonly WorkerEntry[],
    reason: SelectionReason,
    startTime: number,
  ): void {
    const ctx = this.attempts.context(op.operation_id);
    const span = startSpan(SPAN.SELECT, {
      parent: ctx,
      root: ctx === undefined,
      startTime,
      attributes: {
        [ATTR.OPERATION_ID]: op.operation_id,
        [ATTR.OPERATION_TYPE]: op.operation_type,
        [ATTR.ATTEMPT]: op.attempt,
        [ATTR.SELECTION_CANDIDATES]: candidates.length,
        [ATTR.SELECTION_CANDIDATE_IDS]: candidates.slice(0, 50).map((w) => w.worker_id),
        [ATTR.SELECTION_CHOSEN]: chosen.worker_id,
        [ATTR.SELECTION_REASON]: reason,
        [ATTR.WORKER_TYPE]: chosen.worker_type,
        'ktrdr.worker.gpu': chosen.capabilities.gpu === true,
      },
    });
    span.end();
  }

  /** Runs the dispatch of `op` to `worker` in a `ktrdr.operation.dispatch` span under its attempt. */
  dispatch<T>(
    op: OperationRecord,
    worker: WorkerEntry,
    fn: (span: Span) => Promise<T>,
  ): Promise<T> {
    const ctx = this.attempts.context(op.operation_id);
    return runInContext(ctx, () =>
      withSpan(
        SPAN.DISPATCH,
        {
          root: ctx === undefined,
          attributes: {
            [ATTR.OPERATION_ID]: op.operation_id,
            [ATTR.OPERATION_TYPE]: op.operation_type,
            [ATTR.ATTEMPT]: op.attempt,
            [ATTR.WORKER_ID]: worker.worker_id,
            [ATTR.WORKER_TYPE]: worker.worker_type,
            ...(op.resume_from ? { [ATTR.RESUME_UNIT]: op.resume_from.unit } : {}),
          },
        },
        fn,
      ),
    );
  }

  private apply(e: OperationEvent): void {
    const op = e.operation;
    const id = op.operation_id;
    switch (e.kind) {
      case 'created':
        // Synchronous with the submit request: its span is the active context.
        this.attempts.begin(id, op.attempt + 1, { attributes: this.attributes(op) });
        break;
      case 'queued':
        this.onQueued(op);
        break;
      case 'dispatched':
        this.endQueued(id);
        this.attempts.span(id)?.addEvent('dispatched', { [ATTR.WORKER_ID]: op.worker_id ?? '' });
        break;
      case 'running':
        this.attempts.span(id)?.addEvent('running', { [ATTR.WORKER_ID]: op.worker_id ?? '' });
        break;
      case 'completed':
      case 'failed':
      case 'cancelled':
        this.endQueued(id, e.kind === 'cancelled' ? 'cancelled while queued' : undefined);
        this.attempts.end(id, e.kind, e.kind === 'failed' ? (op.error_message ?? 'failed') : null);
        this.requeues.delete(id);
        break;
      default:
        break;
    }
  }

  private onQueued(op: OperationRecord): void {
    const id = op.operation_id;
    const requeue = this.requeues.get(id);
    this.requeues.delete(id);
    const current = this.attempts.span(id);
    const sameAttempt = current !== undefined && (!requeue || !requeue.countAttempt);
    if (!sameAttempt) {
      // A re-dispatch (orphan, worker shutdown, resume, a refused dispatch that cost an attempt)
      // or an operation this process has not seen start (queued before a restart): a new attempt.
      if (current) {
        current.setAttribute('ktrdr.requeue.reason', requeue?.reason ?? 'unknown');
        this.attempts.end(id, 'requeued', null);
      }
      this.attempts.begin(id, op.attempt + 1, {
        attributes: this.attributes(op),
        reason: requeue?.reason ?? (FINAL.has(op.status) ? op.status : 'restart'),
      });
    } else if (requeue) {
      current.addEvent('requeued', {
        'ktrdr.requeue.reason': requeue.reason,
        [ATTR.ERROR_MESSAGE]: op.error_message ?? '',
      });
    }
    this.endQueued(id);
    const parent = this.attempts.context(id);
    const span = startSpan(SPAN.QUEUED, {
      parent,
      root: parent === undefined,
      attributes: {
        [ATTR.OPERATION_ID]: id,
        [ATTR.OPERATION_TYPE]: op.operation_type,
        [ATTR.PRIORITY]: op.priority,
      },
    });
    this.queued.set(id, span);
  }

  private endQueued(operationId: string, error?: string): void {
    const span = this.queued.get(operationId);
    if (!span) return;
    this.queued.delete(operationId);
    if (error) span.setAttribute(ATTR.STATUS, error);
    span.end();
  }

  private attributes(op: OperationRecord): Record<string, string | number> {
    const a: Record<string, string | number> = {
      [ATTR.OPERATION_TYPE]: op.operation_type,
      [ATTR.PRIORITY]: op.priority,
    };
    if (op.sweep_id) a['ktrdr.sweep.id'] = op.sweep_id;
    if (op.resume_from) a[ATTR.RESUME_UNIT] = op.resume_from.unit;
    return a;
  }
}
