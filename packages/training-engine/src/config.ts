import { featureSpecProblems, DEFAULT_FEATURES } from './features';

/** Training parameters (snake_case: they arrive on the wire). */
export interface TrainingConfig {
  /** Feature names, in column order (see FEATURE_NAMES). */
  features: string[];
  model: { hidden_layers: number[] };
  /** Maximum number of passes over the training data. */
  epochs: number;
  /** Adam step size. */
  learning_rate: number;
  batch_size: number;
  /** Fraction of the samples (the most recent ones) held out for validation, in [0, 0.9]. */
  validation_split: number;
  /**
   * Stop when the monitored loss (validation loss, or training loss without validation) has not
   * improved by more than `min_delta` for `patience` epochs; patience 0 disables it.
   */
  early_stopping: { patience: number; min_delta: number };
  /** Seeds weight initialisation and mini-batch shuffling. */
  seed: number;
}

export const DEFAULT_TRAINING_CONFIG: Readonly<TrainingConfig> = Object.freeze({
  features: [...DEFAULT_FEATURES],
  model: { hidden_layers: [16, 8] },
  epochs: 50,
  learning_rate: 0.001,
  batch_size: 32,
  validation_split: 0.2,
  early_stopping: { patience: 5, min_delta: 0.0001 },
  seed: 42,
});

export const TRAINING_LIMITS = Object.freeze({
  maxEpochs: 10_000,
  maxBatchSize: 65_536,
  maxHiddenLayers: 8,
  maxLayerWidth: 1024,
  maxValidationSplit: 0.9,
});

/** Thrown by `trainModel` for an invalid config; `problems` each name the field. */
export class TrainingConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid training config: ${problems.join('; ')}`);
    this.name = 'TrainingConfigError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkInt(problems: string[], v: unknown, field: string, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    problems.push(
      `${field} must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`,
    );
  }
}

function checkNumber(
  problems: string[],
  v: unknown,
  field: string,
  test: (x: number) => boolean,
  expected: string,
): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !test(v)) {
    problems.push(`${field} must be ${expected}, got ${JSON.stringify(v)}`);
  }
}

/**
 * Every problem with a training config (empty when valid). Each message starts with the
 * offending field, e.g. `model.hidden_layers[1] must be an integer between 1 and 1024, got 0`.
 */
export function validateTrainingConfig(config: unknown): string[] {
  if (!isObject(config)) return ['config must be an object'];
  const p: string[] = [];
  p.push(...featureSpecProblems(config.features, 'features'));
  if (!isObject(config.model)) {
    p.push('model must be an object with hidden_layers');
  } else if (!Array.isArray(config.model.hidden_layers)) {
    p.push('model.hidden_layers must be an array of layer widths, e.g. [16, 8]');
  } else {
    const hl = config.model.hidden_layers as unknown[];
    if (hl.length > TRAINING_LIMITS.maxHiddenLayers) {
      p.push(
        `model.hidden_layers must have at most ${TRAINING_LIMITS.maxHiddenLayers} layers, got ${hl.length}`,
      );
    }
    hl.forEach((w, i) =>
      checkInt(p, w, `model.hidden_layers[${i}]`, 1, TRAINING_LIMITS.maxLayerWidth),
    );
  }
  checkInt(p, config.epochs, 'epochs', 1, TRAINING_LIMITS.maxEpochs);
  checkNumber(
    p,
    config.learning_rate,
    'learning_rate',
    (x) => x > 0 && x <= 1,
    'a number in (0, 1]',
  );
  checkInt(p, config.batch_size, 'batch_size', 1, TRAINING_LIMITS.maxBatchSize);
  checkNumber(
    p,
    config.validation_split,
    'validation_split',
    (x) => x >= 0 && x <= TRAINING_LIMITS.maxValidationSplit,
    `a number in [0, ${TRAINING_LIMITS.maxValidationSplit}]`,
  );
  if (!isObject(config.early_stopping)) {
    p.push('early_stopping must be an object { patience, min_delta }');
  } else {
    checkInt(
      p,
      config.early_stopping.patience,
      'early_stopping.patience',
      0,
      TRAINING_LIMITS.maxEpochs,
    );
    checkNumber(
      p,
      config.early_stopping.min_delta,
      'early_stopping.min_delta',
      (x) => x >= 0,
      'a number >= 0',
    );
  }
  checkInt(p, config.seed, 'seed', 0, 0xffffffff);
  return p;
}

/**
 * A full config from a partial one (missing fields take DEFAULT_TRAINING_CONFIG values;
 * nested objects are merged). Does not validate: call validateTrainingConfig on the result.
 */
export function resolveTrainingConfig(
  partial: Partial<TrainingConfig> | undefined,
): TrainingConfig {
  const d = DEFAULT_TRAINING_CONFIG;
  const p = partial ?? {};
  return {
    features: p.features ?? [...d.features],
    model: { hidden_layers: p.model?.hidden_layers ?? [...d.model.hidden_layers] },
    epochs: p.epochs ?? d.epochs,
    learning_rate: p.learning_rate ?? d.learning_rate,
    batch_size: p.batch_size ?? d.batch_size,
    validation_split: p.validation_split ?? d.validation_split,
    early_stopping: {
      patience: p.early_stopping?.patience ?? d.early_stopping.patience,
      min_delta: p.early_stopping?.min_delta ?? d.early_stopping.min_delta,
    },
    seed: p.seed ?? d.seed,
  };
}
