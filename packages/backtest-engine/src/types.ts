import type { BacktestMetrics, BenchmarkMetrics, PeriodInfo } from './metrics';
import type { TradeColumns } from './trades';

/** Strategy and its parameters (snake_case: the same shape as the wire request). */
export type StrategyConfig =
  | { type: 'sma_crossover'; fast_period: number; slow_period: number }
  | { type: 'rsi_mean_reversion'; period: number; oversold: number; overbought: number }
  | {
      type: 'model';
      /** Informational for the engine: the caller loads the model and passes `hooks.signals`. */
      model_path?: string;
      model_name?: string;
      threshold?: number;
    };

export type StrategyType = StrategyConfig['type'];

export interface BacktestConfig {
  strategy: StrategyConfig;
  /** Starting cash, > 0. */
  initial_capital: number;
  /** Commission per side as a fraction of notional (0.001 = 0.1 %). */
  commission: number;
  /** Slippage as a fraction of price, always against the trade. */
  slippage: number;
  /** Annual risk-free rate for the Sharpe and Sortino ratios (0.04 = 4 %); default 0. */
  risk_free_rate?: number;
}

/** Defaults the API applies when a request omits a field (same values as @ktrdr/contracts). */
export const BACKTEST_DEFAULTS = {
  initial_capital: 100_000,
  commission: 0.001,
  slippage: 0.0005,
  risk_free_rate: 0,
} as const;

/** A closed round trip (long entry then exit). Times are ISO-8601 UTC. */
export interface Trade {
  entry_time: string;
  exit_time: string;
  /** Fill prices including slippage. */
  entry_price: number;
  exit_price: number;
  quantity: number;
  /** Net of both commissions: exit proceeds after commission minus entry cost with commission. */
  pnl: number;
  /** pnl / entry cost (cash spent including commission). */
  return_pct: number;
  /**
   * Bars the position was exposed: exit bar − entry bar (filled at opens), or bars − entry bar
   * for the close-out at the end of the data (held through the last close).
   */
  bars_held: number;
}

export interface EquityPoint {
  time: string;
  equity: number;
}

/**
 * Every metric (flat, see docs/metrics.md) plus the run's context. JSON-safe except `equity` and
 * `trades` (typed arrays).
 */
export interface BacktestResult extends BacktestMetrics {
  final_equity: number;
  initial_capital: number;
  risk_free_rate: number;
  bars_processed: number;
  bars_total: number;
  /** The calendar the metrics are measured over. */
  period: PeriodInfo;
  /** Buy-and-hold of the same bars (initial × close[i] / close[0]). */
  benchmark: BenchmarkMetrics;
  /**
   * At most MAX_EQUITY_POINTS points of the close-marked equity (min/max buckets: the first and
   * last bar and every bucket's extremes are kept).
   */
  equity_curve: EquityPoint[];
  /** Points of the full-resolution curve (= bars). */
  equity_points_total: number;
  /** Every closed trade, in order, as columns (`tradeList` gives them as objects). */
  trades: TradeColumns;
  /** Close-marked equity of every bar (full resolution; times are the bars' times). */
  equity: Float64Array;
}

/**
 * Where a run stands: plain JSON (numbers, strings), so it can be written to a checkpoint file
 * and read back. `bar_index` is the next bar to process. Trades and the equity curve are not
 * in it (they would make every checkpoint as large as the result): a resumed run replays the
 * bars before `bar_index` (the loop is deterministic and fast) and checks that the replay
 * arrives at exactly this cash, position and trade count.
 */
export interface BacktestState {
  /** 2; version 1 states (which also carried trades and samples) are still accepted. */
  version: 1 | 2;
  bar_index: number;
  bars_total: number;
  symbol: string;
  timeframe: string;
  /** time[0] of the series, to refuse resuming on other data. */
  first_time: number | null;
  /** JSON of the config, to refuse resuming with another config. */
  config_json: string;
  cash: number;
  position_qty: number;
  entry_price: number;
  /** Epoch ms of the open position's entry, or null when flat. */
  entry_time: number | null;
  entry_cost: number;
  num_trades: number;
  /**
   * Strategy state. Indicators are pure functions of the bars and are recomputed on resume,
   * so only the last signal seen is kept (for diagnostics).
   */
  strategy_state: { type: StrategyType; last_signal: number };
}

export interface BacktestProgress {
  bars_processed: number;
  bars_total: number;
}

export interface BacktestHooks {
  /** Checked every `abortCheckEvery` bars; when aborted, `BacktestAbortedError` is thrown. */
  signal?: AbortSignal;
  /** Bars between abort checks (default 1024). */
  abortCheckEvery?: number;
  onProgress?(p: BacktestProgress): void;
  /** Bars between progress calls (default 1 % of the bars, at least 1). A final call is always made. */
  progressEvery?: number;
  onCheckpoint?(state: BacktestState): void;
  /** Bars between checkpoints (no checkpoints when omitted or 0). */
  checkpointEvery?: number;
  /**
   * Asked after every `abortCheckEvery` bars (with the bars done so far) when `onCheckpoint` is
   * set: true builds a snapshot and calls `onCheckpoint` (a time-based cadence without a snapshot
   * per look). Independent of `checkpointEvery`; either one makes a checkpoint due.
   */
  checkpointDue?(barsDone: number): boolean;
  resumeFrom?: BacktestState;
  /** Per-bar model signals for `strategy.type === 'model'`: +1 long, 0 flat, -1 exit (flat). */
  signals?: Int8Array;
}
