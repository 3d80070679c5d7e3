/**
 * The backtest job, run inside the runtime's worker_thread (never on the main event loop).
 * Loads bars (CSV in the data dir or SYNTH-*), builds the strategy (for `model`: loads the
 * model file and turns its predictions into signals), runs the engine with the runtime's abort
 * flag, progress and checkpoint hooks, and returns the result or the abort state.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  BACKTEST_DEFAULTS,
  BacktestConfig,
  BacktestResult,
  BacktestState,
  downsampleMinMax,
  isBacktestAborted,
  TRADE_COLUMNS,
  runBacktest,
  StrategyConfig,
} from '@ktrdr/backtest-engine';
import { ARTIFACT_COLUMNS } from '@ktrdr/contracts';
import type {
  BacktestStrategyDto,
  BacktestStartRequestDto,
  OperationType,
  WorkerStartRequest,
} from '@ktrdr/contracts';
import {
  BarsCache,
  checkBarsAvailable,
  loadBars,
  MarketDataAbortedError,
  type Bars,
} from '@ktrdr/market-data';
import { loadModel, predictSignals } from '@ktrdr/training-engine';
import type { JobArtifact, JobContext, JobInput, JobOutcome } from '@ktrdr/worker-runtime';

/**
 * Default of the backtests' time-based checkpoint cadence (KTRDR_CHECKPOINT_BACKTEST_INTERVAL_SECONDS),
 * for job data built by hand.
 */
export const BACKTEST_CHECKPOINT_INTERVAL_MS = 2_000;
/**
 * Percent of the progress given to generating a SYNTH-* series, when it reports progress (a long
 * one): generation takes most of such a run (about 3 s for 3M one-minute bars, the bar loop about
 * 0.4 s), so a progress that waited for the bar loop would sit at 0 % for most of the run.
 */
export const SYNTH_LOAD_SHARE = 80;

export interface BacktestJobData {
  data_dir: string;
  models_dir: string;
  /** ResultsSettings (KTRDR_RESULTS_*): caps of the stored trade list and equity curve. */
  max_trades: number;
  max_equity_points: number;
  upload_chunk_rows: number;
  /**
   * Milliseconds of running time between periodic checkpoints (CheckpointSettings
   * backtest_interval_seconds; default BACKTEST_CHECKPOINT_INTERVAL_MS).
   */
  checkpoint_interval_ms?: number;
  /**
   * Bytes of bars kept loaded between the jobs of this (reused) job thread (DataSettings
   * bars_cache_mb); 0 or absent: no cache.
   */
  bars_cache_bytes?: number;
}

/** The job thread's bars cache: lives as long as the thread (the runtime reuses it between jobs). */
let barsCache: BarsCache | null = null;

/** The cache for `maxBytes` (a new one when the budget changed), or undefined when it is off. */
export function barsCacheFor(maxBytes: number | undefined): BarsCache | undefined {
  if (!maxBytes || maxBytes <= 0) {
    barsCache = null;
    return undefined;
  }
  if (!barsCache || barsCache.maxBytes !== maxBytes) barsCache = new BarsCache(maxBytes);
  return barsCache;
}

/** `{models_dir}/{name}.json`, or `{models_dir}/{name}` when the name already has the extension. */
export function resolveModelPath(modelsDir: string, name: string): string {
  const candidates = name.endsWith('.json') ? [name] : [`${name}.json`, name];
  for (const c of candidates) {
    const path = join(modelsDir, c);
    if (existsSync(path)) return path;
  }
  throw new Error(
    `Model "${name}" not found: expected ${candidates[0]} in the models directory (models are saved there by the training worker; KTRDR_DATA_MODELS_DIR)`,
  );
}

/**
 * Fail fast (on the main thread, before the job thread starts): the data file (or SYNTH-*), its
 * header, and for a model strategy the model file (loaded and validated: it is small) must exist.
 * Throws an Error naming what is missing and where it looked; the runtime then reports the
 * operation failed within milliseconds of the dispatch.
 */
export function preflight(p: BacktestStartRequestDto, data: BacktestJobData): void {
  checkBarsAvailable({
    symbol: p.symbol,
    timeframe: p.timeframe,
    start_date: p.start_date,
    end_date: p.end_date,
    dataDir: data.data_dir,
  });
  if (p.strategy.type === 'model') {
    loadModel(resolveModelPath(data.models_dir, p.strategy.model_name ?? ''));
  }
}

/** The job data from settings-like values, after the preflight (what prepareJob returns). */
export function prepareBacktestJob(
  request: BacktestStartRequestDto,
  data: BacktestJobData,
): BacktestJobData {
  preflight(request, data);
  return { ...data };
}

/** What the data came from, without server paths (file name only). */
export function describeSource(bars: Bars): Record<string, unknown> {
  return bars.source ? { ...bars.source } : { kind: 'synthetic' };
}

export function strategyConfig(s: BacktestStrategyDto, modelPath?: string): StrategyConfig {
  switch (s.type) {
    case 'sma_crossover':
      return { type: 'sma_crossover', fast_period: s.fast_period!, slow_period: s.slow_period! };
    case 'rsi_mean_reversion':
      return {
        type: 'rsi_mean_reversion',
        period: s.period!,
        oversold: s.oversold!,
        overbought: s.overbought!,
      };
    case 'model': {
      // The engine does not read the model; the server path never goes into a result.
      const cfg: StrategyConfig = { type: 'model', model_name: s.model_name };
      void modelPath;
      if (s.threshold !== undefined) cfg.threshold = s.threshold;
      return cfg;
    }
  }
}

/** The start request of a backtest (what backtestEngine validates). */
export type BacktestStartRequest = WorkerStartRequest<OperationType.BACKTESTING>;

/** What the backtest job receives: the backtest's parameters and backtestEngine.prepareJob's data. */
export type BacktestJobInput = JobInput<BacktestStartRequest['params'], BacktestJobData>;

export function runJob(input: BacktestJobInput, ctx: JobContext): JobOutcome {
  const p = input.params;
  const data = input.data;
  let bars: Bars;
  // Set once the loader reports progress: the bar loop then fills the rest of the bar.
  let loadShare = 0;
  try {
    bars = ctx.phase(
      'load_data',
      () =>
        loadBars({
          symbol: p.symbol,
          timeframe: p.timeframe,
          start_date: p.start_date,
          end_date: p.end_date,
          dataDir: data.data_dir,
          cache: barsCacheFor(data.bars_cache_bytes),
          // Generating millions of SYNTH bars takes seconds: a cancel must not wait for it.
          signal: ctx.signal,
          onProgress: (done, total) => {
            loadShare = SYNTH_LOAD_SHARE;
            ctx.progress({
              percentage: total > 0 ? (done / total) * SYNTH_LOAD_SHARE : SYNTH_LOAD_SHARE,
              current_step: `generating bars ${done}/${total}`,
            });
          },
        }),
      { symbol: p.symbol, timeframe: p.timeframe },
    );
  } catch (err) {
    if (err instanceof MarketDataAbortedError) {
      // Nothing ran: the checkpoint to keep is the one this attempt started from (if any).
      const from = (input.resume_state ?? null) as BacktestState | null;
      return { status: 'aborted', unit: from?.bar_index ?? 0, state: from };
    }
    throw err;
  }
  if (bars.length === 0) {
    const src = bars.source;
    const has =
      src?.kind === 'csv' ? `: ${src.file} has bars from ${src.first_bar} to ${src.last_bar}` : '';
    throw new Error(
      `No bars for ${p.symbol} ${p.timeframe} between ${p.start_date} and ${p.end_date}${has}`,
    );
  }
  let signals: Int8Array | undefined;
  let modelPath: string | undefined;
  if (p.strategy.type === 'model') {
    const modelName = p.strategy.model_name!;
    const threshold = p.strategy.threshold ?? 0.5;
    signals = ctx.phase(
      'predict_signals',
      () => {
        modelPath = resolveModelPath(data.models_dir, modelName);
        return predictSignals(loadModel(modelPath), bars, threshold);
      },
      { model_name: modelName },
    );
  }
  const config: BacktestConfig = {
    strategy: strategyConfig(p.strategy, modelPath),
    initial_capital: p.initial_capital ?? BACKTEST_DEFAULTS.initial_capital,
    commission: p.commission ?? BACKTEST_DEFAULTS.commission,
    slippage: p.slippage ?? BACKTEST_DEFAULTS.slippage,
  };
  if (p.risk_free_rate !== undefined) config.risk_free_rate = p.risk_free_rate;
  const resumeFrom = (input.resume_state ?? undefined) as BacktestState | undefined;
  const startBar = resumeFrom?.bar_index ?? 0;
  ctx.event('data_loaded', { bars: bars.length, start_bar: startBar });
  const checkpointEveryMs = data.checkpoint_interval_ms ?? BACKTEST_CHECKPOINT_INTERVAL_MS;
  let lastCheckpoint = performance.now();
  try {
    const result = ctx.phase(
      'run',
      () =>
        runBacktest(bars, config, {
          // The engine only reads `.aborted`; the runtime's flag lives in shared memory.
          signal: ctx.signal as unknown as AbortSignal,
          onProgress: ({ bars_processed, bars_total }) =>
            ctx.progress({
              percentage:
                loadShare +
                (bars_total > 0
                  ? (bars_processed / bars_total) * (100 - loadShare)
                  : 100 - loadShare),
              current_step: `bar ${bars_processed}/${bars_total}`,
              items_processed: bars_processed,
              items_total: bars_total,
            }),
          // Time-based: looked at every 1024 bars (a clock read), the state is built only when due.
          checkpointDue: () => performance.now() - lastCheckpoint >= checkpointEveryMs,
          onCheckpoint: (state) => {
            lastCheckpoint = performance.now();
            ctx.checkpoint(state.bar_index, state);
          },
          resumeFrom,
          signals,
        }),
      { bars: bars.length - startBar, strategy: config.strategy.type },
    );
    const { result: wire, artifacts } = shapeResult(result, bars.time, data);
    return {
      status: 'completed',
      result: {
        symbol: p.symbol,
        timeframe: p.timeframe,
        start_date: p.start_date,
        end_date: p.end_date,
        strategy: { ...config.strategy },
        commission: config.commission,
        slippage: config.slippage,
        data_source: describeSource(bars),
        ...wire,
        resumed_from_bar: resumeFrom ? startBar : null,
      },
      artifacts,
    };
  } catch (err) {
    if (isBacktestAborted(err)) {
      return { status: 'aborted', unit: err.state.bar_index, state: err.state };
    }
    throw err;
  }
}

/**
 * The completion's result (metrics, benchmark, the downsampled curve, how much of the trade list
 * and the full curve is stored) and the artifacts uploaded before it: every trade up to
 * `max_trades` (the first ones), the equity of every bar up to `max_equity_points` (beyond it
 * reduced by min/max buckets). Nothing is left out without the summary saying how much.
 */
export function shapeResult(
  r: BacktestResult,
  time: Float64Array,
  caps: Pick<BacktestJobData, 'max_trades' | 'max_equity_points' | 'upload_chunk_rows'>,
): { result: Record<string, unknown>; artifacts: JobArtifact[] } {
  const { trades, equity, equity_points_total: _points, ...metrics } = r;
  const nTrades = Math.min(trades.length, caps.max_trades);
  // The engine's trade columns are the artifact's columns (same names, same order, times in ms).
  const cols = TRADE_COLUMNS.map((c) => trades[c].slice(0, nTrades));
  const n = equity.length;
  let eqTime: Float64Array;
  let eqValue: Float64Array;
  if (n <= caps.max_equity_points) {
    // Copies: a view into the bars would take its whole buffer through the thread boundary.
    eqTime = time.slice(0, n);
    eqValue = equity.slice();
  } else {
    const idx = downsampleMinMax(equity, caps.max_equity_points);
    eqTime = new Float64Array(idx.length);
    eqValue = new Float64Array(idx.length);
    for (let k = 0; k < idx.length; k++) {
      eqTime[k] = time[idx[k]];
      eqValue[k] = equity[idx[k]];
    }
  }
  return {
    result: {
      ...metrics,
      trades_summary: {
        total: trades.length,
        stored: nTrades,
        omitted: trades.length - nTrades,
        cap: caps.max_trades,
        selection: 'first',
      },
      equity_summary: {
        total: n,
        stored: eqValue.length,
        omitted: n - eqValue.length,
        cap: caps.max_equity_points,
        selection: n <= caps.max_equity_points ? 'all' : 'min_max_buckets',
      },
    },
    artifacts: [
      {
        kind: 'trades',
        columns: [...ARTIFACT_COLUMNS.trades],
        data: cols,
        chunk_rows: caps.upload_chunk_rows,
        // Made here for the upload: moved to the main thread, not copied.
        transfer: true,
      },
      {
        kind: 'equity',
        columns: [...ARTIFACT_COLUMNS.equity],
        data: [eqTime, eqValue],
        chunk_rows: caps.upload_chunk_rows,
        transfer: true,
      },
    ],
  };
}
