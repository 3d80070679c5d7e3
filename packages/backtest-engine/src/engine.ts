import { Bars, MS_PER_YEAR, parseTimeframe } from '@ktrdr/market-data';
import { computeActions } from './strategies';
import {
  BacktestConfig,
  BacktestHooks,
  BacktestResult,
  BacktestState,
  EquityPoint,
  Trade,
} from './types';
import { assertValidBacktestConfig } from './validate';

/** Maximum points in `equity_curve`. */
export const MAX_EQUITY_POINTS = 500;
/** Maximum trades listed in `trades`. */
export const MAX_TRADES = 1000;
export const DEFAULT_ABORT_CHECK_EVERY = 1024;

/** Thrown when `hooks.signal` is aborted; `state` resumes the run where it stopped. */
export class BacktestAbortedError extends Error {
  readonly outcome = 'aborted' as const;
  constructor(readonly state: BacktestState) {
    super(`Backtest aborted after ${state.bar_index} of ${state.bars_total} bars`);
    this.name = 'BacktestAbortedError';
  }
}

export function isBacktestAborted(err: unknown): err is BacktestAbortedError {
  return err instanceof BacktestAbortedError;
}

/** Bars between equity samples so that at most MAX_EQUITY_POINTS points (incl. the last) are kept. */
export function equitySampleStride(n: number): number {
  return Math.max(1, Math.ceil(n / (MAX_EQUITY_POINTS - 1)));
}

function initialState(bars: Bars, config: BacktestConfig, configJson: string): BacktestState {
  return {
    version: 1,
    bar_index: 0,
    bars_total: bars.length,
    symbol: bars.symbol,
    timeframe: bars.timeframe,
    first_time: bars.length > 0 ? bars.time[0] : null,
    config_json: configJson,
    cash: config.initial_capital,
    position_qty: 0,
    entry_price: 0,
    entry_time: null,
    entry_cost: 0,
    prev_equity: config.initial_capital,
    peak_equity: config.initial_capital,
    max_drawdown: 0,
    ret_count: 0,
    ret_mean: 0,
    ret_m2: 0,
    num_trades: 0,
    wins: 0,
    gross_profit: 0,
    gross_loss: 0,
    equity_samples: [],
    trades: [],
    strategy_state: { type: config.strategy.type, last_signal: 0 },
  };
}

function checkResumable(state: BacktestState, bars: Bars, configJson: string): void {
  const problems: string[] = [];
  if (state.version !== 1) problems.push(`unknown state version ${String(state.version)}`);
  if (state.bars_total !== bars.length) {
    problems.push(`state is for ${state.bars_total} bars, data has ${bars.length}`);
  }
  if (state.symbol !== bars.symbol || state.timeframe !== bars.timeframe) {
    problems.push(
      `state is for ${state.symbol} ${state.timeframe}, data is ${bars.symbol} ${bars.timeframe}`,
    );
  }
  if (state.first_time !== (bars.length > 0 ? bars.time[0] : null))
    problems.push('state starts at another bar time');
  if (state.config_json !== configJson) problems.push('state was made with another config');
  if (!Number.isInteger(state.bar_index) || state.bar_index < 0 || state.bar_index > bars.length) {
    problems.push(`bar_index ${String(state.bar_index)} out of range`);
  }
  if (problems.length > 0) throw new Error(`Cannot resume backtest: ${problems.join('; ')}`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Runs a long/flat backtest synchronously over `bars`.
 *
 * Fill rule: an action decided on bar i's close is filled at bar i+1's open, buy at
 * `open * (1 + slippage)`, sell at `open * (1 - slippage)`, commission `commission * notional`
 * per side. Entries are all-in (fractional quantity: cash / (price * (1 + commission))). An action
 * on the last bar is not filled; a position still open after the last bar is closed at the last
 * close (with slippage and commission) so `final_equity` is cash. Equity is marked at each close.
 */
export function runBacktest(
  bars: Bars,
  config: BacktestConfig,
  hooks: BacktestHooks = {},
): BacktestResult {
  assertValidBacktestConfig(config);
  const n = bars.length;
  const tfMs = parseTimeframe(bars.timeframe);
  const configJson = JSON.stringify(config);
  const actions = computeActions(bars, config.strategy, hooks.signals);

  const st: BacktestState = hooks.resumeFrom
    ? (structuredClone(hooks.resumeFrom) as BacktestState)
    : initialState(bars, config, configJson);
  if (hooks.resumeFrom) checkResumable(st, bars, configJson);

  const { time, open, close } = bars;
  const commission = config.commission;
  const slippage = config.slippage;
  const stride = equitySampleStride(n);
  const signal = hooks.signal;
  const abortEvery = Math.max(1, Math.floor(hooks.abortCheckEvery ?? DEFAULT_ABORT_CHECK_EVERY));
  const onProgress = hooks.onProgress;
  const progressEvery = Math.max(1, Math.floor(hooks.progressEvery ?? n / 100));
  const onCheckpoint = hooks.onCheckpoint;
  const checkpointEvery = Math.floor(hooks.checkpointEvery ?? 0);

  const snapshot = (): BacktestState => ({
    ...st,
    equity_samples: st.equity_samples.map((p) => [p[0], p[1]] as [number, number]),
    trades: st.trades.map((t) => ({ ...t })),
    strategy_state: { ...st.strategy_state },
  });

  const closePosition = (price: number, exitTime: number): void => {
    const qty = st.position_qty;
    const proceeds = qty * price;
    const net = proceeds - proceeds * commission;
    const pnl = net - st.entry_cost;
    st.cash += net;
    st.num_trades++;
    if (pnl > 0) {
      st.wins++;
      st.gross_profit += pnl;
    } else if (pnl < 0) {
      st.gross_loss -= pnl;
    }
    if (st.trades.length < MAX_TRADES) {
      const trade: Trade = {
        entry_time: iso(st.entry_time ?? exitTime),
        exit_time: iso(exitTime),
        entry_price: st.entry_price,
        exit_price: price,
        quantity: qty,
        pnl,
        return_pct: pnl / st.entry_cost,
      };
      st.trades.push(trade);
    }
    st.position_qty = 0;
    st.entry_price = 0;
    st.entry_time = null;
    st.entry_cost = 0;
  };

  if (signal?.aborted) throw new BacktestAbortedError(snapshot());

  for (let i = st.bar_index; i < n; i++) {
    if (signal !== undefined && i % abortEvery === 0 && signal.aborted) {
      st.bar_index = i;
      throw new BacktestAbortedError(snapshot());
    }
    // 1. Fill the previous bar's action at this bar's open.
    if (i > 0) {
      const a = actions[i - 1];
      if (a > 0 && st.position_qty === 0) {
        const price = open[i] * (1 + slippage);
        const cost = st.cash;
        st.position_qty = cost / (price * (1 + commission));
        st.entry_price = price;
        st.entry_time = time[i];
        st.entry_cost = cost;
        st.cash = 0;
      } else if (a < 0 && st.position_qty > 0) {
        closePosition(open[i] * (1 - slippage), time[i]);
      }
    }
    // 2. Close out an open position at the end of the data.
    if (i === n - 1 && st.position_qty > 0) closePosition(close[i] * (1 - slippage), time[i]);
    // 3. Mark to market at the close.
    const equity = st.cash + st.position_qty * close[i];
    const r = equity / st.prev_equity - 1;
    st.ret_count++;
    const delta = r - st.ret_mean;
    st.ret_mean += delta / st.ret_count;
    st.ret_m2 += delta * (r - st.ret_mean);
    st.prev_equity = equity;
    if (equity > st.peak_equity) st.peak_equity = equity;
    else {
      const dd = 1 - equity / st.peak_equity;
      if (dd > st.max_drawdown) st.max_drawdown = dd;
    }
    if (i % stride === 0 || i === n - 1) st.equity_samples.push([time[i], equity]);
    st.strategy_state.last_signal = actions[i];

    const done = i + 1;
    if (onProgress !== undefined && done % progressEvery === 0 && done < n) {
      onProgress({ bars_processed: done, bars_total: n });
    }
    if (
      onCheckpoint !== undefined &&
      checkpointEvery > 0 &&
      done % checkpointEvery === 0 &&
      done < n
    ) {
      st.bar_index = done;
      onCheckpoint(snapshot());
    }
  }
  st.bar_index = n;
  onProgress?.({ bars_processed: n, bars_total: n });
  return buildResult(st, config, n, tfMs);
}

function buildResult(
  st: BacktestState,
  config: BacktestConfig,
  n: number,
  tfMs: number,
): BacktestResult {
  const initial = config.initial_capital;
  const final = st.cash; // always flat after the close-out at the last bar
  const totalReturn = final / initial - 1;
  const years = (n * tfMs) / MS_PER_YEAR;
  const annualizedRaw = n === 0 ? 0 : final <= 0 ? -1 : Math.pow(final / initial, 1 / years) - 1;
  // Compounding a short run to a year can overflow (e.g. +1 % over ten 1m bars).
  const annualized = Number.isFinite(annualizedRaw) ? annualizedRaw : null;
  const barsPerYear = MS_PER_YEAR / tfMs;
  const std = st.ret_count > 1 ? Math.sqrt(st.ret_m2 / (st.ret_count - 1)) : 0;
  const sharpe = std > 0 ? (st.ret_mean / std) * Math.sqrt(barsPerYear) : 0;
  const equityCurve: EquityPoint[] = st.equity_samples.map(([t, e]) => ({
    time: iso(t),
    equity: e,
  }));
  return {
    total_return: totalReturn,
    annualized_return: annualized,
    sharpe_ratio: sharpe,
    max_drawdown: st.max_drawdown,
    num_trades: st.num_trades,
    win_rate: st.num_trades > 0 ? st.wins / st.num_trades : 0,
    profit_factor: st.gross_loss > 0 ? st.gross_profit / st.gross_loss : null,
    final_equity: final,
    initial_capital: initial,
    bars_processed: n,
    bars_total: n,
    equity_curve: equityCurve,
    trades: st.trades,
    trades_truncated: st.num_trades > st.trades.length,
  };
}
