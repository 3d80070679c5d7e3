import { OperationType, type OperationMetricsDto } from '@ktrdr/contracts';

const BACKTEST_FIELDS = [
  'total_return',
  'annualized_return',
  'sharpe_ratio',
  'max_drawdown',
  'num_trades',
  'win_rate',
  'final_equity',
  'excess_return',
] as const;

const TRAINING_FIELDS = [
  'epochs_run',
  'best_epoch',
  'val_loss',
  'val_accuracy',
  'train_accuracy',
] as const;

function isNumberOrNull(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && Number.isFinite(v));
}

/**
 * The headline metrics of an operation's stored result (what `GET /operations` and
 * `GET /operations/{id}` carry instead of the full result); null when there is no result.
 * Only fields present in the result with a number (or null) are copied.
 */
export function headlineMetrics(
  type: OperationType,
  result: Record<string, unknown> | null,
): OperationMetricsDto | null {
  if (!result) return null;
  const out: Record<string, unknown> = {};
  const fields = type === OperationType.BACKTESTING ? BACKTEST_FIELDS : TRAINING_FIELDS;
  for (const f of fields) if (isNumberOrNull(result[f])) out[f] = result[f];
  if (type === OperationType.BACKTESTING) {
    const bench = result.benchmark as { total_return?: unknown } | undefined;
    if (bench && isNumberOrNull(bench.total_return)) out.benchmark_return = bench.total_return;
  } else if (typeof result.model_name === 'string') {
    out.model_name = result.model_name;
  }
  return out as OperationMetricsDto;
}
