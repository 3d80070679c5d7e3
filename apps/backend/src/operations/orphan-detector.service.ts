import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  Optional,
} from '@nestjs/common';
import {
  ASSIGNED_OPERATION_STATUSES,
  AttemptOutcome,
  errorText,
  OperationStatus,
  WorkerStatus,
} from '@ktrdr/contracts';
import { CLOCK, type Clock } from '../common/clock';
import { PeriodicTask } from '../common/periodic-task';
import { BACKGROUND_TASKS } from '../common/tokens';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import {
  OPERATIONS_REPOSITORY,
  type OperationRecord,
  type OperationsRepository,
} from '../persistence/operations.repository';
import { WorkerRegistry } from '../workers/worker-registry';
import { DispatchService } from './dispatch.service';
import { OperationLifecycle } from './lifecycle.service';
import { OperationsService } from './operations.service';

export interface OrphanDetectorStatus {
  running: boolean;
  timeout_seconds: number;
  check_interval_seconds: number;
  last_check_at: string | null;
  last_error: string | null;
  checks: number;
  /** Operations currently unclaimed by any worker (waiting for the timeout). */
  unclaimed: number;
  /** Orphans put back in the queue. */
  redispatched: number;
  failed: number;
  /** `dispatched`/`running` operations found at start-up (left from before a restart). */
  reconciled_at_startup: number;
}

export type OrphanAction =
  | { operation_id: string; action: 'requeued'; from_checkpoint: boolean }
  | { operation_id: string; action: 'failed'; reason: string };

/**
 * Rule 6: an operation `dispatched` or `running` on a worker that no longer claims it (removed,
 * re-registered with another current operation, or silent) for `timeout_seconds` goes back to the
 * queue while attempts remain — from its last checkpoint when it has one, otherwise from the start —
 * and fails with a reason that says the worker was lost when none remain. On start-up every assigned
 * operation starts unclaimed, so the same rule reconciles them. Pending operations are the queue.
 */
@Injectable()
export class OrphanDetectorService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(OrphanDetectorService.name);
  private readonly task: PeriodicTask;
  private readonly unclaimedSince = new Map<string, number>();
  private readonly stats = {
    checks: 0,
    redispatched: 0,
    failed: 0,
    reconciled_at_startup: 0,
    last_check_at: null as number | null,
    last_error: null as string | null,
  };

  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly repo: OperationsRepository,
    private readonly registry: WorkerRegistry,
    private readonly dispatcher: DispatchService,
    private readonly operations: OperationsService,
    private readonly lifecycle: OperationLifecycle,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(BACKGROUND_TASKS) private readonly backgroundTasks: boolean,
    @Optional() private readonly metrics?: MetricsService,
  ) {
    this.task = new PeriodicTask(
      'orphan check',
      settings.orphan.check_interval_seconds * 1000,
      async () => {
        await this.check();
      },
      clock,
      this.logger,
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.reconcileAtStartup();
    if (this.backgroundTasks) this.task.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.task.stop();
  }

  /** Starts the clock for every operation left `dispatched`/`running` from before a restart. */
  async reconcileAtStartup(): Promise<number> {
    try {
      const ops = await this.repo.findByStatus(ASSIGNED_OPERATION_STATUSES);
      const now = this.clock.now();
      for (const op of ops) {
        if (!this.unclaimedSince.has(op.operation_id))
          this.unclaimedSince.set(op.operation_id, now);
      }
      this.stats.reconciled_at_startup = ops.length;
      if (ops.length > 0) {
        this.logger.log(
          `${ops.length} operation(s) were active before start-up; workers have ${this.settings.orphan.timeout_seconds} s to claim them`,
        );
      }
      return ops.length;
    } catch (err) {
      this.stats.last_error = errorText(err);
      this.logger.error(`Start-up reconcile failed: ${this.stats.last_error}`);
      return 0;
    }
  }

  status(): OrphanDetectorStatus {
    return {
      running: this.task.isRunning,
      timeout_seconds: this.settings.orphan.timeout_seconds,
      check_interval_seconds: this.settings.orphan.check_interval_seconds,
      last_check_at:
        this.stats.last_check_at === null ? null : new Date(this.stats.last_check_at).toISOString(),
      last_error: this.stats.last_error,
      checks: this.stats.checks,
      unclaimed: this.unclaimedSince.size,
      redispatched: this.stats.redispatched,
      failed: this.stats.failed,
      reconciled_at_startup: this.stats.reconciled_at_startup,
    };
  }

  /** Why the operation's worker does not claim it, or null when it does. */
  whyUnclaimed(op: OperationRecord): string | null {
    if (!op.worker_id) return 'it has no worker';
    const w = this.registry.get(op.worker_id);
    if (!w) return `worker ${op.worker_id} is not registered`;
    if (w.status === WorkerStatus.TEMPORARILY_UNAVAILABLE) {
      return `worker ${op.worker_id} is not answering health checks`;
    }
    if (w.current_operation_id !== op.operation_id) {
      return w.current_operation_id
        ? `worker ${op.worker_id} runs ${w.current_operation_id} instead`
        : `worker ${op.worker_id} no longer runs it`;
    }
    return null;
  }

  /** One pass; returns what it did. */
  async check(): Promise<OrphanAction[]> {
    const actions: OrphanAction[] = [];
    try {
      const now = this.clock.now();
      const timeoutMs = this.settings.orphan.timeout_seconds * 1000;
      const ops = await this.repo.findByStatus(ASSIGNED_OPERATION_STATUSES);
      const seen = new Set<string>();
      for (const op of ops) {
        seen.add(op.operation_id);
        if (this.dispatcher.isDispatching(op.operation_id)) {
          this.unclaimedSince.delete(op.operation_id);
          continue;
        }
        const why = this.whyUnclaimed(op);
        if (why === null) {
          this.unclaimedSince.delete(op.operation_id);
          continue;
        }
        const since = this.unclaimedSince.get(op.operation_id) ?? now;
        this.unclaimedSince.set(op.operation_id, since);
        if (now - since < timeoutMs) continue;
        this.unclaimedSince.delete(op.operation_id);
        const silentFor = Math.round((now - since) / 1000);
        actions.push(await this.handleOrphan(op, `${why} for ${silentFor} s`));
      }
      for (const id of [...this.unclaimedSince.keys()]) {
        if (!seen.has(id)) this.unclaimedSince.delete(id);
      }
      this.stats.last_error = null;
    } catch (err) {
      this.stats.last_error = errorText(err);
      throw err;
    } finally {
      this.stats.checks += 1;
      this.stats.last_check_at = this.clock.now();
    }
    return actions;
  }

  private async handleOrphan(op: OperationRecord, why: string): Promise<OrphanAction> {
    const maxAttempts = this.settings.operations.max_attempts;
    const released = (): void => {
      if (op.worker_id) this.registry.release(op.worker_id, op.operation_id);
    };
    if (this.operations.hasAttemptsLeft(op)) {
      const from = op.checkpoint
        ? `from its ${op.checkpoint.type} checkpoint at ${op.checkpoint.unit}`
        : 'from the start (no checkpoint yet)';
      const queued = await this.lifecycle.requeue(op, 'worker_lost', {
        resumeFrom: op.checkpoint ?? null,
        countAttempt: true,
        message: `Worker lost (${why}); queued again ${from}`,
      });
      if (!queued) {
        return { operation_id: op.operation_id, action: 'failed', reason: 'changed meanwhile' };
      }
      released();
      this.stats.redispatched += 1;
      this.metrics?.orphanDetected(op.operation_type, 'redispatched');
      this.logger.warn(
        `Operation ${op.operation_id} was orphaned (${why}); queued again ${from} (attempt ${op.attempt} of at most ${maxAttempts} done)`,
      );
      return {
        operation_id: op.operation_id,
        action: 'requeued',
        from_checkpoint: !!op.checkpoint,
      };
    }
    const reason = `Worker lost: ${why} (attempt ${op.attempt - op.attempt_base} of at most ${maxAttempts}; no attempts left). Resume it with POST /api/v1/operations/${op.operation_id}/resume.`;
    const failed = await this.lifecycle.transition(
      op,
      OperationStatus.FAILED,
      { error_message: reason },
      { attemptOutcome: AttemptOutcome.ORPHANED },
    );
    if (failed) {
      released();
      this.stats.failed += 1;
      this.metrics?.orphanDetected(op.operation_type, 'failed');
    }
    return { operation_id: op.operation_id, action: 'failed', reason };
  }
}
