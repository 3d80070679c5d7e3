import { Adam } from './adam';
import { initParams, mlpLayout, MlpRunner } from './mlp';
import { Rng, RngState } from './rng';

/** Metrics of one completed epoch (one entry of the history). */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  train_loss: number;
  /** null when there is no validation data. */
  val_loss: number | null;
  train_accuracy: number;
  val_accuracy: number | null;
}

/** What `onEpoch` receives: the epoch's record plus progress information. */
export interface EpochMetrics extends EpochRecord {
  /** Configured maximum number of epochs. */
  total_epochs: number;
  /** Epoch with the lowest monitored loss so far. */
  best_epoch: number;
  /** True when this epoch improved the monitored loss by more than min_delta. */
  improved: boolean;
}

/** Training data already standardised: row-major `n x cols` matrices, labels 0/1. */
export interface FitData {
  cols: number;
  xTrain: Float64Array;
  yTrain: Float64Array;
  nTrain: number;
  xVal: Float64Array;
  yVal: Float64Array;
  nVal: number;
}

/** Optimisation settings (the model part of TrainingConfig). */
export interface FitOptions {
  hidden_layers: number[];
  epochs: number;
  learning_rate: number;
  batch_size: number;
  early_stopping: { patience: number; min_delta: number };
  seed: number;
}

/** Anything with an `aborted` flag: an AbortSignal, or an object backed by a shared flag. */
export interface AbortLike {
  readonly aborted: boolean;
}

/**
 * Complete, JSON-serialisable state of a training run at an epoch boundary. Passing it back as
 * `resumeFrom` (with the same data and options) continues the run exactly as if it had never
 * stopped.
 */
export interface TrainingState {
  kind: 'ktrdr-mlp-training-state';
  version: 1;
  /** Number of completed epochs. */
  epoch: number;
  /** Layer sizes [inputs, ...hidden, 1]. */
  sizes: number[];
  /** The options the run was started with (epochs may be raised on resume). */
  options: FitOptions;
  /** FNV-1a hash of the training/validation data, to refuse a resume on other data. */
  data_fingerprint: string;
  params: number[];
  adam: { t: number; m: number[]; v: number[] };
  best: { epoch: number; loss: number; params: number[] } | null;
  epochs_without_improvement: number;
  stopped_early: boolean;
  history: EpochRecord[];
  /** RNG state at the start of the next epoch (before its shuffle). */
  rng: RngState;
}

export interface FitHooks {
  signal?: AbortLike;
  /** Called after every epoch; `snapshot()` gives the state at the end of that epoch. */
  onEpoch?(m: EpochMetrics, snapshot: () => TrainingState): void;
  onCheckpoint?(state: TrainingState): void;
  /** Call onCheckpoint every N completed epochs (default 1 when onCheckpoint is set). */
  checkpointEvery?: number;
  /** Check the abort signal every N mini-batches inside an epoch (default 16). */
  abortCheckEveryBatches?: number;
  resumeFrom?: TrainingState;
}

export interface FitOutcome {
  outcome: 'completed' | 'aborted';
  /** State to save: at the end of the last completed epoch. */
  state: TrainingState;
  /** Final parameters (the best epoch's) when completed. */
  params?: Float64Array;
  sizes: number[];
}

/** Thrown for a resume state that does not match the run or is malformed. */
export class TrainingStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingStateError';
  }
}

/** Thrown when the loss becomes NaN/Infinity (learning rate too high, bad data). */
export class TrainingDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}

function fnv1a(h: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Fingerprint of the data a run trains on (shape, values, labels). */
export function dataFingerprint(d: FitData): string {
  let h = 0x811c9dc5;
  h = fnv1a(h, new Uint8Array(new Float64Array([d.cols, d.nTrain, d.nVal]).buffer));
  for (const a of [d.xTrain, d.yTrain, d.xVal, d.yVal]) {
    h = fnv1a(h, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.toString(16).padStart(8, '0');
}

function finiteArray(a: unknown, len: number): a is number[] {
  return (
    Array.isArray(a) &&
    a.length === len &&
    a.every((x) => typeof x === 'number' && Number.isFinite(x))
  );
}

function checkResume(state: TrainingState, sizes: number[], opts: FitOptions, fp: string): void {
  if (state?.kind !== 'ktrdr-mlp-training-state' || state.version !== 1) {
    throw new TrainingStateError('resumeFrom is not a ktrdr-mlp training state (version 1)');
  }
  if (JSON.stringify(state.sizes) !== JSON.stringify(sizes)) {
    throw new TrainingStateError(
      `resumeFrom has layer sizes ${JSON.stringify(state.sizes)} but this run has ${JSON.stringify(sizes)} (features or model.hidden_layers changed)`,
    );
  }
  const o = state.options;
  const fields: (keyof FitOptions)[] = ['learning_rate', 'batch_size', 'seed', 'early_stopping'];
  for (const f of fields) {
    if (JSON.stringify(o?.[f]) !== JSON.stringify(opts[f])) {
      throw new TrainingStateError(
        `resumeFrom was trained with ${f} ${JSON.stringify(o?.[f])} but this run has ${JSON.stringify(opts[f])}`,
      );
    }
  }
  if (state.data_fingerprint !== fp) {
    throw new TrainingStateError(
      'resumeFrom was trained on different data (bars, features or validation_split changed)',
    );
  }
  const total = mlpLayout(sizes[0], sizes.slice(1, -1)).total;
  if (
    !finiteArray(state.params, total) ||
    !finiteArray(state.adam?.m, total) ||
    !finiteArray(state.adam?.v, total) ||
    (state.best !== null && !finiteArray(state.best?.params, total))
  ) {
    throw new TrainingStateError(`resumeFrom has malformed parameters (expected ${total} numbers)`);
  }
  if (!Number.isInteger(state.epoch) || state.epoch < 0 || state.history?.length !== state.epoch) {
    throw new TrainingStateError('resumeFrom has an inconsistent epoch count / history');
  }
}

/**
 * Trains an MLP by mini-batch gradient descent (Adam) on standardised data. Synchronous;
 * checks `hooks.signal` before each epoch and every `abortCheckEveryBatches` batches. When
 * aborted inside an epoch, that epoch's partial work is discarded and the returned state is the
 * one at the end of the last completed epoch (so a resume is exact).
 */
export function fitMlp(data: FitData, options: FitOptions, hooks: FitHooks = {}): FitOutcome {
  const layout = mlpLayout(data.cols, options.hidden_layers);
  const sizes = [...layout.sizes];
  const fp = dataFingerprint(data);
  const batchSize = Math.max(1, Math.min(options.batch_size, data.nTrain));
  const runner = new MlpRunner(layout, Math.max(batchSize, 256));
  const signal = hooks.signal;
  const abortEvery = Math.max(1, hooks.abortCheckEveryBatches ?? 16);
  const checkpointEvery = Math.max(1, hooks.checkpointEvery ?? 1);
  const { patience, min_delta: minDelta } = options.early_stopping;

  let rng: Rng;
  let params: Float64Array;
  let adam: Adam;
  let best: { epoch: number; loss: number; params: Float64Array } | null = null;
  let sinceBest = 0;
  let stoppedEarly = false;
  let history: EpochRecord[] = [];
  let epoch = 0;
  const resume = hooks.resumeFrom;
  if (resume) {
    checkResume(resume, sizes, options, fp);
    rng = Rng.fromState(resume.rng);
    params = Float64Array.from(resume.params);
    adam = new Adam(layout.total, { learningRate: options.learning_rate }, resume.adam);
    best = resume.best && { ...resume.best, params: Float64Array.from(resume.best.params) };
    sinceBest = resume.epochs_without_improvement;
    stoppedEarly = resume.stopped_early;
    history = resume.history.map((h) => ({ ...h }));
    epoch = resume.epoch;
  } else {
    rng = Rng.fromSeed(options.seed);
    params = initParams(layout, rng);
    adam = new Adam(layout.total, { learningRate: options.learning_rate });
  }

  const snapshotOf = (
    ep: number,
    p: Float64Array,
    m: Float64Array,
    v: Float64Array,
    t: number,
    rngState: RngState,
  ): TrainingState => ({
    kind: 'ktrdr-mlp-training-state',
    version: 1,
    epoch: ep,
    sizes,
    options: JSON.parse(JSON.stringify(options)) as FitOptions,
    data_fingerprint: fp,
    params: Array.from(p),
    adam: { t, m: Array.from(m), v: Array.from(v) },
    best: best && { epoch: best.epoch, loss: best.loss, params: Array.from(best.params) },
    epochs_without_improvement: sinceBest,
    stopped_early: stoppedEarly,
    history: history.map((h) => ({ ...h })),
    rng: rngState,
  });
  const currentState = (): TrainingState =>
    snapshotOf(epoch, params, adam.m, adam.v, adam.t, rng.state());

  const finish = (): FitOutcome => ({
    outcome: 'completed',
    state: currentState(),
    params: best ? best.params.slice() : params.slice(),
    sizes,
  });

  if (stoppedEarly || epoch >= options.epochs) return finish();

  const grad = new Float64Array(layout.total);
  const order = new Uint32Array(data.nTrain);
  const hasVal = data.nVal > 0;
  while (epoch < options.epochs) {
    if (signal?.aborted) return { outcome: 'aborted', state: currentState(), sizes };
    // Epoch-start copies: an abort inside the epoch returns to this point.
    const start = {
      params: params.slice(),
      m: adam.m.slice(),
      v: adam.v.slice(),
      t: adam.t,
      rng: rng.state(),
    };
    for (let i = 0; i < order.length; i++) order[i] = i;
    rng.shuffle(order);
    let batch = 0;
    for (let s = 0; s < data.nTrain; s += batchSize, batch++) {
      if (batch > 0 && batch % abortEvery === 0 && signal?.aborted) {
        return {
          outcome: 'aborted',
          state: snapshotOf(epoch, start.params, start.m, start.v, start.t, start.rng),
          sizes,
        };
      }
      const e = Math.min(data.nTrain, s + batchSize);
      const loss = runner.lossAndGradient(params, grad, data.xTrain, data.yTrain, order, s, e);
      if (!Number.isFinite(loss)) {
        throw new TrainingDivergedError(
          `Training diverged at epoch ${epoch + 1} (loss ${loss}); try a lower learning_rate`,
        );
      }
      adam.step(params, grad);
    }
    epoch++;
    const tr = runner.evaluate(params, data.xTrain, data.yTrain, data.nTrain);
    const va = hasVal ? runner.evaluate(params, data.xVal, data.yVal, data.nVal) : null;
    const record: EpochRecord = {
      epoch,
      train_loss: tr.loss,
      val_loss: va ? va.loss : null,
      train_accuracy: tr.accuracy,
      val_accuracy: va ? va.accuracy : null,
    };
    history.push(record);
    const monitored = va ? va.loss : tr.loss;
    if (!Number.isFinite(monitored)) {
      throw new TrainingDivergedError(
        `Training diverged at epoch ${epoch} (loss ${monitored}); try a lower learning_rate`,
      );
    }
    const improved = best === null || monitored < best.loss - minDelta;
    if (improved) {
      best = { epoch, loss: monitored, params: params.slice() };
      sinceBest = 0;
    } else {
      sinceBest++;
      if (patience > 0 && sinceBest >= patience) stoppedEarly = true;
    }
    hooks.onEpoch?.(
      { ...record, total_epochs: options.epochs, best_epoch: best?.epoch ?? epoch, improved },
      currentState,
    );
    if (hooks.onCheckpoint && epoch % checkpointEvery === 0) hooks.onCheckpoint(currentState());
    if (stoppedEarly) break;
  }
  return finish();
}
