import { Rng } from './rng';

/**
 * A multi-layer perceptron for binary classification over Float64Arrays:
 * `sizes = [inputs, ...hidden, 1]`, ReLU on hidden layers, sigmoid on the single output,
 * binary cross-entropy loss.
 *
 * All parameters live in one flat Float64Array (so the optimiser works on one vector):
 * for each layer l, first its weights W_l (row-major, `sizes[l+1]` rows x `sizes[l]` columns,
 * W[j][k] connects input k to output j), then its biases b_l (`sizes[l+1]` values).
 */
export interface MlpLayout {
  readonly sizes: readonly number[];
  /** Offset of W_l in the parameter vector. */
  readonly wOffset: readonly number[];
  /** Offset of b_l in the parameter vector. */
  readonly bOffset: readonly number[];
  /** Number of parameters. */
  readonly total: number;
}

/** Layout for an MLP with `inputs` inputs, the given hidden layer widths and one output. */
export function mlpLayout(inputs: number, hidden: readonly number[]): MlpLayout {
  const sizes = [inputs, ...hidden, 1];
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 1) throw new RangeError(`Invalid layer size ${s}`);
  }
  const wOffset: number[] = [];
  const bOffset: number[] = [];
  let total = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    wOffset.push(total);
    total += sizes[l] * sizes[l + 1];
    bOffset.push(total);
    total += sizes[l + 1];
  }
  return { sizes, wOffset, bOffset, total };
}

/**
 * Initial parameters: He-uniform weights for ReLU layers (U(±sqrt(6/fan_in))), Glorot-uniform
 * for the sigmoid output layer, zero biases. Deterministic for a given RNG state.
 */
export function initParams(layout: MlpLayout, rng: Rng): Float64Array {
  const p = new Float64Array(layout.total);
  const { sizes } = layout;
  const last = sizes.length - 2;
  for (let l = 0; l <= last; l++) {
    const fanIn = sizes[l];
    const fanOut = sizes[l + 1];
    const limit = l === last ? Math.sqrt(6 / (fanIn + fanOut)) : Math.sqrt(6 / fanIn);
    const off = layout.wOffset[l];
    for (let i = 0; i < fanIn * fanOut; i++) p[off + i] = rng.uniform(-limit, limit);
  }
  return p;
}

/** Numerically stable logistic function. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Binary cross-entropy of a logit `z` against label `y` (0 or 1), computed stably. */
export function bceWithLogit(z: number, y: number): number {
  return Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
}

/**
 * Forward/backward passes with preallocated scratch buffers for batches up to `maxBatch` rows.
 * Not re-entrant: one instance per training run.
 */
export class MlpRunner {
  /** acts[l]: activations entering layer l (acts[0] = inputs), batch-major. */
  private readonly acts: Float64Array[];
  /** Logits of the output layer for the current batch. */
  private readonly logits: Float64Array;
  private readonly deltas: Float64Array[];

  constructor(
    readonly layout: MlpLayout,
    readonly maxBatch: number,
  ) {
    const { sizes } = layout;
    this.acts = sizes.slice(0, -1).map((s) => new Float64Array(s * maxBatch));
    this.logits = new Float64Array(maxBatch);
    this.deltas = sizes.slice(1).map((s) => new Float64Array(s * maxBatch));
  }

  /**
   * Forward pass for rows `rows[start..end)` of the row-major matrix `x` (or rows start..end
   * when `rows` is null). Fills the internal buffers; returns the logits view.
   */
  forward(
    params: Float64Array,
    x: Float64Array,
    rows: Uint32Array | null,
    start: number,
    end: number,
  ): Float64Array {
    const { sizes, wOffset, bOffset } = this.layout;
    const bs = end - start;
    if (bs > this.maxBatch) throw new RangeError(`Batch of ${bs} rows exceeds ${this.maxBatch}`);
    const nIn = sizes[0];
    const a0 = this.acts[0];
    for (let r = 0; r < bs; r++) {
      const src = (rows === null ? start + r : rows[start + r]) * nIn;
      for (let k = 0; k < nIn; k++) a0[r * nIn + k] = x[src + k];
    }
    const L = sizes.length - 1;
    for (let l = 0; l < L; l++) {
      const nI = sizes[l];
      const nO = sizes[l + 1];
      const input = this.acts[l];
      const out = l === L - 1 ? this.logits : this.acts[l + 1];
      const wo = wOffset[l];
      const bo = bOffset[l];
      const hidden = l < L - 1;
      for (let r = 0; r < bs; r++) {
        const ib = r * nI;
        for (let j = 0; j < nO; j++) {
          let z = params[bo + j];
          const wr = wo + j * nI;
          for (let k = 0; k < nI; k++) z += params[wr + k] * input[ib + k];
          out[r * nO + j] = hidden && z < 0 ? 0 : z;
        }
      }
    }
    return this.logits.subarray(0, bs);
  }

  /**
   * Mean binary cross-entropy over the batch and its gradient with respect to every parameter
   * (written into `grad`, which is overwritten).
   */
  lossAndGradient(
    params: Float64Array,
    grad: Float64Array,
    x: Float64Array,
    y: Float64Array,
    rows: Uint32Array | null,
    start: number,
    end: number,
  ): number {
    const { sizes, wOffset, bOffset } = this.layout;
    const bs = end - start;
    const z = this.forward(params, x, rows, start, end);
    const L = sizes.length - 1;
    let loss = 0;
    const dOut = this.deltas[L - 1];
    for (let r = 0; r < bs; r++) {
      const label = y[rows === null ? start + r : rows[start + r]];
      loss += bceWithLogit(z[r], label);
      dOut[r] = (sigmoid(z[r]) - label) / bs;
    }
    grad.fill(0);
    for (let l = L - 1; l >= 0; l--) {
      const nI = sizes[l];
      const nO = sizes[l + 1];
      const input = this.acts[l];
      const delta = this.deltas[l];
      const wo = wOffset[l];
      const bo = bOffset[l];
      for (let r = 0; r < bs; r++) {
        const ib = r * nI;
        for (let j = 0; j < nO; j++) {
          const d = delta[r * nO + j];
          if (d === 0) continue;
          grad[bo + j] += d;
          const wr = wo + j * nI;
          for (let k = 0; k < nI; k++) grad[wr + k] += d * input[ib + k];
        }
      }
      if (l > 0) {
        // Back-propagate into the previous (ReLU) layer: its activation is input[r][k].
        const prev = this.deltas[l - 1];
        for (let r = 0; r < bs; r++) {
          const ib = r * nI;
          for (let k = 0; k < nI; k++) {
            if (input[ib + k] <= 0) {
              prev[ib + k] = 0;
              continue;
            }
            let s = 0;
            for (let j = 0; j < nO; j++) s += params[wo + j * nI + k] * delta[r * nO + j];
            prev[ib + k] = s;
          }
        }
      }
    }
    return loss / bs;
  }

  /** Mean loss and accuracy (prediction = logit > 0, i.e. p > 0.5) over the first `n` rows. */
  evaluate(
    params: Float64Array,
    x: Float64Array,
    y: Float64Array,
    n: number,
  ): { loss: number; accuracy: number } {
    let loss = 0;
    let correct = 0;
    for (let s = 0; s < n; s += this.maxBatch) {
      const e = Math.min(n, s + this.maxBatch);
      const z = this.forward(params, x, null, s, e);
      for (let r = 0; r < e - s; r++) {
        const label = y[s + r];
        loss += bceWithLogit(z[r], label);
        if (z[r] > 0 === label > 0.5) correct++;
      }
    }
    return n === 0 ? { loss: NaN, accuracy: NaN } : { loss: loss / n, accuracy: correct / n };
  }

  /** Probabilities for `n` rows of `x` into `out` (length >= n). */
  predict(params: Float64Array, x: Float64Array, n: number, out: Float64Array): void {
    for (let s = 0; s < n; s += this.maxBatch) {
      const e = Math.min(n, s + this.maxBatch);
      const z = this.forward(params, x, null, s, e);
      for (let r = 0; r < e - s; r++) out[s + r] = sigmoid(z[r]);
    }
  }
}
