import { Bars, parseTimeframe } from '@ktrdr/market-data';
import { computeMetrics, downsampleMinMax } from './metrics';
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

/** Maximum points in `equity_curve` (the downsampled curve of the JSON result). */
export const MAX_EQUITY_POINTS = 500;
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

function initialState(bars: Bars, config: BacktestConfig, configJson: string): BacktestState {
  return {
    version: 2,
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
    num_trades: 0,
    strategy_state: { type: config.strategy.type, last_signal: 0 },
  };
}

function checkResumable(state: BacktestState, bars: Bars, configJson: string): void {
  const problems: string[] = [];
  if (state.version !== 1 && state.version !== 2) {
    problems.push(`unknown state version ${String(state.version)}`);
  }
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
 * Metrics: see metrics.ts and docs/metrics.md.
 */
export function runBacktest(
  bars: Bars,
  config: BacktestConfig,
  hooks: BacktestHooks = {},
): BacktestResult {
  assertValidBacktestConfig(config);
  const n = bars.length;
  parseTimeframe(bars.timeframe);
  const configJson = JSON.stringify(config);
  const actions = computeActions(bars, config.strategy, hooks.signals);
  const resume = hooks.resumeFrom;
  if (resume) checkResumable(resume, bars, configJson);
  const st = initialState(bars, config, configJson);

  const { time, open, close } = bars;
  const commission = config.commission;
  const slippage = config.slippage;
  const signal = hooks.signal;
  const abortEvery = Math.max(1, Math.floor(hooks.abortCheckEvery ?? DEFAULT_ABORT_CHECK_EVERY));
  const onProgress = hooks.onProgress;
  const progressEvery = Math.max(1, Math.floor(hooks.progressEvery ?? n / 100));
  const onCheckpoint = hooks.onCheckpoint;
  const checkpointEvery = Math.floor(hooks.checkpointEvery ?? 0);
  const equity = new Float64Array(n);
  const trades: Trade[] = [];
  let entryIndex = -1;

  const snapshot = (): BacktestState => ({ ...st, strategy_state: { ...st.strategy_state } });

  const closePosition = (price: number, exitIndex: number, heldUntil: number): void => {
    const qty = st.position_qty;
    const proceeds = qty * price;
    const net = proceeds - proceeds * commission;
    const pnl = net - st.entry_cost;
    st.cash += net;
    st.num_trades++;
    const exitTime = time[exitIndex];
    trades.push({
      entry_time: iso(st.entry_time ?? exitTime),
      exit_time: iso(exitTime),
      entry_price: st.entry_price,
      exit_price: price,
      quantity: qty,
      pnl,
      return_pct: pnl / st.entry_cost,
      bars_held: heldUntil - entryIndex,
    });
    st.position_qty = 0;
    st.entry_price = 0;
    st.entry_time = null;
    st.entry_cost = 0;
    entryIndex = -1;
  };

  /** Bars [from, to): fills, close-out, marking. `live` = with hooks (not a resume replay). */
  const simulate = (from: number, to: number, live: boolean): void => {
    for (let i = from; i < to; i++) {
      if (live && signal !== undefined && i % abortEvery === 0 && signal.aborted) {
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
          entryIndex = i;
        } else if (a < 0 && st.position_qty > 0) {
          closePosition(open[i] * (1 - slippage), i, i);
        }
      }
      // 2. Close out an open position at the end of the data (held through this bar's close).
      if (i === n - 1 && st.position_qty > 0) closePosition(close[i] * (1 - slippage), i, n);
      // 3. Mark to market at the close.
      equity[i] = st.cash + st.position_qty * close[i];
      st.strategy_state.last_signal = actions[i];
      if (!live) continue;

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
  };

  if (resume) {
    // Rebuild the trades and the equity before the checkpoint; the loop is deterministic, so the
    // replay must land exactly on the saved cash, position and trade count.
    simulate(0, resume.bar_index, false);
    if (
      st.cash !== resume.cash ||
      st.position_qty !== resume.position_qty ||
      st.num_trades !== resume.num_trades
    ) {
      throw new Error(
        `Cannot resume backtest: replaying bars 0..${resume.bar_index} gives cash ${st.cash}, position ${st.position_qty}, ${st.num_trades} trades; the state has ${resume.cash}, ${resume.position_qty}, ${resume.num_trades}`,
      );
    }
    st.bar_index = resume.bar_index;
  }
  if (signal?.aborted) throw new BacktestAbortedError(snapshot());
  simulate(st.bar_index, n, true);
  st.bar_index = n;
  onProgress?.({ bars_processed: n, bars_total: n });
  return buildResult(bars, config, equity, trades, st.cash);
}

function buildResult(
  bars: Bars,
  config: BacktestConfig,
  equity: Float64Array,
  trades: Trade[],
  finalCash: number,
): BacktestResult {
  const n = bars.length;
  const rf = config.risk_free_rate ?? 0;
  const { period, metrics, benchmark } = computeMetrics({
    time: bars.time,
    equity,
    close: bars.close,
    initial_capital: config.initial_capital,
    trades,
    risk_free_rate: rf,
  });
  const equityCurve: EquityPoint[] = downsampleMinMax(equity, MAX_EQUITY_POINTS).map((i) => ({
    time: iso(bars.time[i]),
    equity: equity[i],
  }));
  return {
    ...metrics,
    final_equity: finalCash, // always flat after the close-out at the last bar
    initial_capital: config.initial_capital,
    risk_free_rate: rf,
    bars_processed: n,
    bars_total: n,
    period,
    benchmark,
    equity_curve: equityCurve,
    equity_points_total: n,
    trades,
    equity,
  };
}
