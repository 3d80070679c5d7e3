import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import {
  ASSIGNED_OPERATION_STATUSES,
  CheckpointType,
  CompletionStatus,
  OperationStatus,
  OperationType,
  TERMINAL_OPERATION_STATUSES,
  type CancelOperationResponseDto,
  type OperationParams,
  type CompleteOperationRequestDto,
  type HeartbeatRequestDto,
  type ListOperationsQueryDto,
  type OperationDto,
  type OperationListResponseDto,
  type ProgressReportDto,
  type ReportAckDto,
  type StartOperationResponseDto,
} from '@ktrdr/contracts';
import { ATTR, SPAN, withSpan } from '@ktrdr/telemetry';
import { QueueFullException } from '../common/errors';
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
import { OperationLifecycle } from './lifecycle.service';
import { newOperationId, toOperationDto } from './operation-mapper';
import type { OperationReports } from '../workers/operation-reports';

const isTerminal = (s: OperationStatus): boolean => TERMINAL_OPERATION_STATUSES.includes(s);

/** Default page size of GET /operations. */
export const DEFAULT_OPERATIONS_LIMIT = 100;

/** Seconds a client is told to wait when the queue is full. */
export const QUEUE_FULL_RETRY_AFTER_SECONDS = 30;

/**
 * A validated start request without the queue fields: its parameters (what the worker receives)
 * and its priority.
 */
export function splitPriority(body: object): { params: OperationParams; priority: number } {
  const { priority, ...params } = JSON.parse(JSON.stringify(body)) as OperationParams & {
    priority?: unknown;
  };
  return { params, priority: typeof priority === 'number' ? priority : 0 };
}

/**
 * The operations use cases: submit (queue), query, cancel, resume, and the worker's reports. Every
 * status change goes through OperationLifecycle; dispatching is DispatchService's.
 */
@Injectable()
export class OperationsService implements OperationReports {
  private readonly logger = new Logger(OperationsService.name);

  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly repo: OperationsRepository,
    private readonly lifecycle: OperationLifecycle,
    private readonly dispatcher: DispatchService,
    private readonly registry: WorkerRegistry,
    private readonly client: WorkerClient,
    private readonly metrics: MetricsService,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
  ) {}

  async getRecord(operationId: string): Promise<OperationRecord> {
    const op = await this.repo.get(operationId);
    if (!op) throw new NotFoundException(`Operation ${operationId} not found`);
    return op;
  }

  /** The operation a worker's report (under `lease`) applies to (404 when it does not exist). */
  private async reported(operationId: string, lease: string): Promise<OperationRecord> {
    const op = await this.lifecycle.current(operationId, lease);
    if (!op) throw new NotFoundException(`Operation ${operationId} not found`);
    return op;
  }

  queueFull(type: OperationType, adding = 1): QueueFullException {
    this.metrics.rejections.inc({ operation_type: type, reason: 'queue_full' }, adding);
    return new QueueFullException(
      `The queue is full: ${this.settings.operations.max_queued} operations are pending (KTRDR_OPS_MAX_QUEUED)` +
        (adding > 1 ? ` and this request adds ${adding}` : '') +
        `; retry in ${QUEUE_FULL_RETRY_AFTER_SECONDS} s or cancel queued work`,
      QUEUE_FULL_RETRY_AFTER_SECONDS,
    );
  }

  /** Queues a new operation (202): it is dispatched as soon as a worker of its type is free. */
  start(type: OperationType, body: object): Promise<StartOperationResponseDto> {
    // The first attempt's span (OperationTracing, on `created`) is a child of this one.
    return withSpan(SPAN.SUBMIT, { attributes: { [ATTR.OPERATION_TYPE]: type } }, async (span) => {
      const answer = await this.submit(type, body);
      span.setAttribute(ATTR.OPERATION_ID, answer.operation_id);
      if (answer.queue_position !== null) {
        span.setAttribute(ATTR.QUEUE_POSITION, answer.queue_position);
      }
      return answer;
    });
  }

  private async submit(type: OperationType, body: object): Promise<StartOperationResponseDto> {
    const { params, priority } = splitPriority(body);
    const now = this.lifecycle.now();
    const op = await this.lifecycle.enqueue(
      {
        operation_id: newOperationId(type, now),
        operation_type: type,
        params,
        priority,
        created_at: now,
      },
      this.settings.operations.max_queued,
    );
    if (!op) throw this.queueFull(type);
    // The place the insert itself reported: the answer does not depend on whether the dispatcher
    // (which the `queued` event starts) claims it before we reply.
    return {
      success: true,
      operation_id: op.record.operation_id,
      status: OperationStatus.PENDING,
      worker_id: null,
      queue_position: op.queue_position,
      message: `Queued: ${this.dispatcher.describeWait(type, op.queue_position)}`,
    };
  }

  /** The 202 answer for an operation that was just queued (its `queued` event started the dispatcher). */
  async queuedAnswer(op: OperationRecord): Promise<StartOperationResponseDto> {
    const positions = await this.repo.queuePositions([op.operation_id]);
    const position = positions.get(op.operation_id);
    if (position === undefined) {
      // Already claimed by the dispatcher (or cancelled) while we answered.
      const now = (await this.repo.get(op.operation_id)) ?? op;
      return {
        success: true,
        operation_id: op.operation_id,
        status: now.status,
        worker_id: now.worker_id,
        queue_position: null,
        message: now.worker_id
          ? `Queued and handed to worker ${now.worker_id}`
          : `Queued; it is ${now.status}`,
      };
    }
    return {
      success: true,
      operation_id: op.operation_id,
      status: OperationStatus.PENDING,
      worker_id: null,
      queue_position: position,
      message: `Queued: ${this.dispatcher.describeWait(op.operation_type, position)}`,
    };
  }

  /** Records → DTOs, with queue position and wait reason for the pending ones. */
  async toDtos(records: OperationRecord[]): Promise<OperationDto[]> {
    const pending = records
      .filter((r) => r.status === OperationStatus.PENDING)
      .map((r) => r.operation_id);
    const positions = pending.length > 0 ? await this.repo.queuePositions(pending) : new Map();
    return records.map((r) => {
      const position = positions.get(r.operation_id) ?? null;
      return toOperationDto(
        r,
        position,
        position === null ? null : this.dispatcher.describeWait(r.operation_type, position),
      );
    });
  }

  async getDto(operationId: string): Promise<OperationDto> {
    const [dto] = await this.toDtos([await this.getRecord(operationId)]);
    return dto;
  }

  async list(query: ListOperationsQueryDto): Promise<OperationListResponseDto> {
    const page = await this.repo.list({
      status: query.status ? [query.status] : undefined,
      operation_type: query.operation_type,
      sweep_id: query.sweep_id,
      order: query.status === OperationStatus.PENDING ? 'queue' : 'newest',
      limit: query.limit ?? DEFAULT_OPERATIONS_LIMIT,
      offset: query.offset ?? 0,
    });
    return {
      success: true,
      data: await this.toDtos(page.data),
      total_count: page.total_count,
      active_count: page.active_count,
    };
  }

  /**
   * Cancels at once: a pending operation leaves the queue; a dispatched or running one is marked
   * cancelled and its worker is told in the background (and again in its next heartbeat), so a hung
   * worker never delays the answer.
   */
  async cancel(operationId: string): Promise<CancelOperationResponseDto> {
    for (let i = 0; i < 3; i++) {
      const op = await this.getRecord(operationId);
      if (isTerminal(op.status)) {
        throw new BadRequestException(
          `Operation ${operationId} is already ${op.status}; only pending, dispatched or running operations can be cancelled`,
        );
      }
      const updated = await this.lifecycle.transition(op, OperationStatus.CANCELLED, {
        error_message: 'Cancelled by user',
      });
      if (!updated) continue; // changed meanwhile (e.g. claimed by the dispatcher): look again
      let message = 'Removed from the queue before it was dispatched';
      const worker = op.worker_id ? this.registry.get(op.worker_id) : undefined;
      if (op.status !== OperationStatus.PENDING) {
        if (op.worker_id && !worker) {
          message = `Cancelled; worker ${op.worker_id} is not registered now and will be told when it re-registers`;
        } else if (worker) {
          message = `Cancellation sent to worker ${worker.worker_id}; it stops at the next bar or epoch (repeated in its next heartbeat)`;
          void this.client
            .cancelOperation(
              worker.endpoint_url,
              operationId,
              this.settings.worker.dispatch_timeout * 1000,
            )
            .then(
              (fwd) => {
                if (!fwd.ok) {
                  this.logger.warn(
                    `Cancel of ${operationId} could not reach ${worker.worker_id} (${fwd.detail}); its next heartbeat repeats it`,
                  );
                }
              },
              () => undefined,
            );
        }
      }
      return { success: true, operation_id: operationId, status: updated.status, message };
    }
    throw new ConflictException(`Operation ${operationId} is changing too fast; retry`);
  }

  /**
   * Puts a failed or cancelled operation back in the queue: from its last checkpoint when it has
   * one, otherwise from the start. It keeps its id; the retry budget starts afresh.
   */
  async resume(operationId: string): Promise<StartOperationResponseDto> {
    const op = await this.getRecord(operationId);
    if (op.status !== OperationStatus.FAILED && op.status !== OperationStatus.CANCELLED) {
      throw new ConflictException(
        `Operation ${operationId} is ${op.status}; only failed or cancelled operations can be resumed`,
      );
    }
    const pending = await this.repo.pendingCounts();
    if (pending.backtesting + pending.training >= this.settings.operations.max_queued) {
      throw this.queueFull(op.operation_type);
    }
    const queued = await this.lifecycle.requeue(op, 'resumed', {
      resumeFrom: op.checkpoint ?? null,
      countAttempt: true,
    });
    if (!queued) {
      const latest = await this.getRecord(operationId);
      throw new ConflictException(
        `Operation ${operationId} changed while resuming (now ${latest.status})`,
      );
    }
    const answer = await this.queuedAnswer(queued);
    const from = op.checkpoint
      ? `from its ${op.checkpoint.type} checkpoint at ${op.checkpoint.unit}`
      : 'from the start (it has no checkpoint)';
    return { ...answer, message: `Resumed ${from}. ${answer.message}` };
  }

  private staleLease(op: OperationRecord): ConflictException {
    return new ConflictException(
      `Stale lease for operation ${op.operation_id}: the report belongs to an older dispatch (current attempt ${op.attempt}${op.worker_id ? ` on ${op.worker_id}` : ''})`,
    );
  }

  /** A worker's progress report, fenced by the lease (409 when stale). */
  progress(operationId: string, report: ProgressReportDto): Promise<ReportAckDto> {
    // In the worker's trace: its report request carries the attempt's W3C trace context.
    return withSpan(
      SPAN.PROGRESS,
      {
        attributes: {
          [ATTR.OPERATION_ID]: operationId,
          'ktrdr.progress.percentage': report.progress?.percentage ?? -1,
        },
      },
      () => this.applyProgress(operationId, report),
    );
  }

  private async applyProgress(
    operationId: string,
    report: ProgressReportDto,
  ): Promise<ReportAckDto> {
    for (let i = 0; i < 3; i++) {
      const op = await this.reported(operationId, report.lease_token);
      if (op.lease_token !== report.lease_token) throw this.staleLease(op);
      if (isTerminal(op.status)) return { acknowledged: true, status: op.status };
      const updated = await this.lifecycle.recordProgress(op, report.progress, report.checkpoint);
      if (updated) return { acknowledged: true, status: updated.status };
    }
    throw new ConflictException(`Operation ${operationId} is changing too fast; retry`);
  }

  /** Whether `operationId` is dispatched to or running on `workerId`. */
  async isAssignedTo(operationId: string, workerId: string): Promise<boolean> {
    const op = await this.repo.get(operationId);
    return !!op && ASSIGNED_OPERATION_STATUSES.includes(op.status) && op.worker_id === workerId;
  }

  /**
   * Progress carried by a heartbeat for the operation the worker runs: true when the worker may keep
   * running it (it exists, is active and is assigned to this worker), false when it must stop.
   */
  async heartbeatProgress(workerId: string, dto: HeartbeatRequestDto): Promise<boolean> {
    const current = dto.current_operation_id;
    if (!current) return true;
    const op = await this.repo.get(current);
    if (!op || isTerminal(op.status) || op.worker_id !== workerId) return false;
    if (op.status === OperationStatus.PENDING) return false;
    if (dto.progress || dto.checkpoint || op.status === OperationStatus.DISPATCHED) {
      await this.lifecycle.recordProgress(op, dto.progress, dto.checkpoint);
    }
    return true;
  }

  /**
   * A worker's completion report: applied once, idempotent (a repeat with the same lease is
   * acknowledged without changes), fenced by the lease (409 when stale). A worker stopped by SIGTERM
   * reports `failed` + `interrupted` (or a `shutdown` checkpoint): the operation goes back to the
   * queue, from that checkpoint when there is one, while attempts remain.
   */
  complete(operationId: string, report: CompleteOperationRequestDto): Promise<ReportAckDto> {
    return withSpan(
      SPAN.COMPLETE,
      {
        attributes: {
          [ATTR.OPERATION_ID]: operationId,
          'ktrdr.report.status': report.status,
          ...(report.error_message ? { [ATTR.ERROR_MESSAGE]: report.error_message } : {}),
        },
      },
      async (span) => {
        const ack = await this.applyCompletion(operationId, report);
        span.setAttribute(ATTR.STATUS, ack.status);
        return ack;
      },
    );
  }

  private async applyCompletion(
    operationId: string,
    report: CompleteOperationRequestDto,
  ): Promise<ReportAckDto> {
    for (let i = 0; i < 3; i++) {
      const op = await this.reported(operationId, report.lease_token);
      if (op.lease_token !== report.lease_token) throw this.staleLease(op);
      if (isTerminal(op.status) || op.status === OperationStatus.PENDING) {
        // Already final (a repeat, or cancelled by the user): keep the status, take a newer checkpoint.
        if (report.checkpoint && !sameCheckpoint(op, report) && isTerminal(op.status)) {
          await this.lifecycle.attachCheckpoint(op, report.checkpoint);
        }
        this.registry.release(op.worker_id, operationId);
        return { acknowledged: true, status: op.status };
      }
      const checkpoint = report.checkpoint ? { ...report.checkpoint } : op.checkpoint;
      const updated = this.interrupted(op, report)
        ? await this.lifecycle.requeue({ ...op }, 'worker_shutdown', {
            resumeFrom: checkpoint,
            checkpoint,
            countAttempt: true,
            message: `Interrupted on ${op.worker_id ?? 'its worker'}: ${report.error_message ?? 'the worker shut down'}; queued again ${checkpoint ? `from its ${checkpoint.type} checkpoint at ${checkpoint.unit}` : 'from the start'}`,
          })
        : await this.lifecycle.transition(op, report.status as unknown as OperationStatus, {
            ...this.finalPatch(op, report),
            checkpoint,
          });
      if (updated) {
        this.registry.release(op.worker_id, operationId);
        this.logger.log(
          `Operation ${operationId} ${updated.status === OperationStatus.PENDING ? 'interrupted and queued again' : updated.status} (reported by ${op.worker_id ?? 'worker'})`,
        );
        return { acknowledged: true, status: updated.status };
      }
    }
    throw new ConflictException(`Operation ${operationId} is changing too fast; retry`);
  }

  private finalPatch(op: OperationRecord, report: CompleteOperationRequestDto): OperationPatch {
    if (report.status === CompletionStatus.COMPLETED) {
      return {
        result: report.result ?? {},
        error_message: null,
        progress: { ...op.progress, percentage: 100 },
      };
    }
    return {
      result: report.result ?? null,
      error_message:
        report.error_message ??
        (report.status === CompletionStatus.FAILED ? 'Worker reported a failure' : 'Cancelled'),
    };
  }

  /** A failure that is an interruption (worker shutdown) with attempts left. */
  private interrupted(op: OperationRecord, report: CompleteOperationRequestDto): boolean {
    if (report.status !== CompletionStatus.FAILED) return false;
    const byShutdown =
      report.interrupted === true || report.checkpoint?.type === CheckpointType.SHUTDOWN;
    return byShutdown && this.hasAttemptsLeft(op);
  }

  hasAttemptsLeft(op: OperationRecord): boolean {
    return op.attempt - op.attempt_base < this.settings.operations.max_attempts;
  }
}

function sameCheckpoint(op: OperationRecord, report: CompleteOperationRequestDto): boolean {
  const a = op.checkpoint;
  const b = report.checkpoint;
  return !!a && !!b && a.type === b.type && a.unit === b.unit && a.created_at === b.created_at;
}
