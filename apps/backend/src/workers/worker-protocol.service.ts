import { ConflictException, Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import {
  WorkerStatus,
  type HeartbeatRequestDto,
  type HeartbeatResponseDto,
  type RegisterWorkerRequestDto,
  type RegisterWorkerResponseDto,
} from '@ktrdr/contracts';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { OPERATION_REPORTS, type OperationReports } from './operation-reports';
import { WorkerClient } from './worker-client';
import { WorkerRegistry, normalizeEndpoint, toWorkerDto } from './worker-registry';

/** Longest wait for the old endpoint of a worker_id that registers from a new one. */
const TAKEOVER_PROBE_MS = 2_000;

/** Registration and heartbeats: the worker side of the protocol (design §4, rules 4 and 5). */
@Injectable()
export class WorkerProtocolService {
  private readonly logger = new Logger(WorkerProtocolService.name);

  constructor(
    private readonly registry: WorkerRegistry,
    @Inject(OPERATION_REPORTS) private readonly operations: OperationReports,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    private readonly client: WorkerClient,
  ) {}

  /**
   * A worker_id registered at another endpoint may move only when it is no longer alive there: the old
   * endpoint is asked for its health, and if it still answers as that worker, the registration is
   * refused with 409 (a second process with the same id, or an attempt to take over its dispatches).
   */
  private async refuseTakeover(dto: RegisterWorkerRequestDto): Promise<void> {
    const existing = this.registry.get(dto.worker_id);
    if (!existing) return;
    const from = normalizeEndpoint(existing.endpoint_url);
    if (from === normalizeEndpoint(dto.endpoint_url)) return;
    const timeout = Math.min(this.settings.worker.health_check_timeout * 1000, TAKEOVER_PROBE_MS);
    const probe = await this.client.probeHealth(from, timeout);
    if (probe.ok && probe.report.worker_id === dto.worker_id) {
      this.logger.warn(
        `Refused registration of ${dto.worker_id} from ${dto.endpoint_url}: it is alive at ${from}`,
      );
      throw new ConflictException(
        `worker_id: ${dto.worker_id} is registered and alive at ${from}; a worker_id moves to another endpoint only once the old one stops answering`,
      );
    }
  }

  async register(dto: RegisterWorkerRequestDto): Promise<RegisterWorkerResponseDto> {
    await this.refuseTakeover(dto);
    // Apply unacknowledged completions first, exactly as POST /operations/{id}/complete would.
    for (const done of dto.completed_operations ?? []) {
      const { operation_id, ...report } = done;
      try {
        await this.operations.complete(operation_id, report);
      } catch (err) {
        if (err instanceof ConflictException || err instanceof NotFoundException) {
          this.logger.warn(
            `Ignored completion of ${operation_id} re-sent by ${dto.worker_id}: ${err.message}`,
          );
          continue;
        }
        throw err;
      }
    }
    const stop: string[] = [];
    let current: string | null = dto.current_operation_id ?? null;
    if (current && !(await this.operations.isAssignedTo(current, dto.worker_id))) {
      stop.push(current);
      current = null;
    }
    const { entry, replaced, created } = this.registry.upsert({
      worker_id: dto.worker_id,
      worker_type: dto.worker_type,
      endpoint_url: dto.endpoint_url,
      capabilities: dto.capabilities,
      metadata: dto.metadata,
      current_operation_id: current,
    });
    this.logger.log(
      `Worker ${dto.worker_id} (${dto.worker_type}) ${created ? 'registered' : 're-registered'} at ${entry.endpoint_url}` +
        (current ? `, running ${current}` : '') +
        (replaced.length ? `; replaced ${replaced.join(', ')} at the same endpoint` : '') +
        (stop.length ? `; told to stop ${stop.join(', ')}` : ''),
    );
    return { ...toWorkerDto(entry), stop_operations: stop };
  }

  async heartbeat(workerId: string, dto: HeartbeatRequestDto): Promise<HeartbeatResponseDto> {
    if (!this.registry.get(workerId)) return { registered: false, cancel_operations: [] };
    const cancel: string[] = [];
    const current = dto.current_operation_id ?? null;
    // Its own running operation: keep progress and checkpoint metadata current even when a progress
    // report was lost; anything else it runs must stop.
    if (current && !(await this.operations.heartbeatProgress(workerId, dto))) cancel.push(current);
    // A cancelled/foreign operation still counts as running on the worker until it stops.
    const grace =
      (this.settings.worker.dispatch_timeout + 2 * this.settings.worker.heartbeat_interval) * 1000;
    const entry = this.registry.applyHeartbeat(
      workerId,
      {
        status: current ? WorkerStatus.BUSY : dto.status,
        current_operation_id: current,
      },
      grace,
    );
    // The worker may have been removed while we awaited the store.
    if (!entry) return { registered: false, cancel_operations: cancel };
    return { registered: true, cancel_operations: cancel };
  }
}
