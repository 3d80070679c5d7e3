import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import {
  ACTIVE_OPERATION_STATUSES,
  CheckpointType,
  CompletionStatus,
  OperationStatus,
  OperationType,
  TERMINAL_OPERATION_STATUSES,
  type CancelOperationResponseDto,
  type CompleteOperationRequestDto,
  type ListOperationsQueryDto,
  type OperationListResponseDto,
  type OperationResultsResponseDto,
  type ProgressReportDto,
  type ReportAckDto,
  type StartOperationResponseDto,
} from '@ktrdr/contracts';
import { RetryLaterException } from '../common/errors';
import { CLOCK, type Clock } from '../common/clock';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import {
  OPERATIONS_REPOSITORY,
  type OperationPatch,
  type OperationRecord,
  type OperationsRepository,
} from '../persistence/operations.repository';
import { WorkerClient } from '../workers/worker-client';
import { WorkerRegistry } from '../workers/worker-registry';
import { DispatchService } from './dispatch.service';
import { newOperationId, toOperationDto } from './operation-mapper';

const isTerminal = (s: OperationStatus): boolean => TERMINAL_OPERATION_STATUSES.includes(s);

/** Default page size of GET /operations. */
export const DEFAULT_OPERATIONS_LIMIT = 100;

/** The operations use cases: start, query, cancel, resume, and the worker reports. */
@Injectable()
export class OperationsService {
  private readonly logger = new Logger(OperationsService.name);

  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly repo: OperationsRepository,
    private readonly dispatcher: DispatchService,
    private readonly registry: WorkerRegistry,
    private readonly client: WorkerClient,
    private readonly metrics: MetricsService,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  private now(): Date {
    return new Date(this.clock.now());
  }

  async getRecord(operationId: string): Promise<OperationRecord> {
    const op = await this.repo.get(operationId);
    if (!op) throw new NotFoundException(`Operation ${operationId} not found`);
    return op;
  }

  /** Creates a pending operation and dispatches it; 503 with a hint when no worker takes it. */
  async start(type: OperationType, params: object): Promise<StartOperationResponseDto> {
    if (!this.dispatcher.hasAvailableWorker(type)) {
      throw new RetryLaterException(this.dispatcher.noWorkerMessage(type), 5);
    }
    const now = this.now();
    const op = await this.repo.create({
      operation_id: newOperationId(type, now),
      operation_type: type,
      params: JSON.parse(JSON.stringify(params)) as Record<string, unknown>,
      created_at: now,
    });
    this.metrics.recordStatus(type, OperationStatus.PENDING);
    const result = await this.dispatcher.dispatch(op, { expectStatus: [OperationStatus.PENDING] });
    if (result.ok) {
      return {
        success: true,
        operation_id: op.operation_id,
        status: result.operation.status,
        worker_id: result.worker_id,
      };
    }
    if (result.reason === 'conflict') {
      // Changed meanwhile (e.g. cancelled while dispatching): report what it is now.
      return {
        success: true,
        operation_id: op.operation_id,
        status: result.operation.status,
        worker_id: result.operation.worker_id,
      };
    }
    const message = this.dispatcher.describeFailure(type, result.tries);
    const failedAt = this.now();
    const failed = await this.repo.update(
      op.operation_id,
      { status: OperationStatus.FAILED, completed_at: failedAt, error_message: message },
      { status: ACTIVE_OPERATION_STATUSES, lease_token: result.operation.lease_token },
    );
    if (failed)
      this.metrics.recordStatus(type, OperationStatus.FAILED, failed.started_at, failedAt);
    throw new RetryLaterException(`Operation ${op.operation_id} failed to start. ${message}`, 5);
  }

  async list(query: ListOperationsQueryDto): Promise<OperationListResponseDto> {
    const page = await this.repo.list({
      status: query.status ? [query.status] : undefined,
      operation_type: query.operation_type,
      limit: query.limit ?? DEFAULT_OPERATIONS_LIMIT,
      offset: query.offset ?? 0,
    });
    return {
      success: true,
      data: page.data.map(toOperationDto),
      total_count: page.total_count,
      active_count: page.active_count,
    };
  }

  async results(operationId: string): Promise<OperationResultsResponseDto> {
    const op = await this.getRecord(operationId);
    if (op.status !== OperationStatus.COMPLETED) {
      const why =
        op.status === OperationStatus.FAILED || op.status === OperationStatus.CANCELLED
          ? `it is ${op.status}${op.error_message ? `: ${op.error_message}` : ''}`
          : `it is ${op.status}; results are available once it has completed`;
      throw new BadRequestException(`Operation ${operationId} has no results: ${why}`);
    }
    return {
      success: true,
      operation_id: op.operation_id,
      operation_type: op.operation_type,
      result: op.result ?? {},
    };
  }

  /** Marks the operation cancelled, forwards DELETE to its worker at once; heartbeats repeat it. */
  async cancel(operationId: string): Promise<CancelOperationResponseDto> {
    const op = await this.getRecord(operationId);
    if (isTerminal(op.status)) {
      throw new BadRequestException(
        `Operation ${operationId} is already ${op.status}; only pending or running operations can be cancelled`,
      );
    }
    const at = this.now();
    const updated = await this.repo.update(
      operationId,
      { status: OperationStatus.CANCELLED, completed_at: at, error_message: 'Cancelled by user' },
      { status: ACTIVE_OPERATION_STATUSES },
    );
    if (!updated) {
      const latest = await this.getRecord(operationId);
      throw new BadRequestException(
        `Operation ${operationId} is already ${latest.status}; only pending or running operations can be cancelled`,
      );
    }
    this.metrics.recordStatus(op.operation_type, OperationStatus.CANCELLED, op.started_at, at);
    let message = 'Cancelled before it was dispatched';
    const worker = op.worker_id ? this.registry.get(op.worker_id) : undefined;
    if (op.worker_id && !worker) {
      message = `Cancelled; worker ${op.worker_id} is not registered now and will be told when it re-registers`;
    } else if (worker) {
      const fwd = await this.client.cancelOperation(
        worker.endpoint_url,
        operationId,
        this.settings.worker.dispatch_timeout * 1000,
      );
      message = fwd.ok
        ? 'Cancellation requested; the worker stops at the next bar or epoch'
        : `Cancelled; worker ${worker.worker_id} could not be reached now (${fwd.detail}) and is told on its next heartbeat`;
    }
    return { success: true, operation_id: operationId, status: updated.status, message };
  }

  /** Re-dispatches a failed or cancelled operation from its last checkpoint. */
  async resume(operationId: string): Promise<StartOperationResponseDto> {
    const op = await this.getRecord(operationId);
    if (op.status !== OperationStatus.FAILED && op.status !== OperationStatus.CANCELLED) {
      throw new ConflictException(
        `Operation ${operationId} is ${op.status}; only failed or cancelled operations can be resumed`,
      );
    }
    if (!op.checkpoint) {
      throw new NotFoundException(`Operation ${operationId} has no checkpoint to resume from`);
    }
    if (!this.dispatcher.hasAvailableWorker(op.operation_type)) {
      throw new RetryLaterException(this.dispatcher.noWorkerMessage(op.operation_type), 5);
    }
    const result = await this.dispatcher.dispatch(op, {
      expectStatus: [op.status],
      resumeFrom: op.checkpoint,
    });
    if (result.ok) {
      return {
        success: true,
        operation_id: operationId,
        status: result.operation.status,
        worker_id: result.worker_id,
      };
    }
    if (result.reason === 'conflict') {
      throw new ConflictException(
        `Operation ${operationId} changed while resuming (now ${result.operation.status})`,
      );
    }
    await this.restoreAfterRefusedDispatch(op, result.operation);
    throw new RetryLaterException(
      `Operation ${operationId} was not resumed. ${this.dispatcher.describeFailure(op.operation_type, result.tries)}`,
      5,
    );
  }

  private staleLease(op: OperationRecord): ConflictException {
    return new ConflictException(
      `Stale lease for operation ${op.operation_id}: the report belongs to an older dispatch (current attempt ${op.attempt}${op.worker_id ? ` on ${op.worker_id}` : ''})`,
    );
  }

  /** A worker's progress report, fenced by the lease (409 when stale). */
  async progress(operationId: string, report: ProgressReportDto): Promise<ReportAckDto> {
    for (let i = 0; i < 3; i++) {
      const op = await this.getRecord(operationId);
      if (op.lease_token !== report.lease_token) throw this.staleLease(op);
      if (isTerminal(op.status)) return { acknowledged: true, status: op.status };
      const patch: OperationPatch = { progress: { ...report.progress } };
      if (report.checkpoint) patch.checkpoint = { ...report.checkpoint };
      const updated = await this.repo.update(operationId, patch, {
        status: ACTIVE_OPERATION_STATUSES,
        lease_token: report.lease_token,
      });
      if (updated) return { acknowledged: true, status: updated.status };
    }
    throw new ConflictException(`Operation ${operationId} is changing too fast; retry`);
  }

  /**
   * A worker's completion report: applied once, idempotent (a repeat with the same lease is
   * acknowledged without changes), fenced by the lease (409 when stale).
   */
  async complete(operationId: string, report: CompleteOperationRequestDto): Promise<ReportAckDto> {
    for (let i = 0; i < 3; i++) {
      const op = await this.getRecord(operationId);
      if (op.lease_token !== report.lease_token) throw this.staleLease(op);
      if (isTerminal(op.status)) {
        // Already final (a repeat, or cancelled by the user): keep the status, take a newer checkpoint.
        if (report.checkpoint && !sameCheckpoint(op, report)) {
          await this.repo.update(
            operationId,
            { checkpoint: { ...report.checkpoint } },
            { lease_token: report.lease_token },
          );
        }
        this.registry.release(op.worker_id, operationId);
        return { acknowledged: true, status: op.status };
      }
      const at = this.now();
      const status = report.status as unknown as OperationStatus;
      const patch: OperationPatch = {
        status,
        completed_at: at,
        checkpoint: report.checkpoint ? { ...report.checkpoint } : op.checkpoint,
      };
      if (report.status === CompletionStatus.COMPLETED) {
        patch.result = report.result ?? {};
        patch.error_message = null;
        patch.progress = { ...op.progress, percentage: 100 };
      } else {
        patch.result = report.result ?? null;
        patch.error_message =
          report.error_message ??
          (report.status === CompletionStatus.FAILED ? 'Worker reported a failure' : 'Cancelled');
      }
      const updated = await this.repo.update(operationId, patch, {
        status: ACTIVE_OPERATION_STATUSES,
        lease_token: report.lease_token,
      });
      if (updated) {
        this.registry.release(op.worker_id, operationId);
        this.metrics.recordStatus(op.operation_type, status, op.started_at ?? op.created_at, at);
        this.logger.log(
          `Operation ${operationId} ${status} (reported by ${op.worker_id ?? 'worker'})`,
        );
        if (this.interruptedByShutdown(updated)) this.continueAfterShutdown(updated);
        return { acknowledged: true, status: updated.status };
      }
    }
    throw new ConflictException(`Operation ${operationId} is changing too fast; retry`);
  }

  /**
   * A worker stopped on SIGTERM reports its operation `failed` with a `shutdown` checkpoint: that is an
   * interruption, not a failure of the job, so it continues elsewhere while attempts remain.
   */
  private interruptedByShutdown(op: OperationRecord): boolean {
    return (
      op.status === OperationStatus.FAILED &&
      op.checkpoint?.type === CheckpointType.SHUTDOWN &&
      op.attempt < this.settings.operations.max_attempts
    );
  }

  /**
   * Re-dispatches an operation interrupted by a worker shutdown from its checkpoint, in the background
   * (the worker's report is acknowledged first). Without a worker to take it, it stays `failed` and can
   * be resumed by hand.
   */
  private continueAfterShutdown(op: OperationRecord): void {
    this.pendingContinuations.add(op.operation_id);
    void this.dispatcher
      .dispatch(op, { expectStatus: [OperationStatus.FAILED], resumeFrom: op.checkpoint })
      .then(
        async (result) => {
          if (result.ok) {
            this.logger.log(
              `Operation ${op.operation_id} was interrupted by a worker shutdown; continued on ${result.worker_id} from its checkpoint at ${op.checkpoint?.unit} (attempt ${result.operation.attempt})`,
            );
            return;
          }
          if (result.reason === 'conflict') return;
          await this.restoreAfterRefusedDispatch(op, result.operation);
          this.logger.warn(
            `Operation ${op.operation_id} was interrupted by a worker shutdown and could not continue elsewhere (${this.dispatcher.describeFailure(op.operation_type, result.tries)}); resume it with POST /api/v1/operations/${op.operation_id}/resume`,
          );
        },
        (err: unknown) =>
          this.logger.error(
            `Continuing ${op.operation_id} after a worker shutdown failed: ${(err as Error).message}`,
          ),
      )
      .finally(() => this.pendingContinuations.delete(op.operation_id));
  }

  /**
   * A re-dispatch that no worker accepted leaves the operation `running` under a lease nobody holds:
   * put it back as it was before the attempt (status, worker, lease, attempt, error).
   */
  private async restoreAfterRefusedDispatch(
    before: OperationRecord,
    after: OperationRecord,
  ): Promise<void> {
    if (after.status !== OperationStatus.RUNNING) return;
    await this.repo.update(
      before.operation_id,
      {
        status: before.status,
        worker_id: before.worker_id,
        lease_token: before.lease_token,
        attempt: before.attempt,
        completed_at: before.completed_at,
        error_message: before.error_message,
      },
      { status: [OperationStatus.RUNNING], lease_token: after.lease_token },
    );
  }

  /** Operations being re-dispatched after a worker shutdown (tests wait for them to settle). */
  readonly pendingContinuations = new Set<string>();

  /** Fails an operation whose worker was lost (orphan rule); false when it changed meanwhile. */
  async failLost(op: OperationRecord, reason: string): Promise<boolean> {
    const at = this.now();
    const updated = await this.repo.update(
      op.operation_id,
      { status: OperationStatus.FAILED, completed_at: at, error_message: reason },
      { status: ACTIVE_OPERATION_STATUSES, lease_token: op.lease_token },
    );
    if (!updated) return false;
    this.registry.release(op.worker_id, op.operation_id);
    this.metrics.recordStatus(
      op.operation_type,
      OperationStatus.FAILED,
      op.started_at ?? op.created_at,
      at,
    );
    return true;
  }
}

function sameCheckpoint(op: OperationRecord, report: CompleteOperationRequestDto): boolean {
  const a = op.checkpoint;
  const b = report.checkpoint;
  return !!a && !!b && a.type === b.type && a.unit === b.unit && a.created_at === b.created_at;
}
