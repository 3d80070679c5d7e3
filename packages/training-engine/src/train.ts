import { Bars } from '@ktrdr/market-data';
import { TrainingConfig, TrainingConfigError, validateTrainingConfig } from './config';
import { buildDataset } from './features';
import { AbortLike, EpochMetrics, EpochRecord, fitMlp, FitOptions, TrainingState } from './fit';
import { layersFromParams, MODEL_FORMAT, MODEL_VERSION, TrainedModel } from './model';
import { validationReport, ValidationReport } from './validation';

/** Summary of a completed training (snake_case: it is the operation result on the wire). */
export interface TrainingResult {
  epochs_run: number;
  stopped_early: boolean;
  /** Epoch whose weights the model keeps (lowest validation loss, or training loss without validation). */
  best_epoch: number;
  /** Metrics of the best epoch. */
  train_loss: number;
  val_loss: number | null;
  train_accuracy: number;
  val_accuracy: number | null;
  /** Every epoch, in order. */
  history: EpochRecord[];
  feature_names: string[];
  /** The standardisation (training part only) saved in the model and applied when it trades. */
  scaling: { mean: number[]; std: number[] };
  samples: { train: number; validation: number };
  /** The best epoch's weights on the validation part; null without validation data. */
  validation: ValidationReport | null;
}

export interface TrainHooks {
  /** Checked before each epoch and every `abortCheckEveryBatches` mini-batches. */
  signal?: AbortSignal | AbortLike;
  /** After each epoch; `snapshot()` builds the state at that point (e.g. for time-based checkpoints). */
  onEpoch?(m: EpochMetrics, snapshot: () => TrainingState): void;
  /** Every `checkpointEvery` epochs (default 1) with the state to persist. */
  onCheckpoint?(state: TrainingState): void;
  checkpointEvery?: number;
  abortCheckEveryBatches?: number;
  /** Continue a run from a saved state (same bars and config; `epochs` may be raised). */
  resumeFrom?: TrainingState;
  /** Clock for `created_at` (tests). */
  now?: () => Date;
}

export interface TrainOutcome {
  outcome: 'completed' | 'aborted';
  /** The state at the end of the last completed epoch (save it as a checkpoint when aborted). */
  state?: TrainingState;
  model?: TrainedModel;
  result?: TrainingResult;
}

function toFitOptions(c: TrainingConfig): FitOptions {
  return {
    hidden_layers: [...c.model.hidden_layers],
    epochs: c.epochs,
    learning_rate: c.learning_rate,
    batch_size: c.batch_size,
    early_stopping: { patience: c.early_stopping.patience, min_delta: c.early_stopping.min_delta },
    seed: c.seed,
  };
}

/** Builds the result summary from a finished state. */
export function resultFromState(
  state: TrainingState,
  featureNames: string[],
  samples: { train: number; validation: number },
  extra: Pick<TrainingResult, 'scaling' | 'validation'> = {
    scaling: { mean: [], std: [] },
    validation: null,
  },
): TrainingResult {
  const bestEpoch = state.best?.epoch ?? state.epoch;
  const best = state.history[bestEpoch - 1];
  return {
    epochs_run: state.epoch,
    stopped_early: state.stopped_early,
    best_epoch: bestEpoch,
    train_loss: best.train_loss,
    val_loss: best.val_loss,
    train_accuracy: best.train_accuracy,
    val_accuracy: best.val_accuracy,
    history: state.history.map((h) => ({ ...h })),
    feature_names: [...featureNames],
    scaling: { mean: [...extra.scaling.mean], std: [...extra.scaling.std] },
    samples: { ...samples },
    validation: extra.validation,
  };
}

/**
 * Trains a next-bar-direction classifier on `bars`: features -> time-ordered split ->
 * standardisation (training part) -> MLP with Adam and early stopping. Synchronous (run it in
 * a worker_thread). Throws TrainingConfigError for an invalid config (all problems, each
 * naming its field), DatasetError when the bars are too few, TrainingStateError for a
 * resume state that does not match.
 */
export function trainModel(
  bars: Bars,
  config: TrainingConfig,
  hooks: TrainHooks = {},
): TrainOutcome {
  const problems = validateTrainingConfig(config);
  if (problems.length > 0) throw new TrainingConfigError(problems);
  const ds = buildDataset(bars, { features: config.features }, config.validation_split);
  const fit = fitMlp(ds, toFitOptions(config), {
    signal: hooks.signal,
    onEpoch: hooks.onEpoch,
    onCheckpoint: hooks.onCheckpoint,
    checkpointEvery: hooks.checkpointEvery,
    abortCheckEveryBatches: hooks.abortCheckEveryBatches,
    resumeFrom: hooks.resumeFrom,
  });
  if (fit.outcome === 'aborted' || !fit.params) return { outcome: 'aborted', state: fit.state };
  const samples = { train: ds.nTrain, validation: ds.nVal };
  const validation = validationReport(fit.sizes, fit.params, ds.xVal, ds.yVal, ds.nVal);
  const scaling = { mean: [...ds.normalisation.mean], std: [...ds.normalisation.std] };
  const result = resultFromState(fit.state, ds.names, samples, { scaling, validation });
  const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);
  const model: TrainedModel = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    created_at: (hooks.now?.() ?? new Date()).toISOString(),
    features: { names: [...ds.names], warmup: ds.firstValidIndex },
    label: {
      kind: 'next_bar_direction',
      description: 'output = P(close[t+1] > close[t]) given the features of bar t',
    },
    normalisation: { mean: [...ds.normalisation.mean], std: [...ds.normalisation.std] },
    layers: layersFromParams(fit.sizes, fit.params),
    training: {
      symbol: bars.symbol,
      timeframe: bars.timeframe,
      start: bars.length > 0 ? iso(bars.time[0]) : null,
      end: bars.length > 0 ? iso(bars.time[bars.length - 1]) : null,
      bars: bars.length,
      config: JSON.parse(JSON.stringify(config)) as unknown,
      epochs_run: result.epochs_run,
      best_epoch: result.best_epoch,
      stopped_early: result.stopped_early,
      train_loss: result.train_loss,
      val_loss: result.val_loss,
      train_accuracy: result.train_accuracy,
      val_accuracy: result.val_accuracy,
      samples,
      validation,
    },
  };
  return { outcome: 'completed', state: fit.state, model, result };
}
