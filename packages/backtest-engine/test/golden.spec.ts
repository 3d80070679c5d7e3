import { createHash } from 'node:crypto';
import { synthBars } from '@ktrdr/market-data';
import { BacktestConfig, BacktestResult, BacktestState, runBacktest, tradeList } from '../src';

/**
 * Golden results: SHA-256 of the whole result (JSON, with the full equity curve) of two strategies
 * on 300 000 SYNTH bars, recorded before the engine loop was restructured for speed. Any change to
 * a trade, a metric or one bar of equity changes the hash. The same hash must come out with every
 * hook on (abort flag, progress, count- and time-based checkpoints) and after resuming from a
 * checkpoint.
 */
const GOLDEN: Record<string, string> = {
  sma_crossover: '38cb0e3a7a2a7fe58b485034ba0fdf17d17d8d8b74c3f1b220dfec2f4cc6e51c',
  rsi_mean_reversion: 'ce373d916171ee25373c943cd509dd9fd7cbb4b26884f071db14b718798aea19',
};

const bars = synthBars('SYNTH-GOLDEN', '1m', '2024-01-01', { count: 300_000 });
const hashOf = (r: BacktestResult): string =>
  createHash('sha256')
    .update(JSON.stringify({ ...r, trades: tradeList(r.trades), equity: Array.from(r.equity) }))
    .digest('hex');

const configs: BacktestConfig[] = [
  {
    strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
    initial_capital: 100_000,
    commission: 0.001,
    slippage: 0.0005,
    risk_free_rate: 0.03,
  },
  {
    strategy: { type: 'rsi_mean_reversion', period: 14, oversold: 30, overbought: 70 },
    initial_capital: 100_000,
    commission: 0.001,
    slippage: 0.0005,
    risk_free_rate: 0.03,
  },
];

describe.each(configs)('golden result ($strategy.type)', (config) => {
  const golden = GOLDEN[config.strategy.type];

  it('is unchanged without hooks', () => {
    expect(hashOf(runBacktest(bars, config))).toBe(golden);
  });

  it('is unchanged with every hook on, and from every resumed checkpoint', () => {
    const states: BacktestState[] = [];
    let progressCalls = 0;
    const r = runBacktest(bars, config, {
      signal: new AbortController().signal,
      abortCheckEvery: 1000,
      onProgress: () => progressCalls++,
      progressEvery: 7_777,
      checkpointEvery: 100_000,
      onCheckpoint: (s) => states.push(JSON.parse(JSON.stringify(s)) as BacktestState),
    });
    expect(hashOf(r)).toBe(golden);
    expect(progressCalls).toBe(Math.floor(299_999 / 7_777) + 1);
    expect(states.map((s) => s.bar_index)).toEqual([100_000, 200_000]);
    for (const s of states) {
      expect(hashOf(runBacktest(bars, config, { resumeFrom: s }))).toBe(golden);
    }
  });

  it('is unchanged with a time-like checkpointDue cadence (a snapshot only when due)', () => {
    const asked: number[] = [];
    const states: BacktestState[] = [];
    const r = runBacktest(bars, config, {
      signal: new AbortController().signal,
      abortCheckEvery: 1024,
      checkpointDue: (done) => {
        asked.push(done);
        return asked.length % 60 === 0;
      },
      onCheckpoint: (s) => states.push(JSON.parse(JSON.stringify(s)) as BacktestState),
    });
    expect(hashOf(r)).toBe(golden);
    // Asked at every abort-check boundary before the end, never per bar.
    expect(asked).toEqual(
      Array.from({ length: Math.floor(299_999 / 1024) }, (_, k) => (k + 1) * 1024),
    );
    expect(states.map((s) => s.bar_index)).toEqual([1, 2, 3, 4].map((k) => k * 60 * 1024));
    for (const s of states) {
      expect(hashOf(runBacktest(bars, config, { resumeFrom: s }))).toBe(golden);
    }
  });
});
