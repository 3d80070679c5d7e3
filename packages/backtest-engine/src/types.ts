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
}

/** Defaults the API applies when a request omits a field (same values as @ktrdr/contracts). */
export const BACKTEST_DEFAULTS = {
  initial_capital: 100_000,
  commission: 0.001,
  slippage: 0.0005,
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
}

export interface EquityPoint {
  time: string;
  equity: number;
}

export interface BacktestResult {
  total_return: number;
  /** Compounded to a year of bars; null when that overflows (very short runs). */
  annualized_return: number | null;
  sharpe_ratio: number;
  /** Largest peak-to-trough fall of the close-marked equity, as a fraction (0.25 = 25 %). */
  max_drawdown: number;
  num_trades: number;
  win_rate: number;
  /** Gross profit / gross loss; null when there is no losing trade (infinite or undefined). */
  profit_factor: number | null;
  final_equity: number;
  initial_capital: number;
  bars_processed: number;
  bars_total: number;
  /** At most 500 points, evenly spaced in bars, always including the last bar. */
  equity_curve: EquityPoint[];
  /** The first 1000 trades; `trades_truncated` says when there were more. */
  trades: Trade[];
  trades_truncated: boolean;
}

/**
 * Everything needed to continue a run: plain JSON (numbers, strings, arrays), so it can be
 * written to a checkpoint file and read back. `bar_index` is the next bar to process.
 */
export interface BacktestState {
  version: 1;
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
  prev_equity: number;
  peak_equity: number;
  max_drawdown: number;
  /** Welford accumulators of per-bar equity returns. */
  ret_count: number;
  ret_mean: number;
  ret_m2: number;
  num_trades: number;
  wins: number;
  gross_profit: number;
  gross_loss: number;
  /** Downsampled equity curve so far: [epoch ms, equity]. */
  equity_samples: [number, number][];
  trades: Trade[];
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
  resumeFrom?: BacktestState;
  /** Per-bar model signals for `strategy.type === 'model'`: +1 long, 0 flat, -1 exit (flat). */
  signals?: Int8Array;
}
