import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { OperationStatus, WorkerStatus } from '@ktrdr/contracts';
import { CLOCK, type Clock } from '../common/clock';
import { PeriodicTask, TIMERS, type Timers } from '../common/periodic-task';
import { BACKGROUND_TASKS } from '../common/tokens';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import {
  OPERATIONS_REPOSITORY,
  type OperationRecord,
  type OperationsRepository,
} from '../persistence/operations.repository';
import { WorkerRegistry } from '../workers/worker-registry';
import { DispatchService } from './dispatch.service';
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
  redispatched: number;
  failed: number;
  /** `running`/`pending` operations found at start-up (left from before a restart). */
  reconciled_at_startup: number;
}

export type OrphanAction =
  | { operation_id: string; action: 'redispatched'; worker_id: string }
  | { operation_id: string; action: 'failed'; reason: string };

/**
 * Rule 6: an operation `running` on a worker that no longer claims it (removed, re-registered with
 * another current operation, or silent) for `timeout_seconds` is re-dispatched once from its last
 * checkpoint when it has one and `attempt` < max attempts; otherwise it fails with a reason.
 * On start-up every `running`/`pending` operation starts unclaimed, so the same rule reconciles them.
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
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(TIMERS) timers: Timers,
    @Inject(BACKGROUND_TASKS) private readonly backgroundTasks: boolean,
  ) {
    this.task = new PeriodicTask(
      'orphan check',
      settings.orphan.check_interval_seconds * 1000,
      async () => {
        await this.check();
      },
      timers,
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

  /** Starts the clock for every operation left `running`/`pending` from before a restart. */
  async reconcileAtStartup(): Promise<number> {
    try {
      const ops = await this.repo.findByStatus([OperationStatus.RUNNING, OperationStatus.PENDING]);
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
      this.stats.last_error = err instanceof Error ? err.message : String(err);
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
      const ops = await this.repo.findByStatus([OperationStatus.RUNNING, OperationStatus.PENDING]);
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
      this.stats.last_error = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      this.stats.checks += 1;
      this.stats.last_check_at = this.clock.now();
    }
    return actions;
  }

  private async handleOrphan(op: OperationRecord, why: string): Promise<OrphanAction> {
    const maxAttempts = this.settings.operations.max_attempts;
    if (op.checkpoint && op.attempt < maxAttempts) {
      const result = await this.dispatcher.dispatch(op, {
        expectStatus: [op.status],
        resumeFrom: op.checkpoint,
      });
      if (result.ok) {
        this.stats.redispatched += 1;
        this.logger.warn(
          `Operation ${op.operation_id} was orphaned (${why}); re-dispatched to ${result.worker_id} from its ${op.checkpoint.type} checkpoint (attempt ${result.operation.attempt})`,
        );
        return {
          operation_id: op.operation_id,
          action: 'redispatched',
          worker_id: result.worker_id,
        };
      }
      if (result.reason === 'conflict') {
        return { operation_id: op.operation_id, action: 'failed', reason: 'changed meanwhile' };
      }
      const reason = `Worker lost: ${why}; re-dispatch from checkpoint failed: ${this.dispatcher.describeFailure(op.operation_type, result.tries)} Resume it later with POST /api/v1/operations/${op.operation_id}/resume.`;
      await this.operations.failLost(result.operation, reason);
      this.stats.failed += 1;
      this.logger.warn(`Operation ${op.operation_id} failed: ${reason}`);
      return { operation_id: op.operation_id, action: 'failed', reason };
    }
    if (!op.worker_id) {
      // Left `pending` by a backend that stopped while dispatching it.
      const reason = `Not dispatched: no worker took it (${why}; the backend probably restarted while dispatching it)`;
      if (await this.operations.failLost(op, reason)) this.stats.failed += 1;
      return { operation_id: op.operation_id, action: 'failed', reason };
    }
    const detail = !op.checkpoint
      ? 'no checkpoint to resume from'
      : `attempt ${op.attempt} of at most ${maxAttempts}`;
    const reason = `Worker lost: ${why} (${detail})`;
    if (await this.operations.failLost(op, reason)) {
      this.stats.failed += 1;
      this.logger.warn(`Operation ${op.operation_id} failed: ${reason}`);
    }
    return { operation_id: op.operation_id, action: 'failed', reason };
  }
}
