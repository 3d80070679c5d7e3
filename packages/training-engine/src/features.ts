import { Bars, returns, rollingStd, rsi, sma } from '@ktrdr/market-data';

/**
 * Feature definitions. Each feature is computed at bar t from bars 0..t only (no look-ahead);
 * `warmup` is the first bar index at which it is defined.
 */
interface FeatureDef {
  readonly description: string;
  readonly warmup: number;
  compute(bars: Bars): Float64Array;
}

function ratioMinusOne(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] / b[i] - 1;
  return out;
}

function nBarReturn(close: Float64Array, n: number): Float64Array {
  const out = new Float64Array(close.length).fill(NaN);
  for (let i = n; i < close.length; i++) out[i] = close[i] / close[i - n] - 1;
  return out;
}

const DEFS: Record<string, FeatureDef> = {
  returns_1: {
    description: 'close[t] / close[t-1] - 1',
    warmup: 1,
    compute: (b) => returns(b.close),
  },
  returns_5: {
    description: 'close[t] / close[t-5] - 1',
    warmup: 5,
    compute: (b) => nBarReturn(b.close, 5),
  },
  sma_ratio_10: {
    description: 'close[t] / SMA(close, 10)[t] - 1',
    warmup: 9,
    compute: (b) => ratioMinusOne(b.close, sma(b.close, 10)),
  },
  sma_ratio_20: {
    description: 'close[t] / SMA(close, 20)[t] - 1',
    warmup: 19,
    compute: (b) => ratioMinusOne(b.close, sma(b.close, 20)),
  },
  rsi_14: {
    description: "RSI(close, 14) with Wilder's smoothing, scaled to 0..1 (RSI / 100)",
    warmup: 14,
    compute: (b) => {
      const r = rsi(b.close, 14);
      for (let i = 0; i < r.length; i++) r[i] /= 100;
      return r;
    },
  },
  volatility_20: {
    description: 'sample standard deviation of returns_1 over the last 20 bars',
    warmup: 20,
    compute: (b) => rollingStd(returns(b.close), 20),
  },
  volume_ratio_20: {
    description: 'volume[t] / SMA(volume, 20)[t] (1 when that average is 0)',
    warmup: 19,
    compute: (b) => {
      const avg = sma(b.volume, 20);
      const out = new Float64Array(b.length);
      for (let i = 0; i < b.length; i++) out[i] = avg[i] === 0 ? 1 : b.volume[i] / avg[i];
      return out;
    },
  },
};

/** Names of every supported feature, in a stable order. */
export const FEATURE_NAMES: readonly string[] = Object.freeze(Object.keys(DEFS));

/** Default feature set when a training request names none. */
export const DEFAULT_FEATURES: readonly string[] = FEATURE_NAMES;

/** One-line description of each feature (for docs and error messages). */
export function describeFeatures(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FEATURE_NAMES) out[name] = DEFS[name].description;
  return out;
}

/** Which features to compute, in column order. */
export interface FeatureSpec {
  features: readonly string[];
}

/** Error for an invalid feature specification; `field` names the offending input. */
export class FeatureSpecError extends Error {
  constructor(
    message: string,
    readonly field = 'features',
  ) {
    super(message);
    this.name = 'FeatureSpecError';
  }
}

/** Problems with a list of feature names (empty when valid); each message names the field. */
export function featureSpecProblems(features: unknown, field = 'features'): string[] {
  if (!Array.isArray(features)) return [`${field} must be an array of feature names`];
  if (features.length === 0) return [`${field} must name at least one feature`];
  const problems: string[] = [];
  const seen = new Set<string>();
  features.forEach((f, i) => {
    if (typeof f !== 'string') {
      problems.push(`${field}[${i}] must be a string`);
    } else if (!(f in DEFS)) {
      problems.push(`${field}[${i}]: unknown feature "${f}" (known: ${FEATURE_NAMES.join(', ')})`);
    } else if (seen.has(f)) {
      problems.push(`${field}[${i}]: feature "${f}" is listed twice`);
    } else {
      seen.add(f);
    }
  });
  return problems;
}

/** Throws a `FeatureSpecError` naming the first bad feature. */
export function validateFeatureSpec(spec: FeatureSpec): void {
  const problems = featureSpecProblems(spec?.features);
  if (problems.length > 0) throw new FeatureSpecError(problems.join('; '));
}

/** First bar index at which every feature of `names` is defined. */
export function featureWarmup(names: readonly string[]): number {
  let w = 0;
  for (const n of names) w = Math.max(w, DEFS[n].warmup);
  return w;
}

export interface FeatureMatrix {
  /** Row-major `rows x cols`; row i is bar i. Rows before `firstValidIndex` are NaN. */
  matrix: Float64Array;
  rows: number;
  cols: number;
  names: string[];
  /** First bar index where every feature is defined (may be >= rows for short series). */
  firstValidIndex: number;
}

/**
 * Computes the named features for every bar. Row i of the matrix holds the features of bar i
 * (built from bars 0..i only); rows before `firstValidIndex` (the warm-up) are NaN.
 */
export function computeFeatures(bars: Bars, spec: FeatureSpec): FeatureMatrix {
  validateFeatureSpec(spec);
  const names = [...spec.features];
  const rows = bars.length;
  const cols = names.length;
  const firstValidIndex = featureWarmup(names);
  const matrix = new Float64Array(rows * cols).fill(NaN);
  names.forEach((name, c) => {
    const col = DEFS[name].compute(bars);
    for (let i = firstValidIndex; i < rows; i++) matrix[i * cols + c] = col[i];
  });
  return { matrix, rows, cols, names, firstValidIndex };
}

/** Next-bar direction labels: 1 if close[t+1] > close[t], else 0; NaN for the last bar. */
export function computeLabels(bars: Bars): Float64Array {
  const n = bars.length;
  const y = new Float64Array(n);
  for (let i = 0; i + 1 < n; i++) y[i] = bars.close[i + 1] > bars.close[i] ? 1 : 0;
  if (n > 0) y[n - 1] = NaN;
  return y;
}

/** Per-column mean and standard deviation used to standardise features. */
export interface Normalisation {
  mean: number[];
  std: number[];
}

/**
 * Mean and population std of each column over rows [from, to) of a row-major matrix.
 * A column with zero (or non-finite) spread gets std 1 so it standardises to 0.
 */
export function fitNormalisation(
  matrix: Float64Array,
  cols: number,
  from: number,
  to: number,
): Normalisation {
  const n = to - from;
  const mean = new Array<number>(cols).fill(0);
  const std = new Array<number>(cols).fill(1);
  if (n <= 0) return { mean, std };
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let i = from; i < to; i++) s += matrix[i * cols + c];
    const m = s / n;
    let v = 0;
    for (let i = from; i < to; i++) {
      const d = matrix[i * cols + c] - m;
      v += d * d;
    }
    const sd = Math.sqrt(v / n);
    mean[c] = m;
    std[c] = sd > 1e-12 && Number.isFinite(sd) ? sd : 1;
  }
  return { mean, std };
}

/** Standardises rows [from, to) into a new row-major matrix of `to - from` rows. */
export function applyNormalisation(
  matrix: Float64Array,
  cols: number,
  from: number,
  to: number,
  norm: Normalisation,
): Float64Array {
  const n = Math.max(0, to - from);
  const out = new Float64Array(n * cols);
  for (let r = 0; r < n; r++) {
    const src = (from + r) * cols;
    for (let c = 0; c < cols; c++)
      out[r * cols + c] = (matrix[src + c] - norm.mean[c]) / norm.std[c];
  }
  return out;
}

/** A standardised, time-ordered train/validation dataset built from bars. */
export interface Dataset {
  names: string[];
  cols: number;
  xTrain: Float64Array;
  yTrain: Float64Array;
  nTrain: number;
  xVal: Float64Array;
  yVal: Float64Array;
  nVal: number;
  normalisation: Normalisation;
  firstValidIndex: number;
  /** Bar index of the first validation sample (= first bar after the training part). */
  splitIndex: number;
}

/** Error for data that cannot be turned into a dataset (too short, non-finite values). */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/**
 * Features + labels for every bar that has both (bars firstValidIndex .. length-2), split in
 * time order: the first `1 - validationSplit` of the samples train, the rest validate (no
 * shuffling across the boundary). Standardisation statistics come from the training part only.
 */
export function buildDataset(bars: Bars, spec: FeatureSpec, validationSplit: number): Dataset {
  if (!(validationSplit >= 0 && validationSplit < 1)) {
    throw new DatasetError(`validation_split must be in [0, 1), got ${validationSplit}`);
  }
  const fm = computeFeatures(bars, spec);
  const { matrix, cols, names, firstValidIndex } = fm;
  const labels = computeLabels(bars);
  const first = firstValidIndex;
  const last = bars.length - 2; // last bar with a next bar
  const samples = last - first + 1;
  const nVal = Math.floor(samples * validationSplit);
  const nTrain = samples - nVal;
  if (samples < 2 || nTrain < 1 || (validationSplit > 0 && nVal < 1)) {
    throw new DatasetError(
      `Not enough bars to train: ${bars.length} bars give ${Math.max(0, samples)} samples after a ` +
        `warm-up of ${firstValidIndex} bars (features ${names.join(', ')}); need at least ` +
        `${validationSplit > 0 ? Math.ceil(1 / validationSplit) + 1 : 2} samples`,
    );
  }
  for (let i = first; i <= last; i++) {
    for (let c = 0; c < cols; c++) {
      const v = matrix[i * cols + c];
      if (!Number.isFinite(v)) {
        throw new DatasetError(
          `Feature ${names[c]} is not finite (${v}) at bar ${i} of ${bars.symbol} ${bars.timeframe}`,
        );
      }
    }
  }
  const splitIndex = first + nTrain;
  const normalisation = fitNormalisation(matrix, cols, first, splitIndex);
  return {
    names,
    cols,
    xTrain: applyNormalisation(matrix, cols, first, splitIndex, normalisation),
    yTrain: labels.slice(first, splitIndex),
    nTrain,
    xVal: applyNormalisation(matrix, cols, splitIndex, splitIndex + nVal, normalisation),
    yVal: labels.slice(splitIndex, splitIndex + nVal),
    nVal,
    normalisation,
    firstValidIndex,
    splitIndex,
  };
}
