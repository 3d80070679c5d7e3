import { bceWithLogit, mlpLayout, MlpRunner } from './mlp';

/** Precision and recall of one class (null when undefined), and its number of samples. */
export interface ClassReport {
  /** Of the samples predicted in this class, the fraction that are (null: never predicted). */
  precision: number | null;
  /** Of the samples in this class, the fraction predicted so (null: no samples). */
  recall: number | null;
  support: number;
}

/**
 * Validation metrics of a next-bar-direction classifier (label 1 = the next close is higher),
 * predicting "up" when p > 0.5 (the rule of the training's accuracy). docs/metrics.md.
 */
export interface ValidationReport {
  samples: number;
  accuracy: number;
  /** Mean binary cross-entropy. */
  loss: number;
  classes: { down: ClassReport; up: ClassReport };
  /** [[TN, FP], [FN, TP]]: rows actual down/up, columns predicted down/up. */
  confusion_matrix: [[number, number], [number, number]];
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/** The report from labels (0/1) and logits of `n` samples. */
export function classificationReport(
  labels: ArrayLike<number>,
  logits: ArrayLike<number>,
  n: number,
): ValidationReport {
  let tn = 0;
  let fp = 0;
  let fn = 0;
  let tp = 0;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const up = labels[i] > 0.5;
    const predUp = logits[i] > 0;
    loss += bceWithLogit(logits[i], labels[i]);
    if (up && predUp) tp++;
    else if (up) fn++;
    else if (predUp) fp++;
    else tn++;
  }
  return {
    samples: n,
    accuracy: n > 0 ? (tp + tn) / n : 0,
    loss: n > 0 ? loss / n : 0,
    classes: {
      down: { precision: ratio(tn, tn + fn), recall: ratio(tn, tn + fp), support: tn + fp },
      up: { precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn), support: tp + fn },
    },
    confusion_matrix: [
      [tn, fp],
      [fn, tp],
    ],
  };
}

/** The report of an MLP (`sizes`, flat `params`) on `n` standardised rows `x` with labels `y`. */
export function validationReport(
  sizes: readonly number[],
  params: Float64Array,
  x: Float64Array,
  y: Float64Array,
  n: number,
): ValidationReport | null {
  if (n === 0) return null;
  const runner = new MlpRunner(mlpLayout(sizes[0], sizes.slice(1, -1)), 1024);
  const logits = new Float64Array(n);
  for (let s = 0; s < n; s += 1024) {
    const e = Math.min(n, s + 1024);
    const z = runner.forward(params, x, null, s, e);
    logits.set(z.subarray(0, e - s), s);
  }
  return classificationReport(y, logits, n);
}
