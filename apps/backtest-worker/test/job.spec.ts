import type { JobContext } from '@ktrdr/worker-runtime';
import {
  barsCacheFor,
  runJob,
  SYNTH_LOAD_SHARE,
  type BacktestJobData,
  type BacktestJobInput,
} from '../src/job';
import { loadSettings, ResultsSettings } from '@ktrdr/config';

/** ResultsSettings' defaults (no environment), for job data built by hand. */
const RESULTS_DEFAULTS = loadSettings(ResultsSettings, { env: {} });

jest.setTimeout(120_000);

const ctx: JobContext = {
  signal: { aborted: false },
  progress: () => {},
  checkpointDue: () => false,
  checkpoint: () => {},
  log: () => {},
  phase: (_name, fn) => fn(),
  event: () => {},
};

describe('backtest job', () => {
  const bigInput = (data: Partial<BacktestJobData> = {}): BacktestJobInput => ({
    operation_id: 'op-big',
    attempt: 1,
    params: {
      symbol: 'SYNTH-BIG',
      timeframe: '1m',
      start_date: '2024-01-01',
      end_date: '2024-02-01',
      strategy: { type: 'sma_crossover', fast_period: 2, slow_period: 3 },
    },
    resume_state: null,
    resume_unit: 0,
    checkpoint: { every_units: 1e9, every_ms: 1e9 },
    data: { data_dir: '/nonexistent', models_dir: '/nonexistent', ...RESULTS_DEFAULTS, ...data },
  });

  it('keeps the completion report small and hands every trade and bar over as artifacts', () => {
    const out = runJob(bigInput(), ctx);
    if (out.status !== 'completed') throw new Error('expected a completed backtest');
    const result = out.result as {
      num_trades: number;
      trades_summary: Record<string, unknown>;
      equity_summary: Record<string, unknown>;
      bars_total: number;
    };
    expect(result.num_trades).toBeGreaterThan(5_000);
    expect(result.trades_summary).toEqual({
      total: result.num_trades,
      stored: result.num_trades,
      omitted: 0,
      cap: 1_000_000,
      selection: 'first',
    });
    expect(result.equity_summary).toMatchObject({ total: 44_640, stored: 44_640, omitted: 0 });
    expect(JSON.stringify(result).length).toBeLessThan(64 * 1024);
    expect(result).not.toHaveProperty('trades');
    const [trades, equity] = out.artifacts!;
    expect(trades.kind).toBe('trades');
    expect(trades.columns).toEqual([
      'entry_time',
      'exit_time',
      'entry_price',
      'exit_price',
      'quantity',
      'pnl',
      'return_pct',
      'bars_held',
    ]);
    expect(trades.data[0]).toHaveLength(result.num_trades);
    expect(trades.chunk_rows).toBe(RESULTS_DEFAULTS.upload_chunk_rows);
    expect(equity.columns).toEqual(['time', 'equity']);
    expect(equity.data[0]).toHaveLength(44_640);
    expect(equity.data[0][0]).toBe(Date.UTC(2024, 0, 1));
  });

  it('applies the caps and says how much was left out', () => {
    const out = runJob(bigInput({ max_trades: 100, max_equity_points: 1000 }), ctx);
    if (out.status !== 'completed') throw new Error('expected a completed backtest');
    const result = out.result as {
      num_trades: number;
      trades_summary: { stored: number; omitted: number };
      equity_summary: Record<string, unknown>;
    };
    expect(result.trades_summary).toMatchObject({ stored: 100, omitted: result.num_trades - 100 });
    expect(result.equity_summary).toEqual({
      total: 44_640,
      stored: 1000,
      omitted: 43_640,
      cap: 1000,
      selection: 'min_max_buckets',
    });
    expect(out.artifacts![0].data[0]).toHaveLength(100);
    expect(out.artifacts![1].data[1]).toHaveLength(1000);
  });

  it('returns the abort state when the flag is set', () => {
    const out = runJob(
      {
        operation_id: 'op-abort',
        attempt: 1,
        params: {
          symbol: 'SYNTH-AB',
          timeframe: '1h',
          start_date: '2024-01-01',
          end_date: '2024-02-01',
          strategy: { type: 'sma_crossover', fast_period: 5, slow_period: 20 },
        },
        resume_state: null,
        resume_unit: 0,
        checkpoint: { every_units: 1e9, every_ms: 1e9 },
        data: { data_dir: '/nonexistent', models_dir: '/nonexistent', ...RESULTS_DEFAULTS },
      },
      { ...ctx, signal: { aborted: true } },
    );
    expect(out).toMatchObject({
      status: 'aborted',
      unit: 0,
      state: { bar_index: 0, symbol: 'SYNTH-AB' },
    });
  });

  it('stops generating a long SYNTH series when cancelled, keeping the checkpoint it resumed from', () => {
    let looks = 0;
    const signal = {
      get aborted() {
        looks += 1;
        return looks >= 2;
      },
    };
    const input: BacktestJobInput = {
      operation_id: 'op-abort-load',
      attempt: 2,
      params: {
        symbol: 'SYNTH-BIG',
        timeframe: '1m',
        start_date: '2024-01-01',
        end_date: '2024-07-01',
        strategy: { type: 'sma_crossover', fast_period: 5, slow_period: 20 },
      },
      resume_state: null as unknown,
      resume_unit: 0,
      checkpoint: { every_units: 1e9, every_ms: 1e9 },
      data: { data_dir: '/nonexistent', models_dir: '/nonexistent', ...RESULTS_DEFAULTS },
    };
    expect(runJob(input, { ...ctx, signal })).toEqual({ status: 'aborted', unit: 0, state: null });
    expect(looks).toBe(2);
    const from = { bar_index: 4000, symbol: 'SYNTH-BIG' };
    looks = 0;
    expect(runJob({ ...input, resume_state: from, resume_unit: 4000 }, { ...ctx, signal })).toEqual(
      {
        status: 'aborted',
        unit: 4000,
        state: from,
      },
    );
  });

  it('reports progress while a long SYNTH series is generated, then through the bar loop', () => {
    const seen: Array<{ percentage: number; current_step?: string }> = [];
    const outcome = runJob(
      {
        operation_id: 'op-load-progress',
        attempt: 1,
        params: {
          symbol: 'SYNTH-LOADP',
          timeframe: '1m',
          start_date: '2024-01-01',
          end_date: '2024-03-01',
          strategy: { type: 'sma_crossover', fast_period: 5, slow_period: 20 },
        },
        resume_state: null as unknown,
        resume_unit: 0,
        checkpoint: { every_units: 1e9, every_ms: 1e9 },
        data: { data_dir: '/nonexistent', models_dir: '/nonexistent', ...RESULTS_DEFAULTS },
      },
      { ...ctx, progress: (p) => seen.push(p) },
    );
    expect(outcome.status).toBe('completed');
    const loading = seen.filter((p) => p.current_step?.startsWith('generating bars'));
    // ~86k bars: a report per 65,536 bars and one at the end.
    expect(loading.map((p) => p.current_step)).toEqual([
      'generating bars 65536/86400',
      'generating bars 86400/86400',
    ]);
    expect(loading[0]!.percentage).toBeCloseTo((65536 / 86400) * SYNTH_LOAD_SHARE, 6);
    expect(loading[1]!.percentage).toBe(SYNTH_LOAD_SHARE);
    const loop = seen.slice(seen.indexOf(loading[1]!) + 1);
    expect(loop.length).toBeGreaterThan(10);
    expect(loop.every((p) => p.percentage >= SYNTH_LOAD_SHARE && p.percentage <= 100)).toBe(true);
    expect(loop[loop.length - 1]!.percentage).toBe(100);
    const values = seen.map((p) => p.percentage);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
  });

  it('checkpoints on a time-based cadence (checkpoint_interval_ms), and resumes to the same result', () => {
    const input = bigInput({ checkpoint_interval_ms: 0.01 });
    const states: Array<{ unit: number; state: { bar_index: number } }> = [];
    const full = runJob(input, {
      ...ctx,
      // The unit-based cadence of the runtime is not used by backtests.
      checkpointDue: () => {
        throw new Error('backtests use their own time-based cadence');
      },
      checkpoint: (unit, state) => states.push({ unit, state: state as { bar_index: number } }),
    });
    if (full.status !== 'completed') throw new Error('expected a completed backtest');
    // Looked at every 1024 bars; with a 10 µs interval nearly every look is due.
    expect(states.length).toBeGreaterThan(5);
    for (const { unit, state } of states) {
      expect(unit).toBe(state.bar_index);
      expect(state.bar_index % 1024).toBe(0);
    }
    const mid = states[Math.floor(states.length / 2)];
    const resumed = runJob(
      {
        ...bigInput(),
        resume_state: JSON.parse(JSON.stringify(mid.state)) as unknown,
        resume_unit: mid.unit,
      },
      ctx,
    );
    if (resumed.status !== 'completed') throw new Error('expected a completed backtest');
    expect(resumed.result).toEqual({ ...full.result, resumed_from_bar: mid.unit });
    expect(resumed.artifacts).toEqual(full.artifacts);
  });

  it('writes no periodic checkpoint before the interval has passed', () => {
    const states: unknown[] = [];
    const out = runJob(bigInput({ checkpoint_interval_ms: 3_600_000 }), {
      ...ctx,
      checkpoint: (_unit, state) => states.push(state),
    });
    expect(out.status).toBe('completed');
    expect(states).toEqual([]);
  });

  it('keeps the bars between jobs of the thread (bars_cache_bytes), with the same result', () => {
    const bytes = 64 * 1024 * 1024;
    const cache = barsCacheFor(bytes)!;
    cache.clear();
    const first = runJob(bigInput({ bars_cache_bytes: bytes }), ctx);
    const second = runJob(bigInput({ bars_cache_bytes: bytes }), ctx);
    expect(cache.misses).toBeGreaterThanOrEqual(1);
    expect(cache.hits).toBe(1);
    expect(second).toEqual(first);
    expect(runJob(bigInput({ bars_cache_bytes: 0 }), ctx)).toEqual(first);
    expect(barsCacheFor(0)).toBeUndefined();
  });
});
