import { randomBytes } from 'node:crypto';
import type { OperationDto, OperationType } from '@ktrdr/contracts';
import type { OperationRecord } from '../persistence/operations.repository';
import { headlineMetrics } from '../results/headline';

export function toOperationDto(
  r: OperationRecord,
  queuePosition: number | null = null,
  waitReason: string | null = null,
): OperationDto {
  return {
    operation_id: r.operation_id,
    operation_type: r.operation_type,
    status: r.status,
    worker_id: r.worker_id,
    attempt: r.attempt,
    attempts: r.attempts.map((a) => ({ ...a })),
    created_at: r.created_at.toISOString(),
    started_at: r.started_at ? r.started_at.toISOString() : null,
    completed_at: r.completed_at ? r.completed_at.toISOString() : null,
    progress: r.progress,
    params: { ...r.params },
    metrics: headlineMetrics(r.operation_type, r.result),
    error_message: r.error_message,
    checkpoint: r.checkpoint,
    priority: r.priority,
    queue_position: queuePosition,
    wait_reason: waitReason,
    sweep_id: r.sweep_id,
  };
}

/** `op_{type}_{yyyymmdd}_{12 hex}` (matches the contracts' id pattern). */
export function newOperationId(type: OperationType, now: Date): string {
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  return `op_${type}_${day}_${randomBytes(6).toString('hex')}`;
}

/** `sweep_{yyyymmdd}_{12 hex}`. */
export function newSweepId(now: Date): string {
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  return `sweep_${day}_${randomBytes(6).toString('hex')}`;
}
