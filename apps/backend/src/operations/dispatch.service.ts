import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  Optional,
} from '@nestjs/common';
import {
  errorText,
  OperationStatus,
  OperationType,
  WORKER_TYPE_FOR_OPERATION,
  WorkerStatus,
  type WorkerType,
  type WorkerStartRequest,
} from '@ktrdr/contracts';
import { ATTR } from '@ktrdr/telemetry';
import { CLOCK, type Clock } from '../common/clock';
import { PeriodicTask } from '../common/periodic-task';
import { ShutdownState } from '../common/shutdown-state';
import { BACKGROUND_TASKS } from '../common/tokens';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import type { OperationRecord } from '../persistence/operations.repository';
import { WorkerClient, type StartOutcome } from '../workers/worker-client';
import { WorkerRegistry, type WorkerEntry } from '../workers/worker-registry';
import { LifecycleEvents, type OperationEvent, type WorkerEvent } from './lifecycle-events';
import { OperationLifecycle } from './lifecycle.service';
import { OperationTracing } from './operation-tracing';

const WORKER_COMMAND: Record<OperationType, string> = {
  [OperationType.BACKTESTING]: 'pnpm --filter @ktrdr/backtest-worker start',
  [OperationType.TRAINING]: 'pnpm --filter @ktrdr/training-worker start',
};

const OPERATION_TYPES_OF_WORKER = (type: WorkerType): OperationType[] =>
  Object.values(OperationType).filter((t) => WORKER_TYPE_FOR_OPERATION[t].includes(type));

interface PassState {
  running: Promise<void> | null;
  again: boolean;
}

/**
 * The dispatcher of the durable queue (the pending rows of the operations store). It is event-driven:
 * a pass for an operation type runs when work is queued or a worker of that type becomes available
 * (registration, completion, an idle heartbeat, recovery), plus a periodic safety pass; never a busy
 * loop. A pass pairs available workers with the head of the queue, one atomic claim per operation,
 * and sends the start requests concurrently. Only one pass per type runs at a time; a trigger during
 * a pass makes it go round once more.
 */
@Injectable()
export class DispatchService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DispatchService.name);
  private readonly passes = new Map<OperationType, PassState>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly safety: PeriodicTask;
  private readonly onWorker = (e: WorkerEvent): void => {
    if (e.kind === 'removed') return;
    if (e.worker.status !== WorkerStatus.AVAILABLE) return;
    for (const t of OPERATION_TYPES_OF_WORKER(e.worker.worker_type)) void this.trigger(t);
  };
  private readonly onOperation = (e: OperationEvent): void => {
    if (e.kind !== 'queued') return;
    const type = e.operation.operation_type;
    this.queueGeneration.set(type, (this.queueGeneration.get(type) ?? 0) + 1);
    const known = this.knownPending.get(type);
    if (known !== undefined) this.knownPending.set(type, known + 1);
    void this.trigger(type);
  };
  /**
   * Per type whose queue a claim found empty: how many operations were queued since, less those
   * claimed (every move to pending goes through the lifecycle, which says so with a `queued`
   * event). At 0 a pass — a worker that registers, heartbeats idle or finishes, or the pass that
   * has just sent the only queued operation — costs no claim statement. Absent: not known (a claim
   * is needed). The safety pass forgets it all (operations another backend process queued on a
   * shared PostgreSQL emit no event here).
   */
  private readonly knownPending = new Map<OperationType, number>();
  private readonly queueGeneration = new Map<OperationType, number>();
  private stopped = false;

  constructor(
    private readonly registry: WorkerRegistry,
    private readonly client: WorkerClient,
    private readonly lifecycle: OperationLifecycle,
    private readonly events: LifecycleEvents,
    private readonly metrics: MetricsService,
    private readonly shutdown: ShutdownState,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) clock: Clock,
    @Inject(BACKGROUND_TASKS) private readonly backgroundTasks: boolean,
    @Optional() private readonly tracing?: OperationTracing,
  ) {
    this.safety = new PeriodicTask(
      'dispatch safety pass',
      settings.operations.dispatch_interval_seconds * 1000,
      () => {
        this.knownPending.clear();
        return this.dispatchAll();
      },
      clock,
      this.logger,
    );
  }

  onApplicationBootstrap(): void {
    this.events.on('worker', this.onWorker);
    this.events.on('operation', this.onOperation);
    if (this.backgroundTasks) {
      this.safety.start();
      void this.dispatchAll();
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.events.off('worker', this.onWorker);
    this.events.off('operation', this.onOperation);
    await this.safety.stop();
    await this.settle();
  }

  /** True while this process is handing the operation to a worker (the orphan detector waits). */
  isDispatching(operationId: string): boolean {
    return this.inFlight.has(operationId);
  }

  /** Runs the periodic safety pass now: forgets what it knows of the queues, then a pass per type. */
  safetyPass(): Promise<void> {
    return this.safety.runOnce();
  }

  /** Runs a pass for every operation type (and waits for it). */
  async dispatchAll(): Promise<void> {
    await Promise.all(Object.values(OperationType).map((t) => this.trigger(t)));
  }

  /**
   * Asks for a pass over the queue of `type`. Returns when the pass (and any re-run it triggered)
   * is over; the start requests it sent may still be in flight (see settle()).
   */
  trigger(type: OperationType): Promise<void> {
    let state = this.passes.get(type);
    if (!state) {
      state = { running: null, again: false };
      this.passes.set(type, state);
    }
    if (state.running) {
      state.again = true;
      return state.running;
    }
    const s = state;
    s.running = (async () => {
      try {
        do {
          s.again = false;
          await this.pass(type);
        } while (s.again && !this.stopped);
      } catch (err) {
        this.logger.error(`Dispatch pass for ${type} failed: ${errorText(err)}`);
      } finally {
        s.running = null;
      }
    })();
    return s.running;
  }

  /** Waits until no pass runs and no start request is in flight (tests, shutdown). */
  async settle(): Promise<void> {
    for (;;) {
      const pending = [
        ...[...this.passes.values()].map((p) => p.running).filter((p) => p !== null),
        ...this.inFlight.values(),
      ];
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  private async pass(type: OperationType): Promise<void> {
    const types = WORKER_TYPE_FOR_OPERATION[type];
    const preferGpu = type === OperationType.TRAINING;
    while (!this.stopped && !this.shutdown.isShuttingDown) {
      if (this.knownPending.get(type) === 0) return;
      const generation = this.queueGeneration.get(type) ?? 0;
      const lookedAt = Date.now();
      const worker = this.registry.peekAvailable(types, { preferGpu });
      if (!worker) return;
      // What the selection saw (for its span), taken before anything can change it.
      const candidates = this.tracing
        ? this.registry
            .all()
            .filter((w) => w.status === WorkerStatus.AVAILABLE && types.includes(w.worker_type))
        : [];
      const lease = randomUUID();
      const op = await this.lifecycle.claim(type, worker.worker_id, lease);
      if (!op) {
        // The queue of this type is empty, unless something was queued while the claim ran.
        if ((this.queueGeneration.get(type) ?? 0) === generation) this.knownPending.set(type, 0);
        else this.knownPending.delete(type);
        return;
      }
      const known = this.knownPending.get(type);
      if (known !== undefined) this.knownPending.set(type, Math.max(0, known - 1));
      this.tracing?.selection(
        op,
        worker,
        candidates,
        preferGpu && worker.capabilities.gpu === true ? 'gpu_first' : 'least_recently_selected',
        lookedAt,
      );
      if (!this.registry.reserve(worker.worker_id, op.operation_id)) {
        // The worker went away or got busy while we claimed: the operation keeps its place.
        await this.lifecycle.requeue(op, 'dispatch_failed', {
          resumeFrom: op.resume_from,
          countAttempt: false,
          message: `Last dispatch: worker ${worker.worker_id} went away or got busy before it was sent`,
        });
        continue;
      }
      // The entry is removed only while it is still this send's: a refused start requeues the
      // operation at once and the next pass may send it again before this promise settles.
      const send: Promise<void> = this.send(op, worker).finally(() => {
        if (this.inFlight.get(op.operation_id) === send) this.inFlight.delete(op.operation_id);
      });
      this.inFlight.set(op.operation_id, send);
    }
  }

  /**
   * Sends the start request of a claimed operation and applies the worker's answer, in the
   * `ktrdr.operation.dispatch` span of the operation's attempt (the request carries its trace).
   */
  private send(op: OperationRecord, worker: WorkerEntry): Promise<void> {
    if (!this.tracing) return this.sendNow(op, worker);
    return this.tracing.dispatch(op, worker, (span) => this.sendNow(op, worker, span));
  }

  private async sendNow<T extends OperationType>(
    op: OperationRecord<T>,
    worker: WorkerEntry,
    span?: { setAttribute(k: string, v: string): unknown },
  ): Promise<void> {
    const type = op.operation_type;
    const endTimer = this.metrics.dispatchDuration.startTimer({ operation_type: type });
    // A claimed operation always holds a lease (the claim sets it in the same UPDATE).
    const leaseToken = op.lease_token;
    if (leaseToken === null) {
      this.logger.error(`Not dispatching ${op.operation_id}: it was claimed without a lease token`);
      return;
    }
    const body: WorkerStartRequest<T> = {
      operation_id: op.operation_id,
      lease_token: leaseToken,
      attempt: op.attempt,
      resume_from: op.resume_from ?? null,
      params: op.params,
    };
    let outcome: StartOutcome;
    try {
      outcome = await this.client.startOperation(
        worker.endpoint_url,
        type,
        body,
        this.settings.worker.dispatch_timeout * 1000,
      );
    } catch (err) {
      outcome = { ok: false, kind: 'unreachable', detail: errorText(err) };
    }
    this.metrics.dispatchTry(type, outcome.ok ? 'accepted' : outcome.kind);
    span?.setAttribute(ATTR.DISPATCH_OUTCOME, outcome.ok ? 'accepted' : outcome.kind);
    if (!outcome.ok) span?.setAttribute(ATTR.ERROR_MESSAGE, outcome.detail.slice(0, 500));
    try {
      if (outcome.ok) {
        endTimer({ outcome: 'dispatched' });
        const running = await this.lifecycle.markRunning(op);
        this.logger.log(
          `Dispatched ${op.operation_id} (attempt ${op.attempt}${op.resume_from ? `, resuming from its ${op.resume_from.type} checkpoint at ${op.resume_from.unit}` : ''}) to ${worker.worker_id}` +
            (running ? '' : ' (it changed meanwhile)'),
        );
        return;
      }
      endTimer({ outcome: outcome.kind });
      await this.refused(op, worker, outcome);
    } catch (err) {
      this.logger.error(
        `Applying the dispatch answer for ${op.operation_id} failed: ${errorText(err)}`,
      );
    }
  }

  private async refused(
    op: OperationRecord,
    worker: WorkerEntry,
    outcome: Extract<StartOutcome, { ok: false }>,
  ): Promise<void> {
    const what = `Worker ${worker.worker_id} did not take ${op.operation_id} (${outcome.kind}: ${outcome.detail})`;
    if (outcome.kind === 'unreachable') {
      // Not chosen again until it shows life.
      this.registry.markUnreachable(worker.worker_id, op.operation_id);
    } else {
      this.registry.release(worker.worker_id, op.operation_id);
      if (outcome.kind === 'busy') {
        // It runs something we do not know about; its next heartbeat says what.
        this.registry.markBusy(worker.worker_id);
      }
    }
    if (outcome.kind === 'invalid') {
      // The worker refuses the request itself: another worker of the same build would too.
      await this.lifecycle.transition(op, OperationStatus.FAILED, {
        error_message: `Refused by worker ${worker.worker_id}: ${outcome.detail}`,
      });
      return;
    }
    const budgetLeft = op.attempt - op.attempt_base < this.settings.operations.max_attempts;
    if (outcome.kind === 'rejected' && !budgetLeft) {
      await this.lifecycle.transition(op, OperationStatus.FAILED, {
        error_message: `Dispatch failed: ${what}; no attempts left`,
      });
      return;
    }
    this.logger.warn(`${what}; it goes back to the queue`);
    // busy/unreachable cost no attempt; another error does (it may be the operation's fault).
    await this.lifecycle.requeue(op, 'dispatch_failed', {
      resumeFrom: op.resume_from,
      countAttempt: outcome.kind === 'rejected',
      message: `Last dispatch: ${what}`,
    });
  }

  /** Why a pending operation waits, for the API (`position` is its 1-based place in its queue). */
  describeWait(type: OperationType, position: number): string {
    const ahead = position - 1;
    const types = WORKER_TYPE_FOR_OPERATION[type];
    const workers = this.registry.list().filter((w) => types.includes(w.worker_type));
    const head = ahead === 0 ? 'next in line' : `${ahead} ahead of it`;
    if (workers.length === 0) {
      return `${head}; no ${type} worker registered yet — start one with \`${WORKER_COMMAND[type]}\` (or \`docker compose up -d\`); it registers itself with this backend`;
    }
    const available = workers.filter(
      (w) => w.status === WorkerStatus.AVAILABLE && !w.draining,
    ).length;
    const busy = workers.filter((w) => w.status === WorkerStatus.BUSY).length;
    const down = workers.filter((w) => w.status === WorkerStatus.TEMPORARILY_UNAVAILABLE).length;
    // Drained for a deploy: they finish what they run and take nothing new until they re-register.
    const draining = workers.filter((w) => w.draining).length;
    if (this.shutdown.isShuttingDown) return `${head}; the backend is shutting down`;
    if (available > 0) return `${head}; dispatching to a free ${type} worker`;
    const parts = [];
    if (busy > 0) parts.push(`${busy} ${type} worker${busy === 1 ? '' : 's'} busy`);
    if (down > 0) parts.push(`${down} temporarily unavailable`);
    if (draining > 0) parts.push(`${draining} draining`);
    return `${head}; ${parts.join(', ')}`;
  }
}
