/** Results summaries: the few figures a person wants after a backtest or a training. */
import type { OperationDto } from '@ktrdr/contracts';

type Result = Record<string, unknown>;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function pct(v: unknown, digits = 2): string {
  const n = num(v);
  return n === null ? '-' : `${(n * 100).toFixed(digits)}%`;
}

export function fixed(v: unknown, digits = 4): string {
  const n = num(v);
  return n === null ? '-' : n.toFixed(digits);
}

function money(v: unknown): string {
  const n = num(v);
  return n === null ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export interface BacktestSummary {
  total_return: number | null;
  annualized_return: number | null;
  sharpe_ratio: number | null;
  max_drawdown: number | null;
  num_trades: number | null;
  win_rate: number | null;
  profit_factor: number | null;
  final_equity: number | null;
  initial_capital: number | null;
  /** Buy-and-hold of the same bars (docs/metrics.md) and the strategy's return above it. */
  benchmark_return: number | null;
  excess_return: number | null;
}

export interface TrainingSummary {
  model_name: string | null;
  epochs_run: number | null;
  best_epoch: number | null;
  stopped_early: boolean | null;
  final_train_loss: number | null;
  final_val_loss: number | null;
  best_train_loss: number | null;
  best_val_loss: number | null;
  best_train_accuracy: number | null;
  best_val_accuracy: number | null;
}

export function backtestSummary(r: Result): BacktestSummary {
  return {
    total_return: num(r.total_return),
    annualized_return: num(r.annualized_return),
    sharpe_ratio: num(r.sharpe_ratio),
    max_drawdown: num(r.max_drawdown),
    num_trades: num(r.num_trades),
    win_rate: num(r.win_rate),
    profit_factor: num(r.profit_factor),
    final_equity: num(r.final_equity),
    initial_capital: num(r.initial_capital),
    benchmark_return: num((r.benchmark as Result | undefined)?.total_return),
    excess_return: num(r.excess_return),
  };
}

export function trainingSummary(r: Result, params: Result = {}): TrainingSummary {
  const history = Array.isArray(r.history) ? (r.history as Result[]) : [];
  const last = history[history.length - 1] ?? {};
  const modelPath = typeof r.model_path === 'string' ? r.model_path : null;
  const name =
    (typeof r.model_name === 'string' && r.model_name) ||
    (typeof params.model_name === 'string' && params.model_name) ||
    (modelPath ? modelPath.replace(/^.*[\\/]/, '').replace(/\.json$/, '') : null);
  return {
    model_name: name || null,
    epochs_run: num(r.epochs_run),
    best_epoch: num(r.best_epoch),
    stopped_early: typeof r.stopped_early === 'boolean' ? r.stopped_early : null,
    final_train_loss: num(last.train_loss),
    final_val_loss: num(last.val_loss),
    best_train_loss: num(r.train_loss),
    best_val_loss: num(r.val_loss),
    best_train_accuracy: num(r.train_accuracy),
    best_val_accuracy: num(r.val_accuracy),
  };
}

/** Labelled rows of a completed operation's summary. */
export function summaryRows(
  op: Pick<OperationDto, 'operation_type' | 'params'>,
  result: Result,
): [string, string][] {
  if (op.operation_type === 'backtesting') {
    const s = backtestSummary(result);
    return [
      ['Total return', pct(s.total_return)],
      ['Buy and hold', pct(s.benchmark_return)],
      ['Excess return', pct(s.excess_return)],
      ['Annualized return', pct(s.annualized_return)],
      ['Sharpe ratio', fixed(s.sharpe_ratio, 3)],
      ['Max drawdown', pct(s.max_drawdown)],
      ['Trades', s.num_trades === null ? '-' : String(s.num_trades)],
      ['Win rate', pct(s.win_rate, 1)],
      ['Profit factor', fixed(s.profit_factor, 3)],
      ['Final equity', `${money(s.final_equity)} (from ${money(s.initial_capital)})`],
    ];
  }
  const s = trainingSummary(result, op.params ?? {});
  return [
    ['Model', s.model_name ?? '-'],
    [
      'Epochs',
      `${s.epochs_run ?? '-'}${s.stopped_early ? ' (stopped early)' : ''}, best ${s.best_epoch ?? '-'}`,
    ],
    ['Final loss', `train ${fixed(s.final_train_loss)}, validation ${fixed(s.final_val_loss)}`],
    ['Best loss', `train ${fixed(s.best_train_loss)}, validation ${fixed(s.best_val_loss)}`],
    [
      'Best accuracy',
      `train ${pct(s.best_train_accuracy, 1)}, validation ${pct(s.best_val_accuracy, 1)}`,
    ],
  ];
}

/** The summary object printed with --json. */
export function summaryObject(
  op: Pick<OperationDto, 'operation_type' | 'params'>,
  result: Result,
): BacktestSummary | TrainingSummary {
  return op.operation_type === 'backtesting'
    ? backtestSummary(result)
    : trainingSummary(result, op.params ?? {});
}
