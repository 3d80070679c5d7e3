/**
 * Performance metrics of a backtest, defined once (docs/metrics.md has the formulas).
 *
 * Everything is computed from the close-marked equity of every bar, the bar times, the closed
 * trades and the closes (for the buy-and-hold benchmark). Time is calendar time: the span of the
 * data is last bar time − first bar time, and per-bar statistics are annualised with the number
 * of bars actually observed per year (returns / years), so session-hours, weekday-only and daily
 * series are not inflated as if they traded around the clock.
 */
import { MS_PER_YEAR } from '@ktrdr/market-data';
import { isoTime } from './iso';
import type { TradeColumns } from './trades';

export const MS_PER_DAY = 86_400_000;

/** The calendar the metrics are measured over. */
export interface PeriodInfo {
  /** ISO time of the first and last bar (null without bars). */
  first_bar: string | null;
  last_bar: string | null;
  bars: number;
  /** (last bar time − first bar time) in days. */
  calendar_days: number;
  /** calendar_days / 365.25. */
  years: number;
  /** Per-bar returns observed per calendar year: (bars − 1) / years; null when years is 0. */
  bars_per_year: number | null;
}

/** Return and risk statistics of one equity series. */
export interface ReturnStats {
  total_return: number;
  /** Compounded over the calendar span; null without a span or when it overflows. */
  annualized_return: number | null;
  /** Sample std of per-bar returns × √bars_per_year; null with fewer than 2 returns. */
  volatility: number | null;
  /** Mean per-bar excess return / std × √bars_per_year; null when the std is 0 or undefined. */
  sharpe_ratio: number | null;
  /** Mean per-bar excess return / downside deviation × √bars_per_year; null when no bar lost. */
  sortino_ratio: number | null;
}

export interface DrawdownStats {
  /** Largest fall from a running peak, as a positive fraction (0.25 = 25 %). */
  max_drawdown: number;
  /** Time of the peak the largest drawdown started from (null when there is none). */
  max_drawdown_start: string | null;
  /** Time of its lowest point. */
  max_drawdown_trough: string | null;
  /** First time equity was back at the peak; null while not recovered (or without drawdown). */
  max_drawdown_recovery: string | null;
  /** Peak to recovery (or to the last bar when not recovered), in bars and in calendar days. */
  max_drawdown_duration_bars: number;
  max_drawdown_duration_days: number;
}

export interface TradeStats {
  num_trades: number;
  /** Winners (pnl > 0) / trades; null without trades. */
  win_rate: number | null;
  /** Gross profit / gross loss; null when there is no losing trade. */
  profit_factor: number | null;
  /** Mean pnl of the winners / of the losers (a negative number); null when there are none. */
  avg_win: number | null;
  avg_loss: number | null;
  /** Mean pnl per trade (currency); null without trades. */
  expectancy: number | null;
  /** Mean return_pct per trade; null without trades. */
  avg_trade_return: number | null;
  /** Mean bars_held; mean (exit_time − entry_time) in days; null without trades. */
  avg_holding_bars: number | null;
  avg_holding_days: number | null;
}

/** Buy-and-hold of the instrument over the same bars: initial × close[i] / close[0], no costs. */
export interface BenchmarkMetrics extends ReturnStats {
  kind: 'buy_and_hold';
  final_equity: number;
  max_drawdown: number;
}

export interface BacktestMetrics extends ReturnStats, DrawdownStats, TradeStats {
  /** annualized_return / max_drawdown; null when either is 0 or undefined. */
  calmar_ratio: number | null;
  /** Bars with an open position / bars (Σ bars_held / bars). */
  exposure: number;
  /** total_return − benchmark.total_return. */
  excess_return: number;
  /** annualized_return − benchmark.annualized_return; null when either is null. */
  excess_annualized_return: number | null;
}

export interface MetricsInput {
  /** Bar open times, epoch ms, increasing. */
  time: ArrayLike<number>;
  /** Close-marked equity of every bar (same length as `time`). */
  equity: ArrayLike<number>;
  /** Closes, for the buy-and-hold benchmark (same length). */
  close: ArrayLike<number>;
  initial_capital: number;
  /** The closed trades (times in epoch ms). */
  trades: TradeColumns;
  /** Annual risk-free rate (0.04 = 4 %), default 0. */
  risk_free_rate?: number;
}

export interface MetricsOutput {
  period: PeriodInfo;
  metrics: BacktestMetrics;
  benchmark: BenchmarkMetrics;
}

const iso = (ms: number): string => isoTime(ms);
const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function periodOf(time: ArrayLike<number>): PeriodInfo {
  const n = time.length;
  if (n === 0) {
    return {
      first_bar: null,
      last_bar: null,
      bars: 0,
      calendar_days: 0,
      years: 0,
      bars_per_year: null,
    };
  }
  const spanMs = time[n - 1] - time[0];
  const years = spanMs / MS_PER_YEAR;
  return {
    first_bar: iso(time[0]),
    last_bar: iso(time[n - 1]),
    bars: n,
    calendar_days: spanMs / MS_PER_DAY,
    years,
    bars_per_year: years > 0 ? (n - 1) / years : null,
  };
}

/**
 * What a pass over a series finds: the sum of its per-bar returns r[i] = v[i] / v[i-1] − 1
 * (i = 1..n−1), its last value, and its largest drawdown from a running peak that starts at
 * `initial` (indices of the peak, the trough and the recovery, −1 when there is none).
 */
interface SeriesScan {
  return_sum: number;
  final: number;
  max_drawdown: number;
  start: number;
  trough: number;
  recovery: number;
}

/** Of a series' per-bar returns: the squared deviations from their mean, and the squared shortfalls below the risk-free rate (summed). */
interface Dispersion {
  squares: number;
  downside: number;
}

/**
 * The two series the metrics read: the strategy's close-marked equity, and the buy-and-hold value
 * of the instrument, (initial × close[i]) / close[0], computed where it is read rather than
 * stored.
 */
interface SeriesPair {
  equity: ArrayLike<number>;
  initial: number;
  close: ArrayLike<number>;
  benchmarkInitial: number;
}

/**
 * A value above peak × (1 − largest drawdown) × FLOOR_MARGIN cannot make a larger drawdown: its
 * 1 − value / peak, however rounded, stays at or below the largest one (the margin is ~10⁴ times
 * any rounding of the products). Comparing with that floor skips the division for almost every
 * bar below a peak; the division is done, as before, for the others, so the result is the same.
 */
const FLOOR_MARGIN = 1 + 1e-12;

/** Longest run whose per-bar returns buffer is kept for the next run (16 bytes per bar: 80 MB). */
export const KEPT_RETURNS_BARS = 5_000_000;
let kept: Float64Array | undefined;

/**
 * A buffer for the per-bar returns of both series, interleaved (2 × n values; the first pass
 * writes them, the second reads them instead of dividing again). Kept between runs up to
 * KEPT_RETURNS_BARS bars: a sweep runs the same sizes again and again, and a fresh buffer costs
 * more in page faults than its fill; a longer run gets one of its own.
 */
function returnsScratch(n: number): Float64Array {
  if (n > KEPT_RETURNS_BARS) return new Float64Array(2 * n);
  if (kept === undefined || kept.length < 2 * n) kept = new Float64Array(2 * n);
  return kept;
}

/** What the first pass over a pair finds; `returns` holds the per-bar returns (see returnsScratch). */
interface PairScan {
  strategy: SeriesScan;
  benchmark: SeriesScan;
  returns: Float64Array;
}

/**
 * One pass over both series of `pair` (read side by side, instead of filling the buy-and-hold
 * series and then scanning each): return sums, last values and largest drawdowns, and the per-bar
 * returns of both kept in `returns` for the second pass (the divisions are what these loops cost).
 * The arithmetic is that of a pass per series, in the same order: the results are bit for bit
 * those of the earlier three passes (the golden backtests check it).
 */
function scanPair(pair: SeriesPair, returns: Float64Array): PairScan {
  const { equity, initial, close, benchmarkInitial: bInitial } = pair;
  const n = equity.length;
  const c0 = n > 0 ? close[0] : 1;
  let sumE = 0;
  let prevE = 0;
  let peakE = initial;
  let peakIdxE = 0;
  let ddE = 0;
  let startE = -1;
  let troughE = -1;
  let recoveryE = -1;
  let awaitingE = false;
  // Below this a value may be a new largest drawdown; above it, certainly not (see FLOOR_MARGIN).
  let floorE = peakE * FLOOR_MARGIN;
  let sumB = 0;
  let prevB = 0;
  let peakB = bInitial;
  let peakIdxB = 0;
  let ddB = 0;
  let startB = -1;
  let troughB = -1;
  let recoveryB = -1;
  let awaitingB = false;
  let floorB = peakB * FLOOR_MARGIN;
  for (let i = 0; i < n; i++) {
    const e = equity[i];
    const b = (bInitial * close[i]) / c0;
    if (i > 0) {
      const rE = e / prevE - 1;
      const rB = b / prevB - 1;
      sumE += rE;
      sumB += rB;
      returns[2 * i] = rE;
      returns[2 * i + 1] = rB;
    }
    prevE = e;
    prevB = b;
    if (e >= peakE) {
      if (awaitingE) {
        recoveryE = i;
        awaitingE = false;
      }
      peakE = e;
      peakIdxE = i;
      floorE = peakE * (1 - ddE) * FLOOR_MARGIN;
    } else if (!(e > floorE)) {
      const dd = 1 - e / peakE;
      if (dd > ddE) {
        ddE = dd;
        startE = peakIdxE;
        troughE = i;
        recoveryE = -1;
        awaitingE = true;
        floorE = peakE * (1 - ddE) * FLOOR_MARGIN;
      }
    }
    if (b >= peakB) {
      if (awaitingB) {
        recoveryB = i;
        awaitingB = false;
      }
      peakB = b;
      peakIdxB = i;
      floorB = peakB * (1 - ddB) * FLOOR_MARGIN;
    } else if (!(b > floorB)) {
      const dd = 1 - b / peakB;
      if (dd > ddB) {
        ddB = dd;
        startB = peakIdxB;
        troughB = i;
        recoveryB = -1;
        awaitingB = true;
        floorB = peakB * (1 - ddB) * FLOOR_MARGIN;
      }
    }
  }
  return {
    returns,
    strategy: {
      return_sum: sumE,
      final: n > 0 ? prevE : initial,
      max_drawdown: ddE,
      start: startE,
      trough: troughE,
      recovery: recoveryE,
    },
    benchmark: {
      return_sum: sumB,
      final: n > 0 ? prevB : bInitial,
      max_drawdown: ddB,
      start: startB,
      trough: troughB,
      recovery: recoveryB,
    },
  };
}

/**
 * The second pass (a variance needs its mean first), over the returns the first pass kept: per
 * series the squared deviations from its mean and the squared shortfalls of the excess returns
 * below 0.
 */
function dispersionPair(
  n: number,
  returns: Float64Array,
  meanE: number,
  meanB: number,
  rfBar: number,
): { strategy: Dispersion; benchmark: Dispersion } {
  let ssE = 0;
  let downE = 0;
  let ssB = 0;
  let downB = 0;
  for (let i = 1; i < n; i++) {
    const rE = returns[2 * i];
    const rB = returns[2 * i + 1];
    ssE += (rE - meanE) * (rE - meanE);
    ssB += (rB - meanB) * (rB - meanB);
    // Branch-free (the sign of a return is a coin flip the CPU cannot predict, and a branch here
    // doubled this loop's time): y is x when x < 0 and ±0 otherwise, so y² adds exactly +0 then.
    // It differs from `if (x < 0) down += x * x` only for x = +∞ or NaN (y is NaN), which only
    // an infinite or NaN return makes; the mean is then ∞ or NaN too, so every ratio that reads
    // `down` is null either way.
    const xE = rE - rfBar;
    const yE = xE * +(xE < 0);
    downE += yE * yE;
    const xB = rB - rfBar;
    const yB = xB * +(xB < 0);
    downB += yB * yB;
  }
  return {
    strategy: { squares: ssE, downside: downE },
    benchmark: { squares: ssB, downside: downB },
  };
}

// Both passes run once on a few values when the module loads, so that the code after their loops
// has run before V8 first optimises a long loop in the middle of a call: otherwise that
// on-stack-replaced code lacks feedback for what follows the loop, deoptimises on every return
// and, in V8 11 (Node 20), the function is never optimised as a whole (`node --trace-deopt`
// showed one deoptimisation of scanPair per backtest).
{
  const values = Float64Array.of(1.5, 1.25, 1.75, 1.5);
  const returns = new Float64Array(2 * values.length);
  const pair: SeriesPair = { equity: values, initial: 1.5, close: values, benchmarkInitial: 1.5 };
  const scan = scanPair(pair, returns);
  dispersionPair(
    values.length,
    returns,
    scan.strategy.return_sum / 3,
    scan.benchmark.return_sum / 3,
    0,
  );
}

/** Return statistics of both series of `pair` over `period` (two passes in all). */
function returnStatsPair(
  pair: SeriesPair,
  period: PeriodInfo,
  riskFreeRate: number,
  scans: PairScan,
): { strategy: ReturnStats; benchmark: ReturnStats } {
  const m = pair.equity.length - 1; // number of per-bar returns
  const bpy = period.bars_per_year;
  if (m < 2 || bpy === null) {
    return {
      strategy: statsOf(pair.initial, period, scans.strategy, null),
      benchmark: statsOf(pair.benchmarkInitial, period, scans.benchmark, null),
    };
  }
  const rfBar = Math.pow(1 + riskFreeRate, 1 / bpy) - 1;
  const meanE = scans.strategy.return_sum / m;
  const meanB = scans.benchmark.return_sum / m;
  const d = dispersionPair(pair.equity.length, scans.returns, meanE, meanB, rfBar);
  return {
    strategy: statsOf(pair.initial, period, scans.strategy, { m, bpy, rfBar, ...d.strategy }),
    benchmark: statsOf(pair.benchmarkInitial, period, scans.benchmark, {
      m,
      bpy,
      rfBar,
      ...d.benchmark,
    }),
  };
}

/** The statistics from what the passes found (`spread` null: fewer than 2 returns or no calendar). */
function statsOf(
  initial: number,
  period: PeriodInfo,
  scan: SeriesScan,
  spread: (Dispersion & { m: number; bpy: number; rfBar: number }) | null,
): ReturnStats {
  const final = scan.final;
  const total = final / initial - 1;
  let annualized: number | null = null;
  if (period.years > 0) {
    annualized = final <= 0 ? -1 : finiteOrNull(Math.pow(final / initial, 1 / period.years) - 1);
  }
  if (spread === null) {
    return {
      total_return: total,
      annualized_return: annualized,
      volatility: null,
      sharpe_ratio: null,
      sortino_ratio: null,
    };
  }
  const { m, bpy, rfBar } = spread;
  const mean = scan.return_sum / m;
  const std = Math.sqrt(spread.squares / (m - 1));
  const downside = Math.sqrt(spread.downside / m);
  const scale = Math.sqrt(bpy);
  const excess = mean - rfBar;
  // A std of rounding noise (a constant series) is no volatility.
  const flat = std < 1e-12;
  return {
    total_return: total,
    annualized_return: annualized,
    volatility: flat ? 0 : std * scale,
    sharpe_ratio: flat ? null : finiteOrNull((excess / std) * scale),
    sortino_ratio: downside > 0 ? finiteOrNull((excess / downside) * scale) : null,
  };
}

/** A series on its own (the API helpers below): it stands in as its own benchmark too. */
const alone = (equity: ArrayLike<number>, initial: number): SeriesPair => ({
  equity,
  initial,
  close: equity,
  benchmarkInitial: initial,
});

/**
 * Return statistics of `equity` (one value per bar) that started at `initial`. Per-bar returns
 * are r[i] = equity[i] / equity[i-1] − 1 for i = 1..n−1.
 */
export function returnStats(
  equity: ArrayLike<number>,
  initial: number,
  period: PeriodInfo,
  riskFreeRate = 0,
): ReturnStats {
  const pair = alone(equity, initial);
  return returnStatsPair(pair, period, riskFreeRate, scanPair(pair, returnsScratch(equity.length)))
    .strategy;
}

/** Largest drawdown of `equity` from a running peak that starts at `initial`, with its dates. */
export function drawdownOf(
  time: ArrayLike<number>,
  equity: ArrayLike<number>,
  initial: number,
): DrawdownStats {
  const pair = alone(equity, initial);
  return drawdownFrom(time, equity.length, scanPair(pair, returnsScratch(equity.length)).strategy);
}

function drawdownFrom(time: ArrayLike<number>, n: number, scan: SeriesScan): DrawdownStats {
  const { max_drawdown: maxDd, start, trough, recovery } = scan;
  if (start < 0) {
    return {
      max_drawdown: 0,
      max_drawdown_start: null,
      max_drawdown_trough: null,
      max_drawdown_recovery: null,
      max_drawdown_duration_bars: 0,
      max_drawdown_duration_days: 0,
    };
  }
  const end = recovery >= 0 ? recovery : n - 1;
  return {
    max_drawdown: maxDd,
    max_drawdown_start: iso(time[start]),
    max_drawdown_trough: iso(time[trough]),
    max_drawdown_recovery: recovery >= 0 ? iso(time[recovery]) : null,
    max_drawdown_duration_bars: end - start,
    max_drawdown_duration_days: (time[end] - time[start]) / MS_PER_DAY,
  };
}

/**
 * Statistics of the closed trades. Holding time uses whole milliseconds (as `Date` would from the
 * ISO times the trades are shown with).
 */
export function tradeStats(trades: TradeColumns): TradeStats {
  const count = trades.length;
  const { pnl, return_pct: ret, bars_held: held, entry_time: entry, exit_time: exit } = trades;
  let wins = 0;
  let losses = 0;
  let grossProfit = 0;
  let grossLoss = 0;
  let pnlSum = 0;
  let retSum = 0;
  let barsSum = 0;
  let msSum = 0;
  for (let k = 0; k < count; k++) {
    const p = pnl[k];
    pnlSum += p;
    retSum += ret[k];
    barsSum += held[k];
    msSum += Math.trunc(exit[k]) - Math.trunc(entry[k]);
    if (p > 0) {
      wins++;
      grossProfit += p;
    } else if (p < 0) {
      losses++;
      grossLoss -= p;
    }
  }
  const mean = (sum: number, k: number): number | null => (k > 0 ? sum / k : null);
  return {
    num_trades: count,
    win_rate: mean(wins, count),
    profit_factor: grossLoss > 0 ? grossProfit / grossLoss : null,
    avg_win: mean(grossProfit, wins),
    avg_loss: losses > 0 ? -grossLoss / losses : null,
    expectancy: mean(pnlSum, count),
    avg_trade_return: mean(retSum, count),
    avg_holding_bars: mean(barsSum, count),
    avg_holding_days: count > 0 ? msSum / count / MS_PER_DAY : null,
  };
}

/** The metrics of a run (strategy and buy-and-hold benchmark over the same bars). */
export function computeMetrics(input: MetricsInput): MetricsOutput {
  const { time, equity, close, initial_capital: initial, trades } = input;
  const rf = input.risk_free_rate ?? 0;
  const n = time.length;
  if (equity.length !== n || close.length !== n) {
    throw new Error(
      `metrics: time, equity and close differ in length (${n}, ${equity.length}, ${close.length})`,
    );
  }
  const period = periodOf(time);
  const pair: SeriesPair = { equity, initial, close, benchmarkInitial: initial };
  // The buffer is handed in (not looked up inside the loop's function): a module variable that
  // changes is a dependency of optimised code, and V8 then kept scanPair in on-stack-replaced code
  // that deoptimised at every return (`node --trace-deopt`: once per call).
  const scans = scanPair(pair, returnsScratch(n));
  const both = returnStatsPair(pair, period, rf, scans);
  const stats = both.strategy;
  const bStats = both.benchmark;
  const dd = drawdownFrom(time, n, scans.strategy);
  const ts = tradeStats(trades);
  const calmar =
    stats.annualized_return !== null && dd.max_drawdown > 0
      ? stats.annualized_return / dd.max_drawdown
      : null;
  let barsHeld = 0;
  for (let k = 0; k < trades.length; k++) barsHeld += trades.bars_held[k];
  const benchmark: BenchmarkMetrics = {
    kind: 'buy_and_hold',
    ...bStats,
    final_equity: scans.benchmark.final,
    max_drawdown: scans.benchmark.max_drawdown,
  };
  const metrics: BacktestMetrics = {
    ...stats,
    ...dd,
    ...ts,
    calmar_ratio: calmar === null ? null : finiteOrNull(calmar),
    exposure: n > 0 ? barsHeld / n : 0,
    excess_return: stats.total_return - bStats.total_return,
    excess_annualized_return:
      stats.annualized_return !== null && bStats.annualized_return !== null
        ? stats.annualized_return - bStats.annualized_return
        : null,
  };
  return { period, metrics, benchmark };
}

/**
 * Indices of at most `maxPoints` points of a series that keep its shape: the first and last point
 * and, in each of ⌊(maxPoints − 2) / 2⌋ equal buckets of the rest, the minimum and the maximum (in
 * time order). So every peak and trough a chart needs (the largest drawdown's included) survives.
 * All indices when the series is short enough. Typed (a 5 M-bar curve cut to 2 M points took 100 ms
 * as a growing JS array, 60 as this).
 */
export function downsampleMinMax(values: ArrayLike<number>, maxPoints: number): Uint32Array {
  const n = values.length;
  if (!Number.isInteger(maxPoints) || maxPoints < 4) {
    throw new RangeError(`maxPoints must be an integer >= 4, got ${maxPoints}`);
  }
  if (n <= maxPoints) return Uint32Array.from({ length: n }, (_, i) => i);
  const buckets = Math.floor((maxPoints - 2) / 2);
  const inner = n - 2;
  const out = new Uint32Array(2 * buckets + 2);
  let k = 1; // out[0] = 0, the first point
  // Bucket b is [1 + ⌊b·inner/buckets⌋, 1 + ⌊(b+1)·inner/buckets⌋): each end is the next start.
  let to = 1;
  for (let b = 0; b < buckets; b++) {
    const from = to;
    to = 1 + Math.floor(((b + 1) * inner) / buckets);
    if (to <= from) continue;
    let lo = from;
    let hi = from;
    let low = values[from];
    let high = low;
    for (let i = from + 1; i < to; i++) {
      const v = values[i];
      if (v < low) {
        lo = i;
        low = v;
      }
      if (v > high) {
        hi = i;
        high = v;
      }
    }
    if (lo === hi) out[k++] = lo;
    else if (lo < hi) {
      out[k++] = lo;
      out[k++] = hi;
    } else {
      out[k++] = hi;
      out[k++] = lo;
    }
  }
  out[k++] = n - 1;
  return out.slice(0, k);
}
