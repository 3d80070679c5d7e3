import { BadRequestException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import {
  OperationStatus,
  OperationType,
  TERMINAL_OPERATION_STATUSES,
  type CancelSweepResponseDto,
  type SweepChildDto,
  type SweepDto,
  type SweepQueryDto,
  type SweepStartResponseDto,
} from '@ktrdr/contracts';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import {
  OPERATIONS_REPOSITORY,
  type OperationRecord,
  type OperationsRepository,
} from '../persistence/operations.repository';
import { OperationLifecycle } from './lifecycle.service';
import { newOperationId, newSweepId } from './operation-mapper';
import { OperationsService, splitPriority } from './operations.service';
import { expandGrid } from './sweep-grid';

/** Numeric headline metrics of a result: its top-level numbers and those of `result.metrics`. */
export function headlineMetrics(
  result: Record<string, unknown> | null,
): Record<string, number> | null {
  if (!result) return null;
  const out: Record<string, number> = {};
  const take = (o: unknown): void => {
    if (!o || typeof o !== 'object' || Array.isArray(o)) return;
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
    }
  };
  take(result);
  take(result.metrics);
  return out;
}

/** Parameter sweeps: expand a grid into queued child operations; report and cancel them together. */
@Injectable()
export class SweepsService {
  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly repo: OperationsRepository,
    private readonly lifecycle: OperationLifecycle,
    private readonly operations: OperationsService,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
  ) {}

  async start(
    type: OperationType,
    body: { base: Record<string, unknown>; grid: Record<string, unknown>; priority?: number },
  ): Promise<SweepStartResponseDto> {
    const expansion = expandGrid(
      type,
      body.base,
      body.grid,
      this.settings.operations.max_sweep_children,
    );
    if (!expansion.ok) throw new BadRequestException(expansion.errors.join('; '));
    const now = this.lifecycle.now();
    const sweepId = newSweepId(now);
    const children = expansion.children.map((child, i) => {
      const { params, priority } = splitPriority(child.params);
      return {
        operation_id: newOperationId(type, now),
        operation_type: type,
        params,
        priority: body.priority ?? priority,
        // One millisecond apart: equal priorities run in grid order.
        created_at: new Date(now.getTime() + i),
        grid_values: child.grid_values,
      };
    });
    const created = await this.lifecycle.enqueueSweep(
      {
        sweep_id: sweepId,
        operation_type: type,
        created_at: now,
        base: body.base,
        grid: body.grid as Record<string, unknown[]>,
        total: children.length,
        children: children.map((c) => ({
          operation_id: c.operation_id,
          grid_values: c.grid_values,
        })),
      },
      children.map(({ grid_values: _grid, ...c }) => c),
      this.settings.operations.max_queued,
    );
    if (!created) throw this.operations.queueFull(type, children.length);
    // Each child's `queued` event has started the dispatcher.
    return {
      success: true,
      sweep_id: sweepId,
      operation_type: type,
      total: created.length,
      operation_ids: children.map((c) => c.operation_id),
    };
  }

  async get(sweepId: string, query: SweepQueryDto): Promise<SweepDto> {
    const sweep = await this.repo.getSweep(sweepId);
    if (!sweep) throw new NotFoundException(`Sweep ${sweepId} not found`);
    const ops = new Map<string, OperationRecord>(
      (await this.repo.findBySweep(sweepId)).map((o) => [o.operation_id, o]),
    );
    const counts = {
      pending: 0,
      dispatched: 0,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    } satisfies Record<OperationStatus, number>;
    const children: SweepChildDto[] = [];
    for (const c of sweep.children) {
      const op = ops.get(c.operation_id);
      if (!op) continue; // purged by retention
      counts[op.status] += 1;
      children.push({
        operation_id: op.operation_id,
        status: op.status,
        grid_values: c.grid_values,
        metrics: op.status === OperationStatus.COMPLETED ? headlineMetrics(op.result) : null,
        error_message: op.error_message,
      });
    }
    const sort = query.sort ?? null;
    if (sort) {
      const sign = query.order === 'asc' ? 1 : -1;
      const value = (c: SweepChildDto): number | undefined => c.metrics?.[sort];
      // Stable: children without the metric keep their grid order after the ranked ones.
      children.sort((a, b) => {
        const x = value(a);
        const y = value(b);
        if (x === undefined && y === undefined) return 0;
        if (x === undefined) return 1;
        if (y === undefined) return -1;
        return sign * (x - y);
      });
    }
    return {
      sweep_id: sweep.sweep_id,
      operation_type: sweep.operation_type,
      created_at: sweep.created_at.toISOString(),
      grid: sweep.grid,
      total: sweep.total,
      counts,
      sort,
      children,
    };
  }

  async cancel(sweepId: string): Promise<CancelSweepResponseDto> {
    const sweep = await this.repo.getSweep(sweepId);
    if (!sweep) throw new NotFoundException(`Sweep ${sweepId} not found`);
    let cancelled = 0;
    let finished = 0;
    for (const op of await this.repo.findBySweep(sweepId)) {
      if (TERMINAL_OPERATION_STATUSES.includes(op.status)) {
        finished += 1;
        continue;
      }
      try {
        await this.operations.cancel(op.operation_id);
        cancelled += 1;
      } catch (err) {
        if (err instanceof BadRequestException)
          finished += 1; // finished meanwhile
        else throw err;
      }
    }
    return { success: true, sweep_id: sweepId, cancelled, already_finished: finished };
  }
}
