import { synthBars } from '@ktrdr/market-data';
import {
  BacktestAbortedError,
  BacktestConfig,
  BacktestState,
  isBacktestAborted,
  MAX_EQUITY_POINTS,
  runBacktest,
} from '../src';

const bars = synthBars('SYNTH-LIFECYCLE', '1h', '2024-01-01', { count: 5000 });
const configs: BacktestConfig[] = [
  {
    strategy: { type: 'sma_crossover', fast_period: 5, slow_period: 20 },
    initial_capital: 10_000,
    commission: 0.001,
    slippage: 0.0005,
  },
  {
    strategy: { type: 'rsi_mean_reversion', period: 14, oversold: 30, overbought: 70 },
    initial_capital: 10_000,
    commission: 0.001,
    slippage: 0.0005,
  },
];
const roundTrip = (s: BacktestState): BacktestState =>
  JSON.parse(JSON.stringify(s)) as BacktestState;

describe.each(configs)('checkpoint and resume ($strategy.type)', (config) => {
  const full = runBacktest(bars, config);

  it('trades on synthetic data', () => {
    expect(full.num_trades).toBeGreaterThan(3);
    expect(full.bars_processed).toBe(5000);
  });

  it('a run resumed from any checkpoint (after a JSON round trip) equals the uninterrupted run', () => {
    const states: BacktestState[] = [];
    const again = runBacktest(bars, config, {
      checkpointEvery: 777,
      onCheckpoint: (s) => states.push(s),
    });
    expect(again).toEqual(full);
    expect(states.map((s) => s.bar_index)).toEqual([777, 1554, 2331, 3108, 3885, 4662]);
    for (const s of states) {
      const resumed = runBacktest(bars, config, { resumeFrom: roundTrip(s) });
      expect(resumed).toEqual(full);
    }
  });

  it('abort throws with a state that resumes to the same result', () => {
    const ctrl = new AbortController();
    let caught: unknown;
    const progress: number[] = [];
    try {
      runBacktest(bars, config, {
        signal: ctrl.signal,
        abortCheckEvery: 100,
        progressEvery: 500,
        onProgress: (p) => {
          progress.push(p.bars_processed);
          expect(p.bars_total).toBe(5000);
          if (p.bars_processed === 2000) ctrl.abort();
        },
      });
    } catch (err) {
      caught = err;
    }
    expect(isBacktestAborted(caught)).toBe(true);
    const err = caught as BacktestAbortedError;
    expect(err.outcome).toBe('aborted');
    expect(err.state.bar_index).toBe(2000); // first abort check after the abort
    expect(progress).toEqual([500, 1000, 1500, 2000]);
    const resumed = runBacktest(bars, config, { resumeFrom: roundTrip(err.state) });
    expect(resumed).toEqual(full);
  });
});

describe('abort and resume edge cases', () => {
  const config = configs[0];

  it('an already-aborted signal stops before the first bar', () => {
    const ctrl = new AbortController();
    ctrl.abort();
    expect(() => runBacktest(bars, config, { signal: ctrl.signal })).toThrow(BacktestAbortedError);
    try {
      runBacktest(bars, config, { signal: ctrl.signal });
    } catch (err) {
      expect((err as BacktestAbortedError).state.bar_index).toBe(0);
      expect((err as BacktestAbortedError).state.cash).toBe(10_000);
    }
  });

  it('checkpoints are snapshots, not live objects', () => {
    const states: BacktestState[] = [];
    runBacktest(bars, config, { checkpointEvery: 1000, onCheckpoint: (s) => states.push(s) });
    expect(states.map((s) => s.bar_index)).toEqual([1000, 2000, 3000, 4000]);
    expect(states[0].num_trades).toBeLessThan(states[3].num_trades);
  });

  it('refuses to resume with another config or other data', () => {
    let state: BacktestState | undefined;
    runBacktest(bars, config, { checkpointEvery: 1000, onCheckpoint: (s) => (state = state ?? s) });
    const s = state as BacktestState;
    expect(() => runBacktest(bars, { ...config, commission: 0.002 }, { resumeFrom: s })).toThrow(
      /Cannot resume backtest: state was made with another config/,
    );
    const other = synthBars('SYNTH-OTHER', '1h', '2024-01-01', { count: 5000 });
    expect(() => runBacktest(other, config, { resumeFrom: s })).toThrow(
      /state is for SYNTH-LIFECYCLE 1h/,
    );
    const shorter = synthBars('SYNTH-LIFECYCLE', '1h', '2024-01-01', { count: 4000 });
    expect(() => runBacktest(shorter, config, { resumeFrom: s })).toThrow(
      /state is for 5000 bars, data has 4000/,
    );
  });

  it('progress ends with bars_processed = bars_total', () => {
    const seen: number[] = [];
    runBacktest(bars, config, { onProgress: (p) => seen.push(p.bars_processed) });
    expect(seen).toHaveLength(100); // every 1 % (50 bars) below the total, then the final call
    expect(seen[seen.length - 1]).toBe(5000);
  });
});

describe('outputs of a long run', () => {
  it('keeps every trade and the full equity; the JSON curve is downsampled with extremes kept', () => {
    const big = synthBars('SYNTH-BIG', '1m', 0, { count: 200_000 });
    const r = runBacktest(big, {
      strategy: { type: 'sma_crossover', fast_period: 2, slow_period: 3 },
      initial_capital: 1000,
      commission: 0,
      slippage: 0,
    });
    expect(r.num_trades).toBeGreaterThan(10_000);
    expect(r.trades).toHaveLength(r.num_trades);
    expect(r.equity).toHaveLength(200_000);
    expect(r.equity_points_total).toBe(200_000);
    expect(r.equity_curve.length).toBeLessThanOrEqual(MAX_EQUITY_POINTS);
    expect(r.equity_curve.length).toBeGreaterThan(MAX_EQUITY_POINTS - 10);
    expect(r.equity_curve[0].time).toBe(new Date(big.time[0]).toISOString());
    expect(r.equity_curve[r.equity_curve.length - 1]).toEqual({
      time: new Date(big.time[big.length - 1]).toISOString(),
      equity: r.final_equity,
    });
    // The global maximum and minimum of the equity are in the downsampled curve.
    const values = r.equity_curve.map((p) => p.equity);
    expect(Math.max(...values)).toBe(r.equity.reduce((a, b) => Math.max(a, b)));
    expect(Math.min(...values)).toBe(r.equity.reduce((a, b) => Math.min(a, b)));
    if (r.max_drawdown_trough) {
      expect(r.equity_curve.map((p) => p.time)).toContain(r.max_drawdown_trough);
    }
    // JSON-safe: no Infinity/NaN anywhere on the wire
    const { equity: _e, ...wire } = r;
    expect(JSON.stringify(wire)).not.toMatch(/NaN|Infinity/);
  });

  it('a resumed run checks that its replay reaches the saved state', () => {
    let state: BacktestState | undefined;
    const config = configs[0];
    runBacktest(bars, config, { checkpointEvery: 1000, onCheckpoint: (s) => (state = state ?? s) });
    const tampered = { ...(state as BacktestState), cash: 1 };
    expect(() => runBacktest(bars, config, { resumeFrom: tampered })).toThrow(
      /Cannot resume backtest: replaying bars 0..1000 gives cash/,
    );
  });
});
