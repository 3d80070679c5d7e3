import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import {
  ASSIGNED_OPERATION_STATUSES,
  AttemptOutcome,
  OperationStatus,
  TERMINAL_OPERATION_STATUSES,
  isAllowedTransition,
  type CheckpointInfoDto,
  type OperationAttemptDto,
  type OperationProgressDto,
  type OperationType,
} from '@ktrdr/contracts';
import { CLOCK, type Clock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import {
  OPERATIONS_REPOSITORY,
  type EnqueuedOperation,
  type NewOperation,
  type OperationPatch,
  type OperationRecord,
  type OperationsRepository,
  type SweepRecord,
  type UpdateExpectation,
} from '../persistence/operations.repository';
import { ActiveOperations } from './active-operations';
import { LifecycleEvents, type OperationEventKind } from './lifecycle-events';
import { OperationTracing } from './operation-tracing';

/** A status change the lifecycle does not allow (a programming error, never a client's). */
export class IllegalTransitionError extends Error {
  constructor(
    readonly operationId: string,
    readonly from: OperationStatus,
    readonly to: OperationStatus,
  ) {
    super(`Operation ${operationId}: ${from} → ${to} is not an allowed transition`);
    this.name = 'IllegalTransitionError';
  }
}

/** Why an operation goes back to the queue (also the label of ktrdr_operations_requeued_total). */
export type RequeueReason = 'dispatch_failed' | 'worker_lost' | 'worker_shutdown' | 'resumed';

const EVENT_OF: Record<OperationStatus, OperationEventKind> = {
  [OperationStatus.PENDING]: 'queued',
  [OperationStatus.DISPATCHED]: 'dispatched',
  [OperationStatus.RUNNING]: 'running',
  [OperationStatus.COMPLETED]: 'completed',
  [OperationStatus.FAILED]: 'failed',
  [OperationStatus.CANCELLED]: 'cancelled',
};

const FINAL = new Set<OperationStatus>(TERMINAL_OPERATION_STATUSES);

/** How the current attempt ends when the operation moves to a status (unless the caller says). */
const OUTCOME_OF: Partial<Record<OperationStatus, AttemptOutcome>> = {
  [OperationStatus.PENDING]: AttemptOutcome.REQUEUED,
  [OperationStatus.COMPLETED]: AttemptOutcome.COMPLETED,
  [OperationStatus.FAILED]: AttemptOutcome.FAILED,
  [OperationStatus.CANCELLED]: AttemptOutcome.CANCELLED,
};

/**
 * The attempt history once `op` moves to `to`: its open attempt (the one claimNext appended for
 * this dispatch) starts when it runs and ends with an outcome and reason otherwise. Undefined when
 * there is nothing to record: only an operation that holds a lease has an open attempt, and the
 * compare-and-set on that lease makes `op.attempts` the stored history.
 */
export function attemptsAfter(
  op: OperationRecord,
  to: OperationStatus,
  at: Date,
  reason: string | null,
  outcome?: AttemptOutcome,
): OperationAttemptDto[] | undefined {
  if (!ASSIGNED_OPERATION_STATUSES.includes(op.status) || op.lease_token === null) return undefined;
  const last = op.attempts[op.attempts.length - 1];
  if (!last || last.ended_at !== null || last.worker_id !== op.worker_id) return undefined;
  const iso = at.toISOString();
  let next: OperationAttemptDto;
  if (to === OperationStatus.RUNNING) {
    if (last.started_at !== null) return undefined;
    next = { ...last, started_at: iso };
  } else {
    const ending = outcome ?? OUTCOME_OF[to];
    if (!ending) return undefined;
    next = { ...last, ended_at: iso, outcome: ending, reason };
  }
  return [...op.attempts.slice(0, -1), next];
}

/**
 * The one owner of operation state: every write of an operation's status (and of its progress) goes
 * through here. Each change is a compare-and-set on the current status (and lease), checked against
 * the transition table of the contracts (OPERATION_TRANSITIONS), counted in the metrics and announced
 * on LifecycleEvents. A null answer means the operation changed meanwhile (somebody else won).
 */
@Injectable()
export class OperationLifecycle {
  private readonly logger = new Logger(OperationLifecycle.name);
  /** What this process last wrote of each active operation (see ActiveOperations). */
  private readonly active = new ActiveOperations();

  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly repo: OperationsRepository,
    private readonly events: LifecycleEvents,
    private readonly metrics: MetricsService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() private readonly tracing?: OperationTracing,
  ) {}

  now(): Date {
    return new Date(this.clock.now());
  }

  /**
   * The operation a worker holding `lease` reports on, as it is now: after any write of it that
   * is in flight here, from what this process last wrote when that is under the same lease (the
   * next write checks it against the store), else read from the store. Null when it does not exist.
   */
  async current(operationId: string, lease: string | null): Promise<OperationRecord | null> {
    await this.active.settled(operationId);
    const known = lease === null ? undefined : this.active.get(operationId, lease);
    if (known) return known;
    const op = await this.repo.get(operationId);
    if (op) this.active.remember(op);
    return op;
  }

  /**
   * The compare-and-set of a write made from `op`: its status and lease and, when `op` is the
   * version this process remembers, its updated_at (nobody else wrote it since).
   */
  private expectation(op: OperationRecord): UpdateExpectation {
    return {
      status: [op.status],
      lease_token: op.lease_token,
      ...(this.active.isCurrent(op) ? { updated_at: op.updated_at } : {}),
    };
  }

  /** A write of `op`, tracked (see ActiveOperations.track). */
  private write(op: OperationRecord, patch: OperationPatch): Promise<OperationRecord | null> {
    return this.active.track(
      op.operation_id,
      this.repo.update(op.operation_id, patch, this.expectation(op)),
    );
  }

  /** A new pending operation; null when `maxPending` operations are queued already. */
  async enqueue(op: NewOperation, maxPending: number): Promise<EnqueuedOperation | null> {
    const created = await this.repo.enqueue(op, maxPending);
    if (created) this.announceCreated(created.record);
    return created;
  }

  /** A sweep's children, queued together; null when the queue cannot take them all. */
  async enqueueSweep(
    sweep: SweepRecord,
    children: NewOperation[],
    maxPending: number,
  ): Promise<OperationRecord[] | null> {
    const created = await this.repo.createSweep(sweep, children, maxPending);
    for (const op of created ?? []) this.announceCreated(op);
    return created;
  }

  private announceCreated(op: OperationRecord): void {
    this.metrics.recordStatus(op.operation_type, OperationStatus.PENDING);
    this.events.operation('created', op);
    this.events.operation('queued', op);
  }

  /** Claims the head of the queue of `type` for a worker (pending → dispatched, attempt + 1). */
  async claim(
    type: OperationType,
    workerId: string,
    lease: string,
  ): Promise<OperationRecord | null> {
    const at = this.now();
    const op = await this.repo.claimNext(type, { worker_id: workerId, lease_token: lease, at });
    if (!op) return null;
    this.active.remember(op);
    this.metrics.queueWait.observe(
      { operation_type: type },
      Math.max(0, (at.getTime() - op.queued_at.getTime()) / 1000),
    );
    this.metrics.recordStatus(type, OperationStatus.DISPATCHED);
    this.events.operation('dispatched', op);
    return op;
  }

  /**
   * Moves `op` to `to` if it is still in `op.status` under `op.lease_token` (compare-and-set; see
   * expectation()).
   * Throws IllegalTransitionError for a change the lifecycle does not allow.
   */
  async transition(
    op: OperationRecord,
    to: OperationStatus,
    patch: OperationPatch = {},
    options: {
      /** How the current attempt ended, when not what `to` says (e.g. `orphaned`). */
      attemptOutcome?: AttemptOutcome;
    } = {},
  ): Promise<OperationRecord | null> {
    if (!isAllowedTransition(op.status, to)) {
      throw new IllegalTransitionError(op.operation_id, op.status, to);
    }
    const at = this.now();
    const full: OperationPatch = { ...patch, status: to };
    if (FINAL.has(to)) full.completed_at ??= at;
    full.attempts = attemptsAfter(op, to, at, patch.error_message ?? null, options.attemptOutcome);
    const updated = await this.write(op, full);
    if (!updated) return null;
    this.metrics.recordStatus(
      op.operation_type,
      to,
      FINAL.has(to) ? (updated.started_at ?? updated.created_at) : null,
      FINAL.has(to) ? (updated.completed_at ?? at) : null,
    );
    this.events.operation(EVENT_OF[to], updated);
    if (to === OperationStatus.FAILED) {
      this.logger.warn(`Operation ${op.operation_id} failed: ${updated.error_message ?? ''}`);
    }
    return updated;
  }

  /** The worker accepted the dispatch (dispatched → running). */
  markRunning(op: OperationRecord): Promise<OperationRecord | null> {
    return this.transition(op, OperationStatus.RUNNING);
  }

  /**
   * Back to the queue (dispatched/running/failed/cancelled → pending), keeping its place (queued_at),
   * without worker or lease, resuming from `resumeFrom` (null: from the start). A dispatch that no
   * worker accepted gives its attempt back (`countAttempt: false`).
   */
  async requeue(
    op: OperationRecord,
    reason: RequeueReason,
    options: {
      resumeFrom: CheckpointInfoDto | null;
      countAttempt: boolean;
      message?: string;
      /** A checkpoint reported with the interruption (kept as the operation's latest). */
      checkpoint?: CheckpointInfoDto | null;
    },
  ): Promise<OperationRecord | null> {
    const patch: OperationPatch = {
      checkpoint: options.checkpoint ?? undefined,
      worker_id: null,
      lease_token: null,
      resume_from: options.resumeFrom,
      completed_at: null,
      error_message: options.message ?? null,
    };
    if (!options.countAttempt) patch.attempt = Math.max(0, op.attempt - 1);
    if (reason === 'resumed') {
      patch.attempt_base = op.attempt;
      patch.queued_at = this.now();
    }
    // The trace: a requeue that costs an attempt starts the next attempt's trace.
    this.tracing?.noteRequeue(op.operation_id, reason, options.countAttempt);
    const updated = await this.transition(op, OperationStatus.PENDING, patch, {
      attemptOutcome: reason === 'worker_lost' ? AttemptOutcome.ORPHANED : AttemptOutcome.REQUEUED,
    });
    if (updated) this.metrics.requeues.inc({ operation_type: op.operation_type, reason });
    return updated;
  }

  /**
   * Progress (and checkpoint metadata) of the attempt holding `lease`. A dispatched operation whose
   * worker reports progress is running. Null when the lease is stale or the operation is not active.
   */
  async recordProgress(
    op: OperationRecord,
    progress: OperationProgressDto | undefined,
    checkpoint: CheckpointInfoDto | undefined,
  ): Promise<OperationRecord | null> {
    const patch: OperationPatch = {};
    if (progress) patch.progress = { ...progress };
    if (checkpoint) patch.checkpoint = { ...checkpoint };
    if (op.status === OperationStatus.DISPATCHED) {
      return this.transition(op, OperationStatus.RUNNING, patch);
    }
    if (op.status !== OperationStatus.RUNNING) return null;
    if (Object.keys(patch).length === 0) return op;
    const updated = await this.write(op, patch);
    if (updated && progress) this.events.operation('progress', updated);
    return updated;
  }

  /** A newer checkpoint for an operation that has already finished (no status change). */
  async attachCheckpoint(op: OperationRecord, checkpoint: CheckpointInfoDto): Promise<void> {
    await this.write(op, { checkpoint: { ...checkpoint } });
  }
}
