import { ACTIVE_OPERATION_STATUSES, TERMINAL_OPERATION_STATUSES } from '@ktrdr/contracts/constants';
import type { OperationDto } from '../api/types';
import { formatMetric } from './format';

// The contracts' lists; a status a newer backend adds is neither finished nor active here.
const FINISHED: ReadonlySet<string> = new Set(TERMINAL_OPERATION_STATUSES);
const ACTIVE: ReadonlySet<string> = new Set(ACTIVE_OPERATION_STATUSES);

/** Completed, failed or cancelled (the contracts' TERMINAL_OPERATION_STATUSES). */
export function isFinished(status: string): boolean {
  return FINISHED.has(status);
}

/** Pending, dispatched or running (the contracts' ACTIVE_OPERATION_STATUSES). */
export function isActive(status: string): boolean {
  return ACTIVE.has(status);
}

/** Cancel is offered while an operation has not finished. */
export function canCancel(op: Pick<OperationDto, 'status'>): boolean {
  return isActive(op.status);
}

/** Resume is offered for failed or cancelled operations that have a checkpoint. */
export function canResume(op: Pick<OperationDto, 'status' | 'checkpoint'>): boolean {
  return (op.status === 'failed' || op.status === 'cancelled') && op.checkpoint !== null;
}

function ms(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/** Time since it started (running) or from start to end (finished); null before it started. */
export function elapsedMs(
  op: Pick<OperationDto, 'started_at' | 'completed_at'>,
  now: number,
): number | null {
  const start = ms(op.started_at);
  if (start === null) return null;
  const end = ms(op.completed_at) ?? now;
  return Math.max(0, end - start);
}

/** Start to end of a finished operation. */
export function durationMs(
  op: Pick<OperationDto, 'started_at' | 'completed_at' | 'created_at'>,
): number | null {
  const start = ms(op.started_at) ?? ms(op.created_at);
  const end = ms(op.completed_at);
  return start === null || end === null ? null : Math.max(0, end - start);
}

/**
 * Remaining time at the rate seen so far: elapsed × (100 − p) / p. Null until there is progress to
 * extrapolate from (p ≤ 0.5 %) or once it is done.
 */
export function etaMs(
  op: Pick<OperationDto, 'started_at' | 'completed_at' | 'progress'>,
  now: number,
): number | null {
  const p = op.progress?.percentage ?? 0;
  const el = elapsedMs(op, now);
  if (el === null || op.completed_at || p <= 0.5 || p >= 100) return null;
  return (el * (100 - p)) / p;
}

export interface Headline {
  label: string;
  value: string;
}

/** The few figures a finished operation is judged by (backtest: return, Sharpe, drawdown, trades). */
export function headlineMetrics(op: Pick<OperationDto, 'operation_type' | 'metrics'>): Headline[] {
  const m = (op.metrics ?? null) as Record<string, unknown> | null;
  if (!m) return [];
  const keys =
    op.operation_type === 'backtesting'
      ? ['total_return', 'excess_return', 'sharpe_ratio', 'max_drawdown', 'num_trades']
      : ['val_accuracy', 'train_accuracy', 'val_loss', 'epochs_run'];
  const labels: Record<string, string> = {
    total_return: 'return',
    excess_return: 'vs B&H',
    sharpe_ratio: 'Sharpe',
    max_drawdown: 'max DD',
    num_trades: 'trades',
    val_accuracy: 'val acc',
    train_accuracy: 'train acc',
    val_loss: 'val loss',
    epochs_run: 'epochs',
  };
  const out: Headline[] = [];
  for (const k of keys) {
    const v = m[k];
    if (typeof v === 'number' && Number.isFinite(v))
      out.push({ label: labels[k] ?? k, value: formatMetric(k, v) });
  }
  return out;
}

/** "SYNTH-DEMO 1h · sma_crossover" from the start request. */
export function describeParams(op: Pick<OperationDto, 'params'>): string {
  const p = op.params ?? {};
  const parts = [p.symbol, p.timeframe].filter((x) => typeof x === 'string') as string[];
  const strategy = p.strategy as { type?: unknown } | undefined;
  if (strategy && typeof strategy.type === 'string') parts.push(`· ${strategy.type}`);
  else if (typeof p.model_name === 'string') parts.push(`· ${p.model_name}`);
  return parts.join(' ');
}

export interface QueueInfo {
  position: number | null;
  waitReason: string | null;
  priority: number;
  sweepId: string | null;
}

/** Queue fields of an operation: place and reason while pending, priority, sweep. */
export function queueInfo(
  op: Pick<OperationDto, 'queue_position' | 'wait_reason' | 'priority' | 'sweep_id'>,
): QueueInfo {
  return {
    position: op.queue_position ?? null,
    waitReason: op.wait_reason ?? null,
    priority: op.priority ?? 0,
    sweepId: op.sweep_id ?? null,
  };
}
