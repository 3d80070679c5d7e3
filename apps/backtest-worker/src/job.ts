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
  BacktestState,
  isBacktestAborted,
  runBacktest,
  StrategyConfig,
} from '@ktrdr/backtest-engine';
import type { BacktestStrategyDto, BacktestStartRequestDto } from '@ktrdr/contracts';
import { loadBars, MarketDataAbortedError, type Bars } from '@ktrdr/market-data';
import { loadModel, predictSignals } from '@ktrdr/training-engine';
import type { JobContext, JobInput, JobOutcome } from '@ktrdr/worker-runtime';

/** Checkpoint cadence unit for backtests: thousands of bars (KTRDR_CHECKPOINT_EPOCH_INTERVAL). */
export const BARS_PER_CHECKPOINT_UNIT = 1000;
/** Trades kept in the operation result (the engine keeps up to 1000; reports stay small). */
export const MAX_RESULT_TRADES = 100;
/**
 * Percent of the progress given to generating a SYNTH-* series, when it reports progress (a long
 * one): generation takes most of such a run (about 3 s for 3M one-minute bars, the bar loop about
 * 0.4 s), so a progress that waited for the bar loop would sit at 0 % for most of the run.
 */
export const SYNTH_LOAD_SHARE = 80;

export interface BacktestJobData {
  data_dir: string;
  models_dir: string;
}

/** `{models_dir}/{name}.json`, or `{models_dir}/{name}` when the name already has the extension. */
export function resolveModelPath(modelsDir: string, name: string): string {
  const candidates = name.endsWith('.json') ? [name] : [`${name}.json`, name];
  for (const c of candidates) {
    const path = join(modelsDir, c);
    if (existsSync(path)) return path;
  }
  throw new Error(
    `Model "${name}" not found: expected ${join(modelsDir, candidates[0])} (models are saved there by the training worker; KTRDR_DATA_MODELS_DIR)`,
  );
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
      const cfg: StrategyConfig = { type: 'model', model_name: s.model_name };
      if (modelPath) cfg.model_path = modelPath;
      if (s.threshold !== undefined) cfg.threshold = s.threshold;
      return cfg;
    }
  }
}

export function runJob(input: JobInput, ctx: JobContext): JobOutcome {
  const p = input.params as unknown as BacktestStartRequestDto;
  const data = input.data as unknown as BacktestJobData;
  let bars: Bars;
  // Set once the loader reports progress: the bar loop then fills the rest of the bar.
  let loadShare = 0;
  try {
    bars = loadBars({
      symbol: p.symbol,
      timeframe: p.timeframe,
      start_date: p.start_date,
      end_date: p.end_date,
      dataDir: data.data_dir,
      // Generating millions of SYNTH bars takes seconds: a cancel must not wait for it.
      signal: ctx.signal,
      onProgress: (done, total) => {
        loadShare = SYNTH_LOAD_SHARE;
        ctx.progress({
          percentage: total > 0 ? (done / total) * SYNTH_LOAD_SHARE : SYNTH_LOAD_SHARE,
          current_step: `generating bars ${done}/${total}`,
        });
      },
    });
  } catch (err) {
    if (err instanceof MarketDataAbortedError) {
      // Nothing ran: the checkpoint to keep is the one this attempt started from (if any).
      const from = (input.resume_state ?? null) as BacktestState | null;
      return { status: 'aborted', unit: from?.bar_index ?? 0, state: from };
    }
    throw err;
  }
  if (bars.length === 0) {
    throw new Error(
      `No bars for ${p.symbol} ${p.timeframe} between ${p.start_date} and ${p.end_date}`,
    );
  }
  let signals: Int8Array | undefined;
  let modelPath: string | undefined;
  if (p.strategy.type === 'model') {
    modelPath = resolveModelPath(data.models_dir, p.strategy.model_name!);
    const model = loadModel(modelPath);
    signals = predictSignals(model, bars, p.strategy.threshold ?? 0.5);
  }
  const config: BacktestConfig = {
    strategy: strategyConfig(p.strategy, modelPath),
    initial_capital: p.initial_capital ?? BACKTEST_DEFAULTS.initial_capital,
    commission: p.commission ?? BACKTEST_DEFAULTS.commission,
    slippage: p.slippage ?? BACKTEST_DEFAULTS.slippage,
  };
  const resumeFrom = (input.resume_state ?? undefined) as BacktestState | undefined;
  const startBar = resumeFrom?.bar_index ?? 0;
  const total = bars.length;
  try {
    const result = runBacktest(bars, config, {
      // The engine only reads `.aborted`; the runtime's flag lives in shared memory.
      signal: ctx.signal as unknown as AbortSignal,
      onProgress: ({ bars_processed, bars_total }) =>
        ctx.progress({
          percentage:
            loadShare +
            (bars_total > 0 ? (bars_processed / bars_total) * (100 - loadShare) : 100 - loadShare),
          current_step: `bar ${bars_processed}/${bars_total}`,
          items_processed: bars_processed,
          items_total: bars_total,
        }),
      checkpointEvery: BARS_PER_CHECKPOINT_UNIT,
      onCheckpoint: (state) => {
        const units = Math.floor((state.bar_index - startBar) / BARS_PER_CHECKPOINT_UNIT);
        if (ctx.checkpointDue(units)) ctx.checkpoint(state.bar_index, state);
      },
      resumeFrom,
      signals,
    });
    const trades = result.trades.slice(0, MAX_RESULT_TRADES);
    return {
      status: 'completed',
      result: {
        ...result,
        trades,
        trades_truncated: result.trades_truncated || result.trades.length > trades.length,
        symbol: p.symbol,
        timeframe: p.timeframe,
        start_date: p.start_date,
        end_date: p.end_date,
        strategy: { ...config.strategy },
        commission: config.commission,
        slippage: config.slippage,
        resumed_from_bar: resumeFrom ? startBar : null,
        bars_total_loaded: total,
      },
    };
  } catch (err) {
    if (isBacktestAborted(err)) {
      return { status: 'aborted', unit: err.state.bar_index, state: err.state };
    }
    throw err;
  }
}
