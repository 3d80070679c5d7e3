import { allocBars, Bars, MS_PER_YEAR, synthBars } from '@ktrdr/market-data';
import {
  BacktestConfig,
  computeMetrics,
  downsampleMinMax,
  drawdownOf,
  KEPT_RETURNS_BARS,
  periodOf,
  returnStats,
  runBacktest,
  Trade,
  tradeColumnsOf,
  tradeList,
  validateBacktestConfig,
} from '../src';
import { DAY, T0, makeBars } from './support/helpers';

const HOUR = 3_600_000;
const isoOf = (ms: number): string => new Date(ms).toISOString();

/** Daily times T0, T0+1d, … */
const days = (n: number): number[] => Array.from({ length: n }, (_, i) => T0 + i * DAY);

describe('a constant series', () => {
  const time = days(30);
  const equity = time.map(() => 1000);
  const { period, metrics, benchmark } = computeMetrics({
    time,
    equity,
    close: equity,
    initial_capital: 1000,
    trades: tradeColumnsOf([]),
    risk_free_rate: 0.03,
  });

  it('has no return, no risk and undefined ratios', () => {
    expect(period).toEqual({
      first_bar: isoOf(T0),
      last_bar: isoOf(T0 + 29 * DAY),
      bars: 30,
      calendar_days: 29,
      years: 29 / 365.25,
      bars_per_year: 29 / (29 / 365.25),
    });
    expect(metrics.total_return).toBe(0);
    expect(metrics.annualized_return).toBe(0);
    expect(metrics.volatility).toBe(0);
    expect(metrics.sharpe_ratio).toBeNull();
    // a 3 % risk-free rate makes every bar a shortfall, but the ratio divides by zero spread
    expect(metrics.max_drawdown).toBe(0);
    expect(metrics.max_drawdown_start).toBeNull();
    expect(metrics.max_drawdown_duration_days).toBe(0);
    expect(metrics.calmar_ratio).toBeNull();
    expect(metrics.num_trades).toBe(0);
    expect(metrics.win_rate).toBeNull();
    expect(metrics.profit_factor).toBeNull();
    expect(metrics.expectancy).toBeNull();
    expect(metrics.exposure).toBe(0);
    expect(benchmark.total_return).toBe(0);
    expect(metrics.excess_return).toBe(0);
  });
});

describe('a doubling', () => {
  it('over two calendar years annualises to √2 − 1', () => {
    // equity grows smoothly (daily) from 1000 to 2000 over 2 × 365.25 days
    const n = 731;
    const span = 2 * MS_PER_YEAR;
    const time = Array.from({ length: n }, (_, i) => T0 + (i * span) / (n - 1));
    const equity = time.map((_, i) => 1000 * Math.pow(2, i / (n - 1)));
    const { period, metrics } = computeMetrics({
      time,
      equity,
      close: equity,
      initial_capital: 1000,
      trades: tradeColumnsOf([]),
    });
    expect(period.years).toBeCloseTo(2, 12);
    expect(period.bars_per_year).toBeCloseTo(365, 9);
    expect(metrics.total_return).toBeCloseTo(1, 12);
    expect(metrics.annualized_return).toBeCloseTo(Math.SQRT2 - 1, 12);
    expect(metrics.max_drawdown).toBe(0);
    expect(metrics.volatility).toBe(0); // every per-bar return is the same
    expect(metrics.calmar_ratio).toBeNull();
  });

  it('of the price is the buy-and-hold benchmark; a flat strategy trails it by 100 %', () => {
    // closes 10 → 20 over 5 daily bars; no crossover ever happens with fast 1 / slow 2 on a
    // steady rise after the first move, so the strategy is flat or in briefly.
    const closes = [10, 12.5, 15, 17.5, 20];
    const bars = makeBars(closes, closes);
    const r = runBacktest(bars, {
      strategy: { type: 'rsi_mean_reversion', period: 2, oversold: 1, overbought: 99 },
      initial_capital: 1000,
      commission: 0,
      slippage: 0,
    });
    expect(r.num_trades).toBe(0);
    expect(r.benchmark.kind).toBe('buy_and_hold');
    expect(r.benchmark.total_return).toBeCloseTo(1, 12);
    expect(r.benchmark.final_equity).toBeCloseTo(2000, 9);
    expect(r.benchmark.annualized_return).toBeCloseTo(Math.pow(2, 365.25 / 4) - 1, 6);
    expect(r.total_return).toBe(0);
    expect(r.excess_return).toBeCloseTo(-1, 12);
  });
});

describe('a known drawdown', () => {
  // initial 100; peak 120 on day 1, trough 60 on day 3 (−50 %), back at 120 on day 5
  const time = days(7);
  const equity = [100, 120, 90, 60, 90, 120, 130];

  it('has its depth, dates and duration', () => {
    expect(drawdownOf(time, equity, 100)).toEqual({
      max_drawdown: 0.5,
      max_drawdown_start: isoOf(T0 + DAY),
      max_drawdown_trough: isoOf(T0 + 3 * DAY),
      max_drawdown_recovery: isoOf(T0 + 5 * DAY),
      max_drawdown_duration_bars: 4,
      max_drawdown_duration_days: 4,
    });
  });

  it('gives Calmar = annualised return / max drawdown', () => {
    const { metrics } = computeMetrics({
      time,
      equity,
      close: equity,
      initial_capital: 100,
      trades: tradeColumnsOf([]),
    });
    const annualised = Math.pow(1.3, 365.25 / 6) - 1;
    expect(metrics.annualized_return).toBeCloseTo(annualised, 0);
    expect(metrics.calmar_ratio).toBeCloseTo(annualised / 0.5, 0);
  });

  it('an unrecovered drawdown lasts until the last bar', () => {
    const dd = drawdownOf(days(5), [100, 110, 99, 88, 100], 100);
    expect(dd.max_drawdown).toBeCloseTo(0.2, 12);
    expect(dd.max_drawdown_start).toBe(isoOf(T0 + DAY));
    expect(dd.max_drawdown_trough).toBe(isoOf(T0 + 3 * DAY));
    expect(dd.max_drawdown_recovery).toBeNull();
    expect(dd.max_drawdown_duration_bars).toBe(3);
    expect(dd.max_drawdown_duration_days).toBe(3);
  });

  it('a fall below the initial capital from the first bar starts at the first bar', () => {
    const dd = drawdownOf(days(3), [90, 80, 95], 100);
    expect(dd.max_drawdown).toBeCloseTo(0.2, 12);
    expect(dd.max_drawdown_start).toBe(isoOf(T0));
    expect(dd.max_drawdown_trough).toBe(isoOf(T0 + DAY));
  });
});

/** Weekday session bars, 7 hourly bars per day (14:30 … 20:30 UTC), like a US-equity CSV. */
function sessionTimes(weeks: number): number[] {
  const out: number[] = [];
  const monday = Date.UTC(2024, 0, 1); // a Monday
  for (let d = 0; d < weeks * 7; d++) {
    const day = monday + d * DAY;
    const dow = new Date(day).getUTCDay();
    if (dow === 0 || dow === 6) continue;
    for (let h = 0; h < 7; h++) out.push(day + 14.5 * HOUR + h * HOUR);
  }
  return out;
}

describe('calendars', () => {
  it('session hours: a year of 7-hour weekdays is annualised over the calendar, not 24/7', () => {
    const time = sessionTimes(52); // 260 days × 7 = 1820 bars, Jan 1 … Dec 27
    const n = time.length;
    expect(n).toBe(1820);
    // +0.2 % and −0.1 % alternately
    const equity = [1000];
    for (let i = 1; i < n; i++) equity.push(equity[i - 1] * (i % 2 === 1 ? 1.002 : 0.999));
    const { period, metrics } = computeMetrics({
      time,
      equity,
      close: equity,
      initial_capital: 1000,
      trades: tradeColumnsOf([]),
    });
    const years = (time[n - 1] - time[0]) / MS_PER_YEAR; // 361 days + 6 h
    expect(period.years).toBeCloseTo(years, 12);
    expect(period.years).toBeCloseTo((361 + 6 / 24) / 365.25, 12);
    expect(period.bars_per_year).toBeCloseTo(1819 / years, 9);
    const final = equity[n - 1];
    expect(metrics.annualized_return).toBeCloseTo(Math.pow(final / 1000, 1 / years) - 1, 12);
    // the 24/7 assumption (n bars × 1 h as the span) would compound the same gain ~4.8×
    const naiveYears = (n * HOUR) / MS_PER_YEAR;
    expect(Math.pow(final / 1000, 1 / naiveYears) - 1).toBeGreaterThan(
      4 * (metrics.annualized_return as number),
    );
    // Sharpe: returns alternate +0.002 / −0.001 → mean ≈ 0.0005, sample std ≈ 0.0015
    const r = equity.slice(1).map((e, i) => e / equity[i] - 1);
    const mean = r.reduce((a, b) => a + b, 0) / r.length;
    const sd = Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / (r.length - 1));
    expect(mean).toBeCloseTo(0.0005, 5);
    expect(metrics.sharpe_ratio).toBeCloseTo((mean / sd) * Math.sqrt(1819 / years), 9);
    expect(metrics.volatility).toBeCloseTo(sd * Math.sqrt(1819 / years), 12);
  });

  it('daily weekday bars: about 252 returns a year, and the risk-free rate lowers Sharpe', () => {
    const time = days(364).filter((t) => ![0, 6].includes(new Date(t).getUTCDay()));
    const n = time.length; // 260
    const equity = [100];
    for (let i = 1; i < n; i++) equity.push(equity[i - 1] * (1 + 0.01 * Math.sin(i)));
    const years = (time[n - 1] - time[0]) / MS_PER_YEAR;
    const period = periodOf(time);
    expect(period.bars_per_year).toBeCloseTo((n - 1) / years, 9);
    expect(period.bars_per_year).toBeGreaterThan(250);
    expect(period.bars_per_year).toBeLessThan(265);
    const rf = 0.05;
    const bpy = (n - 1) / years;
    const r = equity.slice(1).map((e, i) => e / equity[i] - 1);
    const rfBar = Math.pow(1.05, 1 / bpy) - 1;
    const mean = r.reduce((a, b) => a + b, 0) / r.length;
    const sd = Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / (r.length - 1));
    const downside = Math.sqrt(r.reduce((a, x) => a + Math.min(0, x - rfBar) ** 2, 0) / r.length);
    const s0 = returnStats(equity, 100, period, 0);
    const s5 = returnStats(equity, 100, period, rf);
    expect(s5.sharpe_ratio).toBeCloseTo(((mean - rfBar) / sd) * Math.sqrt(bpy), 9);
    expect(s5.sortino_ratio).toBeCloseTo(((mean - rfBar) / downside) * Math.sqrt(bpy), 9);
    expect(s5.sharpe_ratio as number).toBeLessThan(s0.sharpe_ratio as number);
    expect(s5.volatility).toBe(s0.volatility);
  });

  it('an equity that touches 0 (an infinite return) gives null ratios, not a number', () => {
    const time = days(5);
    const period = periodOf(time);
    const s = returnStats([100, 0, 50, 60, 70], 100, period, 0.02);
    expect(s.sharpe_ratio).toBeNull();
    expect(s.sortino_ratio).toBeNull();
    expect(s.total_return).toBeCloseTo(-0.3, 12);
  });

  it('the downside deviation counts only the bars below the risk-free rate', () => {
    const time = days(6);
    const period = periodOf(time);
    const equity = [100, 101, 99, 99.5, 98, 100];
    const bpy = period.bars_per_year as number;
    const rfBar = Math.pow(1.02, 1 / bpy) - 1;
    const r = equity.slice(1).map((e, i) => e / equity[i] - 1);
    let down = 0;
    for (const x of r) if (x - rfBar < 0) down += (x - rfBar) ** 2;
    const mean = r.reduce((a, b) => a + b, 0) / r.length;
    const s = returnStats(equity, 100, period, 0.02);
    expect(s.sortino_ratio).toBe(((mean - rfBar) / Math.sqrt(down / r.length)) * Math.sqrt(bpy));
  });

  it('a single bar has no span: annualised figures are null', () => {
    const { metrics, period } = computeMetrics({
      time: [T0],
      equity: [1000],
      close: [5],
      initial_capital: 1000,
      trades: tradeColumnsOf([]),
    });
    expect(period.years).toBe(0);
    expect(period.bars_per_year).toBeNull();
    expect(metrics.annualized_return).toBeNull();
    expect(metrics.sharpe_ratio).toBeNull();
  });
});

describe('trade statistics by hand', () => {
  const trade = (pnl: number, days: number, bars: number): Trade => ({
    entry_time: isoOf(T0),
    exit_time: isoOf(T0 + days * DAY),
    entry_price: 10,
    exit_price: 10,
    quantity: 1,
    pnl,
    return_pct: pnl / 100,
    bars_held: bars,
  });
  it('win rate, profit factor, averages, expectancy and holding time', () => {
    const trades = [trade(30, 2, 2), trade(-10, 1, 1), trade(20, 4, 4), trade(-20, 1, 1)];
    const time = days(10);
    const { metrics } = computeMetrics({
      time,
      equity: time.map(() => 1000),
      close: time.map(() => 1),
      initial_capital: 1000,
      trades: tradeColumnsOf(trades),
    });
    expect(metrics).toMatchObject({
      num_trades: 4,
      win_rate: 0.5,
      profit_factor: 50 / 30,
      avg_win: 25,
      avg_loss: -15,
      expectancy: 5,
      avg_trade_return: 0.05,
      avg_holding_bars: 2,
      avg_holding_days: 2,
      exposure: 0.8, // 8 of 10 bars
    });
  });
});

/**
 * The reference: rebuilds the equity of every bar from the trade list alone (all-in entries, so
 * while a trade is open the equity is quantity × close, and at its exit bar's close it is the
 * entry cost + pnl), then computes each metric in the plainest way.
 */
function reference(bars: Bars, trades: Trade[], initial: number, rf: number) {
  const t = Array.from(bars.time);
  const c = Array.from(bars.close);
  const n = t.length;
  const idx = new Map(t.map((x, i) => [isoOf(x), i]));
  const eq: number[] = new Array<number>(n).fill(NaN);
  let cash = initial;
  let k = 0;
  for (const tr of trades) {
    const entry = idx.get(tr.entry_time)!;
    const exit = idx.get(tr.exit_time)!;
    for (; k < entry; k++) eq[k] = cash;
    for (; k < exit; k++) eq[k] = tr.quantity * c[k];
    cash += tr.pnl;
    eq[k] = cash;
    k++;
  }
  for (; k < n; k++) eq[k] = cash;

  const years = (t[n - 1] - t[0]) / (365.25 * 86_400_000);
  const bpy = (n - 1) / years;
  const rets = eq.slice(1).map((e, i) => e / eq[i] - 1);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const mean = avg(rets);
  const sd = Math.sqrt(rets.reduce((a, r) => a + (r - mean) ** 2, 0) / (rets.length - 1));
  const rfBar = Math.pow(1 + rf, 1 / bpy) - 1;
  const downside = Math.sqrt(avg(rets.map((r) => Math.min(0, r - rfBar) ** 2)));
  let peak = initial;
  let mdd = 0;
  for (const e of eq) {
    peak = Math.max(peak, e);
    mdd = Math.max(mdd, (peak - e) / peak);
  }
  const wins = trades.filter((x) => x.pnl > 0);
  const losses = trades.filter((x) => x.pnl < 0);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const total = eq[n - 1] / initial - 1;
  const annual = Math.pow(eq[n - 1] / initial, 1 / years) - 1;
  const bhTotal = c[n - 1] / c[0] - 1;
  return {
    equity: eq,
    total_return: total,
    annualized_return: annual,
    volatility: sd * Math.sqrt(bpy),
    sharpe_ratio: ((mean - rfBar) / sd) * Math.sqrt(bpy),
    sortino_ratio: ((mean - rfBar) / downside) * Math.sqrt(bpy),
    max_drawdown: mdd,
    calmar_ratio: annual / mdd,
    win_rate: wins.length / trades.length,
    profit_factor: sum(wins.map((x) => x.pnl)) / -sum(losses.map((x) => x.pnl)),
    avg_win: avg(wins.map((x) => x.pnl)),
    avg_loss: avg(losses.map((x) => x.pnl)),
    expectancy: avg(trades.map((x) => x.pnl)),
    exposure: sum(trades.map((x) => x.bars_held)) / n,
    benchmark_total_return: bhTotal,
    excess_return: total - bhTotal,
  };
}

describe('the engine against an independent reference over the same trades', () => {
  const cases: [string, Bars, BacktestConfig][] = [
    [
      'sma 5/20 on hourly synthetic bars with costs, rf 4 %',
      synthBars('SYNTH-REF', '1h', '2024-01-01', { count: 6000 }),
      {
        strategy: { type: 'sma_crossover', fast_period: 5, slow_period: 20 },
        initial_capital: 50_000,
        commission: 0.001,
        slippage: 0.0005,
        risk_free_rate: 0.04,
      },
    ],
    [
      'rsi 5 on daily synthetic bars, rf 0',
      synthBars('SYNTH-REF-D', '1d', '2015-01-01', { count: 2500 }),
      {
        strategy: { type: 'rsi_mean_reversion', period: 5, oversold: 40, overbought: 60 },
        initial_capital: 10_000,
        commission: 0.0005,
        slippage: 0,
      },
    ],
  ];
  it.each(cases)('%s', (_name, bars, config) => {
    const r = runBacktest(bars, config);
    expect(r.num_trades).toBeGreaterThan(20);
    const ref = reference(
      bars,
      tradeList(r.trades),
      config.initial_capital,
      config.risk_free_rate ?? 0,
    );
    // The trade list explains the equity of every bar.
    for (let i = 0; i < bars.length; i++) {
      expect(r.equity[i]).toBeCloseTo(ref.equity[i], 6);
    }
    expect(r.total_return).toBeCloseTo(ref.total_return, 10);
    expect(r.annualized_return).toBeCloseTo(ref.annualized_return, 8);
    expect(r.volatility).toBeCloseTo(ref.volatility, 8);
    expect(r.sharpe_ratio).toBeCloseTo(ref.sharpe_ratio, 8);
    expect(r.sortino_ratio).toBeCloseTo(ref.sortino_ratio, 8);
    expect(r.max_drawdown).toBeCloseTo(ref.max_drawdown, 10);
    expect(r.calmar_ratio).toBeCloseTo(ref.calmar_ratio, 8);
    expect(r.win_rate).toBeCloseTo(ref.win_rate, 12);
    expect(r.profit_factor).toBeCloseTo(ref.profit_factor, 10);
    expect(r.avg_win).toBeCloseTo(ref.avg_win, 8);
    expect(r.avg_loss).toBeCloseTo(ref.avg_loss, 8);
    expect(r.expectancy).toBeCloseTo(ref.expectancy, 8);
    expect(r.exposure).toBeCloseTo(ref.exposure, 12);
    expect(r.benchmark.total_return).toBeCloseTo(ref.benchmark_total_return, 10);
    expect(r.excess_return).toBeCloseTo(ref.excess_return, 10);
  });
});

describe('a run longer than the kept returns buffer', () => {
  it('has the same return statistics as a plain two-pass computation', () => {
    const n = KEPT_RETURNS_BARS + 1;
    const time = new Float64Array(n);
    const equity = new Float64Array(n);
    const close = new Float64Array(n);
    // Deterministic walks (no trigonometry: this runs over 5 M values).
    let e = 1000;
    let c = 50;
    for (let i = 0; i < n; i++) {
      time[i] = T0 + i * 60_000;
      e *= 1 + (((i * 7919) % 13) - 6) * 1e-4;
      c *= 1 + (((i * 104729) % 11) - 5) * 2e-4;
      equity[i] = e;
      close[i] = c;
    }
    const { metrics, benchmark, period } = computeMetrics({
      time,
      equity,
      close,
      initial_capital: 1000,
      trades: tradeColumnsOf([]),
    });
    const plain = (v: Float64Array) => {
      let sum = 0;
      for (let i = 1; i < n; i++) sum += v[i] / v[i - 1] - 1;
      const mean = sum / (n - 1);
      let squares = 0;
      let down = 0;
      for (let i = 1; i < n; i++) {
        const r = v[i] / v[i - 1] - 1;
        squares += (r - mean) * (r - mean);
        if (r < 0) down += r * r;
      }
      const scale = Math.sqrt(period.bars_per_year!);
      const sd = Math.sqrt(squares / (n - 2));
      return { volatility: sd * scale, sortino: (mean / Math.sqrt(down / (n - 1))) * scale };
    };
    const hold = close.map((x) => (1000 * x) / close[0]);
    const ofEquity = plain(equity);
    const ofHold = plain(hold);
    expect(metrics.volatility).toBeCloseTo(ofEquity.volatility, 9);
    expect(metrics.sortino_ratio).toBeCloseTo(ofEquity.sortino, 6);
    expect(benchmark.volatility).toBeCloseTo(ofHold.volatility, 9);
    expect(benchmark.sortino_ratio).toBeCloseTo(ofHold.sortino, 6);
  });
});

describe('downsampleMinMax', () => {
  it('keeps everything when short and the first, last and bucket extremes otherwise', () => {
    expect(Array.from(downsampleMinMax([1, 2, 3], 10))).toEqual([0, 1, 2]);
    const v = Array.from({ length: 1000 }, (_, i) => Math.sin(i / 7) + (i === 613 ? -5 : 0));
    const idx = Array.from(downsampleMinMax(v, 50));
    expect(idx.length).toBeLessThanOrEqual(50);
    expect(idx[0]).toBe(0);
    expect(idx[idx.length - 1]).toBe(999);
    expect(idx).toContain(613); // the spike survives
    expect([...idx].sort((a, b) => a - b)).toEqual(idx); // in time order
    expect(() => downsampleMinMax(v, 3)).toThrow(RangeError);
  });
});

describe('downsampleMinMax against a plain reference', () => {
  /** The buckets written the plainest way: min and max of each (first on ties), in time order. */
  function reference(values: number[], maxPoints: number): number[] {
    const n = values.length;
    if (n <= maxPoints) return values.map((_, i) => i);
    const buckets = Math.floor((maxPoints - 2) / 2);
    const out = [0];
    for (let b = 0; b < buckets; b++) {
      const from = 1 + Math.floor((b * (n - 2)) / buckets);
      const to = 1 + Math.floor(((b + 1) * (n - 2)) / buckets);
      if (to <= from) continue;
      const slice = values.slice(from, to);
      const lo = from + slice.indexOf(Math.min(...slice));
      const hi = from + slice.indexOf(Math.max(...slice));
      out.push(...(lo === hi ? [lo] : [Math.min(lo, hi), Math.max(lo, hi)]));
    }
    out.push(n - 1);
    return out;
  }
  it.each([
    [1000, 50],
    [1001, 4],
    [777, 776],
    [5000, 1234],
  ])('%i points into %i (with ties)', (n, maxPoints) => {
    let seed = n;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    // Rounded to a few levels so that many buckets hold equal values.
    const v = Array.from({ length: n }, () => Math.round(rand() * 8));
    expect(Array.from(downsampleMinMax(v, maxPoints))).toEqual(reference(v, maxPoints));
  });
});

describe('risk_free_rate in the config', () => {
  it('is optional and bounded', () => {
    const base = {
      strategy: { type: 'sma_crossover', fast_period: 2, slow_period: 5 },
      initial_capital: 1000,
      commission: 0,
      slippage: 0,
    };
    expect(validateBacktestConfig({ ...base, risk_free_rate: 0.05 })).toEqual([]);
    expect(validateBacktestConfig({ ...base, risk_free_rate: 0.5 })).toEqual([
      'risk_free_rate must be a number between -0.1 and 0.25',
    ]);
    const empty = allocBars('X', '1d', 0);
    expect(runBacktest(empty, { ...(base as BacktestConfig) }).risk_free_rate).toBe(0);
  });
});
