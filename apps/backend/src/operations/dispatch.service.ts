import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  OperationStatus,
  OperationType,
  WORKER_ROUTES,
  WORKER_TYPE_FOR_OPERATION,
  WorkerStatus,
  type CheckpointInfoDto,
} from '@ktrdr/contracts';
import { CLOCK, type Clock } from '../common/clock';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import {
  OPERATIONS_REPOSITORY,
  type OperationRecord,
  type OperationsRepository,
} from '../persistence/operations.repository';
import { WorkerClient } from '../workers/worker-client';
import { WorkerRegistry } from '../workers/worker-registry';

/** At most this many workers are tried per dispatch (rule 1). */
export const MAX_DISPATCH_TRIES = 3;

export interface DispatchTry {
  worker_id: string;
  kind: 'busy' | 'unreachable' | 'rejected';
  detail: string;
}

export type DispatchResult =
  | { ok: true; operation: OperationRecord; worker_id: string }
  | {
      ok: false;
      /** no_worker: nothing to select; all_rejected: every selected worker refused; conflict: the operation changed meanwhile. */
      reason: 'no_worker' | 'all_rejected' | 'conflict';
      /** The operation as last written (after a failed try it is `running` with that try's lease). */
      operation: OperationRecord;
      tries: DispatchTry[];
    };

const WORKER_COMMAND: Record<OperationType, string> = {
  [OperationType.BACKTESTING]: 'pnpm --filter @ktrdr/backtest-worker start',
  [OperationType.TRAINING]: 'pnpm --filter @ktrdr/training-worker start',
};

/**
 * Selects a worker, gives the operation a fresh lease and attempt, and sends the start request
 * (rules 1 and 2). The selection and the busy mark happen in one synchronous registry call.
 */
@Injectable()
export class DispatchService {
  private readonly logger = new Logger(DispatchService.name);
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly registry: WorkerRegistry,
    private readonly client: WorkerClient,
    @Inject(OPERATIONS_REPOSITORY) private readonly repo: OperationsRepository,
    private readonly metrics: MetricsService,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** True while this process is dispatching the operation (the orphan detector leaves it alone). */
  isDispatching(operationId: string): boolean {
    return this.inFlight.has(operationId);
  }

  hasAvailableWorker(type: OperationType): boolean {
    const types = WORKER_TYPE_FOR_OPERATION[type];
    return this.registry
      .list()
      .some((w) => w.status === WorkerStatus.AVAILABLE && types.includes(w.worker_type));
  }

  /** Why no worker can take an operation of this type, with a hint on how to start one. */
  noWorkerMessage(type: OperationType): string {
    const types = WORKER_TYPE_FOR_OPERATION[type];
    const workers = this.registry.list().filter((w) => types.includes(w.worker_type));
    const busy = workers.filter((w) => w.status === WorkerStatus.BUSY).length;
    const down = workers.filter((w) => w.status === WorkerStatus.TEMPORARILY_UNAVAILABLE).length;
    const counts =
      workers.length === 0
        ? '0 registered'
        : `${workers.length} registered: ${busy} busy, ${down} temporarily unavailable`;
    const hint =
      workers.length === 0
        ? ` Start one with \`${WORKER_COMMAND[type]}\` (or \`docker compose up -d\`); it registers itself with this backend.`
        : ' Retry when a worker is free, or start another worker.';
    return `No available ${type} worker (${counts}).${hint}`;
  }

  async dispatch(
    op: OperationRecord,
    options: { expectStatus: readonly OperationStatus[]; resumeFrom?: CheckpointInfoDto | null },
  ): Promise<DispatchResult> {
    const type = op.operation_type;
    const types = WORKER_TYPE_FOR_OPERATION[type];
    const route =
      type === OperationType.BACKTESTING
        ? WORKER_ROUTES.backtestStart
        : WORKER_ROUTES.trainingStart;
    const attempt = op.attempt + 1;
    const tried = new Set<string>();
    const tries: DispatchTry[] = [];
    let current = op;
    let expectStatus = options.expectStatus;
    const endTimer = this.metrics.dispatchDuration.startTimer({ operation_type: type });
    this.inFlight.add(op.operation_id);
    try {
      for (let i = 0; i < MAX_DISPATCH_TRIES; i++) {
        // Select and mark busy in one synchronous call: no await in between (rule 1).
        const worker = this.registry.selectAndMarkBusy(types, op.operation_id, {
          exclude: tried,
          preferGpu: type === OperationType.TRAINING,
        });
        if (!worker) break;
        tried.add(worker.worker_id);
        const lease = randomUUID();
        // Persist the lease before the worker can report with it.
        const updated = await this.repo.update(
          op.operation_id,
          {
            status: OperationStatus.RUNNING,
            worker_id: worker.worker_id,
            lease_token: lease,
            attempt,
            started_at: current.started_at ?? new Date(this.clock.now()),
            completed_at: null,
            error_message: null,
          },
          { status: expectStatus, lease_token: current.lease_token },
        );
        if (!updated) {
          this.registry.release(worker.worker_id, op.operation_id);
          endTimer({ outcome: 'conflict' });
          const latest = (await this.repo.get(op.operation_id)) ?? current;
          return { ok: false, reason: 'conflict', operation: latest, tries };
        }
        current = updated;
        expectStatus = [OperationStatus.RUNNING];
        const body = {
          ...op.params,
          task_id: op.operation_id,
          lease_token: lease,
          attempt,
          resume_from: options.resumeFrom ?? null,
        };
        const outcome = await this.client.startOperation(
          worker.endpoint_url,
          route,
          body,
          this.settings.worker.dispatch_timeout * 1000,
        );
        if (outcome.ok) {
          endTimer({ outcome: 'dispatched' });
          this.metrics.recordStatus(type, OperationStatus.RUNNING);
          this.logger.log(
            `Dispatched ${op.operation_id} (attempt ${attempt}${options.resumeFrom ? `, resuming from ${options.resumeFrom.type} checkpoint at ${options.resumeFrom.unit}` : ''}) to ${worker.worker_id}`,
          );
          return { ok: true, operation: current, worker_id: worker.worker_id };
        }
        this.registry.release(worker.worker_id, op.operation_id);
        if (outcome.kind === 'busy') {
          // It runs something we do not know about; its next heartbeat says what.
          const w = this.registry.get(worker.worker_id);
          if (w && w.status === WorkerStatus.AVAILABLE) w.status = WorkerStatus.BUSY;
        }
        tries.push({ worker_id: worker.worker_id, kind: outcome.kind, detail: outcome.detail });
        this.logger.warn(
          `Worker ${worker.worker_id} did not take ${op.operation_id} (${outcome.kind}: ${outcome.detail}); trying another`,
        );
      }
      endTimer({ outcome: tries.length > 0 ? 'rejected' : 'no_worker' });
      return {
        ok: false,
        reason: tries.length > 0 ? 'all_rejected' : 'no_worker',
        operation: current,
        tries,
      };
    } finally {
      this.inFlight.delete(op.operation_id);
    }
  }

  /** One line describing why a dispatch failed. */
  describeFailure(type: OperationType, tries: DispatchTry[]): string {
    if (tries.length === 0) return this.noWorkerMessage(type);
    const list = tries.map((t) => `${t.worker_id}: ${t.kind} (${t.detail})`).join('; ');
    return `No ${type} worker accepted the operation after ${tries.length} ${tries.length === 1 ? 'try' : 'tries'} (${list}).`;
  }
}
