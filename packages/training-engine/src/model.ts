import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Bars } from '@ktrdr/market-data';
import writeFileAtomic from 'write-file-atomic';
import {
  applyNormalisation,
  computeFeatures,
  featureSpecProblems,
  featureWarmup,
  Normalisation,
} from './features';
import { mlpLayout, MlpRunner } from './mlp';
import type { ValidationReport } from './validation';

export const MODEL_FORMAT = 'ktrdr-mlp';
export const MODEL_VERSION = 1;

/** One dense layer: `weights[j][k]` connects input k to output j; out = act(W·in + bias). */
export interface ModelLayer {
  inputs: number;
  outputs: number;
  activation: 'relu' | 'sigmoid';
  weights: number[][];
  bias: number[];
}

/** Where a model came from and how well it did (informational; not needed for inference). */
export interface ModelTrainingInfo {
  symbol: string;
  timeframe: string;
  /** ISO-8601 times of the first and last bar used. */
  start: string | null;
  end: string | null;
  bars: number;
  config: unknown;
  epochs_run: number;
  best_epoch: number;
  stopped_early: boolean;
  train_loss: number;
  val_loss: number | null;
  train_accuracy: number;
  val_accuracy: number | null;
  samples: { train: number; validation: number };
  /** Validation report of the saved weights (absent in files written before it existed). */
  validation?: ValidationReport | null;
  /** The training operation that produced the file (set by the training worker). */
  operation_id?: string;
}

/**
 * A trained model, exactly as stored in its JSON file (see README "Model file format").
 * Inference: features (in `features.names` order) -> (x - mean) / std -> layers -> p(up).
 */
export interface TrainedModel {
  format: typeof MODEL_FORMAT;
  version: typeof MODEL_VERSION;
  created_at: string;
  features: { names: string[]; warmup: number };
  label: { kind: 'next_bar_direction'; description: string };
  normalisation: Normalisation;
  layers: ModelLayer[];
  training: ModelTrainingInfo;
}

/** Thrown by `loadModel` / `validateModel`; the message names the file and the field. */
export class ModelFormatError extends Error {
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'ModelFormatError';
  }
}

/** Builds the layer list from a flat MLP parameter vector (layout from mlp.ts). */
export function layersFromParams(sizes: readonly number[], params: Float64Array): ModelLayer[] {
  const layout = mlpLayout(sizes[0], sizes.slice(1, -1));
  const layers: ModelLayer[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const nI = sizes[l];
    const nO = sizes[l + 1];
    const weights: number[][] = [];
    for (let j = 0; j < nO; j++) {
      const off = layout.wOffset[l] + j * nI;
      weights.push(Array.from(params.subarray(off, off + nI)));
    }
    layers.push({
      inputs: nI,
      outputs: nO,
      activation: l === sizes.length - 2 ? 'sigmoid' : 'relu',
      weights,
      bias: Array.from(params.subarray(layout.bOffset[l], layout.bOffset[l] + nO)),
    });
  }
  return layers;
}

/** The flat parameter vector and layer sizes of a (validated) model. */
export function paramsFromLayers(layers: readonly ModelLayer[]): {
  sizes: number[];
  params: Float64Array;
} {
  const sizes = [layers[0].inputs, ...layers.map((l) => l.outputs)];
  const layout = mlpLayout(sizes[0], sizes.slice(1, -1));
  const params = new Float64Array(layout.total);
  layers.forEach((layer, l) => {
    layer.weights.forEach((row, j) => params.set(row, layout.wOffset[l] + j * layer.inputs));
    params.set(layer.bias, layout.bOffset[l]);
  });
  return { sizes, params };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isFiniteNumbers(v: unknown, len: number): v is number[] {
  return (
    Array.isArray(v) &&
    v.length === len &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x))
  );
}

/**
 * Checks that `value` is a usable model (format, version, known features, consistent shapes,
 * finite numbers) and returns it typed; throws ModelFormatError naming the first bad field.
 */
export function validateModel(value: unknown, path?: string): TrainedModel {
  const fail = (msg: string): never => {
    throw new ModelFormatError(msg, path);
  };
  if (!isObj(value)) return fail('model file must contain a JSON object');
  if (value.format !== MODEL_FORMAT) {
    fail(`format must be "${MODEL_FORMAT}", got ${JSON.stringify(value.format)}`);
  }
  if (value.version !== MODEL_VERSION) {
    fail(
      `version ${JSON.stringify(value.version)} is not supported (this reader supports version ${MODEL_VERSION})`,
    );
  }
  if (!isObj(value.features)) return fail('features must be an object { names, warmup }');
  const names = value.features.names;
  const fp = featureSpecProblems(names, 'features.names');
  if (fp.length > 0) fail(fp.join('; '));
  const cols = (names as string[]).length;
  if (!isObj(value.normalisation)) return fail('normalisation must be an object { mean, std }');
  if (!isFiniteNumbers(value.normalisation.mean, cols)) {
    fail(`normalisation.mean must be ${cols} finite numbers`);
  }
  const std = value.normalisation.std;
  if (!isFiniteNumbers(std, cols) || std.some((s) => s <= 0)) {
    fail(`normalisation.std must be ${cols} finite numbers > 0`);
  }
  const layers = value.layers;
  if (!Array.isArray(layers) || layers.length === 0)
    return fail('layers must be a non-empty array');
  let inputs = cols;
  layers.forEach((layer: unknown, l: number) => {
    const f = `layers[${l}]`;
    if (!isObj(layer)) return fail(`${f} must be an object`);
    if (layer.inputs !== inputs) {
      fail(
        `${f}.inputs must be ${inputs} (outputs of the previous layer / feature count), got ${JSON.stringify(layer.inputs)}`,
      );
    }
    const outputs = layer.outputs;
    if (typeof outputs !== 'number' || !Number.isInteger(outputs) || outputs < 1) {
      return fail(`${f}.outputs must be a positive integer`);
    }
    const last = l === layers.length - 1;
    const act = last ? 'sigmoid' : 'relu';
    if (layer.activation !== act) {
      fail(`${f}.activation must be "${act}", got ${JSON.stringify(layer.activation)}`);
    }
    if (last && outputs !== 1) fail(`${f}.outputs must be 1 (the output layer), got ${outputs}`);
    if (!Array.isArray(layer.weights) || layer.weights.length !== outputs) {
      fail(`${f}.weights must have ${outputs} rows`);
    }
    (layer.weights as unknown[]).forEach((row, j) => {
      if (!isFiniteNumbers(row, inputs))
        fail(`${f}.weights[${j}] must be ${inputs} finite numbers`);
    });
    if (!isFiniteNumbers(layer.bias, outputs)) fail(`${f}.bias must be ${outputs} finite numbers`);
    inputs = outputs;
  });
  if (typeof value.created_at !== 'string') fail('created_at must be an ISO-8601 string');
  const model = value as unknown as TrainedModel;
  // Derived field: recompute rather than trust it.
  model.features.warmup = featureWarmup(model.features.names);
  return model;
}

/** Reads and validates a model file. Errors name the path and what is wrong. */
export function loadModel(path: string): TrainedModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelFormatError(
      code === 'ENOENT'
        ? 'model file not found'
        : `cannot read model file: ${(err as Error).message}`,
      path,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ModelFormatError(`not valid JSON (${(err as Error).message})`, path);
  }
  return validateModel(value, path);
}

/** Default file name: `{symbol}_{timeframe}_mlp_{created_at compact}.json`, filesystem-safe. */
export function defaultModelFileName(model: TrainedModel): string {
  const stamp = model.created_at.replace(/[-:]/g, '').replace(/\.\d+/, '');
  const raw = `${model.training.symbol}_${model.training.timeframe}_mlp_${stamp}.json`;
  return raw.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * Writes `model` as JSON into `dir` (created if missing) atomically (write-file-atomic: a temp file in
 * the same directory, fsync, rename), so readers never see a partial file. Returns the absolute path.
 * `fileName` defaults to `defaultModelFileName(model)`; it must be a plain file name.
 */
export function saveModel(dir: string, model: TrainedModel, fileName?: string): string {
  validateModel(model);
  const name = fileName ?? defaultModelFileName(model);
  if (basename(name) !== name || name === '' || name === '.' || name === '..') {
    throw new ModelFormatError(
      `model file name must be a plain file name, got ${JSON.stringify(name)}`,
    );
  }
  mkdirSync(dir, { recursive: true });
  const path = resolve(join(dir, name));
  writeFileAtomic.sync(path, JSON.stringify(model, null, 2) + '\n', { encoding: 'utf8' });
  return path;
}

/**
 * Probability that the next bar closes higher, per bar; NaN during the feature warm-up (and
 * for any bar whose features are not finite).
 */
export function predictProbabilities(model: TrainedModel, bars: Bars): Float64Array {
  const fm = computeFeatures(bars, { features: model.features.names });
  const { sizes, params } = paramsFromLayers(model.layers);
  const out = new Float64Array(bars.length).fill(NaN);
  const from = Math.min(fm.firstValidIndex, bars.length);
  const n = bars.length - from;
  if (n <= 0) return out;
  const x = applyNormalisation(fm.matrix, fm.cols, from, bars.length, model.normalisation);
  const runner = new MlpRunner(mlpLayout(sizes[0], sizes.slice(1, -1)), 1024);
  const p = new Float64Array(n);
  runner.predict(params, x, n, p);
  for (let r = 0; r < n; r++) {
    let ok = true;
    for (let c = 0; c < fm.cols; c++) if (!Number.isFinite(x[r * fm.cols + c])) ok = false;
    out[from + r] = ok ? p[r] : NaN;
  }
  return out;
}

/**
 * Per-bar signals for the backtest engine's `model` strategy: +1 (long) when the predicted
 * probability of an up move exceeds `threshold`, else 0 (flat). 0 during the warm-up.
 */
export function predictSignals(model: TrainedModel, bars: Bars, threshold = 0.5): Int8Array {
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new RangeError(`threshold must be in [0, 1], got ${threshold}`);
  }
  const p = predictProbabilities(model, bars);
  const s = new Int8Array(bars.length);
  for (let i = 0; i < p.length; i++) s[i] = p[i] > threshold ? 1 : 0;
  return s;
}
