import { Bars, parseTimeframe } from '@ktrdr/market-data';
import { computeMetrics, downsampleMinMax } from './metrics';
import { computeActions } from './strategies';
import { BacktestConfig, BacktestHooks, BacktestResult, BacktestState, EquityPoint } from './types';
import { TradeLog, type TradeColumns } from './trades';
import { isoTime } from './iso';
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
  const trades = new TradeLog();
  let entryIndex = -1;
  const checkpointDue = hooks.checkpointDue;

  const snapshot = (): BacktestState => ({ ...st, strategy_state: { ...st.strategy_state } });

  /**
   * Bars [from, to): fills, close-out, marking, without any hook. The state lives in locals while
   * the loop runs (written back to `st` at the end), so the loop stays in registers; the
   * arithmetic is the same, in the same order, as a bar-by-bar update of `st`.
   */
  const runBars = (from: number, to: number): void => {
    // The arrays and constants as locals of this function (a captured variable is read through the
    // closure's context on every use; locals stay in registers).
    const act = actions;
    const t = time;
    const o = open;
    const c = close;
    const eq = equity;
    const log = trades;
    const last = n - 1;
    const com = commission;
    const slip = slippage;
    let cash = st.cash;
    let qty = st.position_qty;
    let entryPrice = st.entry_price;
    let entryTime = st.entry_time;
    let entryCost = st.entry_cost;
    let numTrades = st.num_trades;
    let entryIdx = entryIndex;
    for (let i = from; i < to; i++) {
      // An exit on this bar: its price and the bars held (NaN: none).
      let exitPrice = NaN;
      let held = 0;
      // 1. Fill the previous bar's action at this bar's open.
      if (i > 0) {
        const a = act[i - 1];
        if (a > 0 && qty === 0) {
          const price = o[i] * (1 + slip);
          const cost = cash;
          qty = cost / (price * (1 + com));
          entryPrice = price;
          entryTime = t[i];
          entryCost = cost;
          cash = 0;
          entryIdx = i;
        } else if (a < 0 && qty > 0) {
          exitPrice = o[i] * (1 - slip);
          held = i - entryIdx;
        }
      }
      // 2. Close out an open position at the end of the data (held through this bar's close).
      if (i === last && qty > 0 && exitPrice !== exitPrice) {
        exitPrice = c[i] * (1 - slip);
        held = n - entryIdx;
      }
      if (exitPrice === exitPrice) {
        const proceeds = qty * exitPrice;
        const net = proceeds - proceeds * com;
        cash += net;
        numTrades++;
        const pnl = net - entryCost;
        log.push(entryTime ?? t[i], t[i], entryPrice, exitPrice, qty, pnl, pnl / entryCost, held);
        qty = 0;
        entryPrice = 0;
        entryTime = null;
        entryCost = 0;
        entryIdx = -1;
      }
      // 3. Mark to market at the close.
      eq[i] = cash + qty * c[i];
    }
    st.cash = cash;
    st.position_qty = qty;
    st.entry_price = entryPrice;
    st.entry_time = entryTime;
    st.entry_cost = entryCost;
    st.num_trades = numTrades;
    entryIndex = entryIdx;
    if (to > from) st.strategy_state.last_signal = act[to - 1];
  };

  /** Next multiple of `every` after `i`. */
  const nextMultiple = (i: number, every: number): number => (Math.floor(i / every) + 1) * every;

  /**
   * Bars [from, to) with the hooks: the bars run in chunks that end where a hook is due (an abort
   * check before bar i when i is a multiple of abortEvery; progress and count-based checkpoints
   * after `done` bars when done is a multiple of their period; `checkpointDue` asked at every
   * abort-check boundary), so the per-bar loop carries no hook test at all.
   */
  const simulate = (from: number, to: number): void => {
    const countCheckpoints = onCheckpoint !== undefined && checkpointEvery > 0;
    const askCheckpoint = onCheckpoint !== undefined && checkpointDue !== undefined;
    let i = from;
    while (i < to) {
      if (signal !== undefined && i % abortEvery === 0 && signal.aborted) {
        st.bar_index = i;
        throw new BacktestAbortedError(snapshot());
      }
      let end = Math.min(to, nextMultiple(i, abortEvery));
      if (onProgress !== undefined) end = Math.min(end, nextMultiple(i, progressEvery));
      if (countCheckpoints) end = Math.min(end, nextMultiple(i, checkpointEvery));
      runBars(i, end);
      i = end;
      const done = end;
      if (done >= n) break;
      if (onProgress !== undefined && done % progressEvery === 0) {
        onProgress({ bars_processed: done, bars_total: n });
      }
      if (
        onCheckpoint !== undefined &&
        ((countCheckpoints && done % checkpointEvery === 0) ||
          (askCheckpoint && done % abortEvery === 0 && checkpointDue(done)))
      ) {
        st.bar_index = done;
        onCheckpoint(snapshot());
      }
    }
  };

  if (resume) {
    // Rebuild the trades and the equity before the checkpoint; the loop is deterministic, so the
    // replay must land exactly on the saved cash, position and trade count.
    runBars(0, resume.bar_index);
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
  simulate(st.bar_index, n);
  st.bar_index = n;
  onProgress?.({ bars_processed: n, bars_total: n });
  return buildResult(bars, config, equity, trades.columns(), st.cash);
}

function buildResult(
  bars: Bars,
  config: BacktestConfig,
  equity: Float64Array,
  trades: TradeColumns,
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
  const equityCurve: EquityPoint[] = Array.from(
    downsampleMinMax(equity, MAX_EQUITY_POINTS),
    (i) => ({
      time: isoTime(bars.time[i]),
      equity: equity[i],
    }),
  );
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
