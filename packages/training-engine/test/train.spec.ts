import { synthBars } from '@ktrdr/market-data';
import {
  DEFAULT_TRAINING_CONFIG,
  resolveTrainingConfig,
  TrainingConfig,
  TrainingConfigError,
  validateTrainingConfig,
} from '../src/config';
import { EpochMetrics, TrainingDivergedError, TrainingState, TrainingStateError } from '../src/fit';
import { trainModel } from '../src/train';

const bars = synthBars('SYNTH-TRAIN', '1h', '2024-01-01', { count: 1500 });

function config(over: Partial<TrainingConfig> = {}): TrainingConfig {
  return resolveTrainingConfig({
    features: ['returns_1', 'returns_5', 'sma_ratio_10', 'rsi_14', 'volatility_20'],
    model: { hidden_layers: [8, 4] },
    epochs: 8,
    learning_rate: 0.005,
    batch_size: 32,
    validation_split: 0.2,
    early_stopping: { patience: 0, min_delta: 0 },
    seed: 7,
    ...over,
  });
}

/** A signal that reports aborted once `trip()` has been called or after `after` reads. */
function flag(after = Infinity): { aborted: boolean; trip(): void; reads: number } {
  let tripped = false;
  const f = {
    reads: 0,
    get aborted(): boolean {
      f.reads++;
      return tripped || f.reads > after;
    },
    trip(): void {
      tripped = true;
    },
  };
  return f;
}

describe('validateTrainingConfig', () => {
  it('accepts the defaults', () => {
    expect(validateTrainingConfig(DEFAULT_TRAINING_CONFIG)).toEqual([]);
    expect(validateTrainingConfig(config())).toEqual([]);
  });

  it('reports every problem, each naming its field', () => {
    const bad = {
      features: ['returns_1', 'nope'],
      model: { hidden_layers: [16, 0, 2.5] },
      epochs: 0,
      learning_rate: -1,
      batch_size: 'x',
      validation_split: 0.95,
      early_stopping: { patience: -1, min_delta: Number.NaN },
      seed: 1.5,
    };
    const p = validateTrainingConfig(bad);
    const fields = [
      'features[1]',
      'model.hidden_layers[1]',
      'model.hidden_layers[2]',
      'epochs',
      'learning_rate',
      'batch_size',
      'validation_split',
      'early_stopping.patience',
      'early_stopping.min_delta',
      'seed',
    ];
    expect(p).toHaveLength(fields.length);
    fields.forEach((f, i) => expect(p[i].startsWith(f)).toBe(true));
    expect(p[1]).toBe('model.hidden_layers[1] must be an integer between 1 and 1024, got 0');
  });

  it('reports missing objects', () => {
    expect(validateTrainingConfig(null)).toEqual(['config must be an object']);
    const p = validateTrainingConfig({ ...config(), model: undefined, early_stopping: 3 });
    expect(p).toEqual([
      'model must be an object with hidden_layers',
      'early_stopping must be an object { patience, min_delta }',
    ]);
  });

  it('trainModel throws TrainingConfigError listing the problems', () => {
    expect(() => trainModel(bars, config({ epochs: -2 }))).toThrow(TrainingConfigError);
    expect(() => trainModel(bars, config({ epochs: -2 }))).toThrow(/epochs must be an integer/);
  });

  it('resolveTrainingConfig fills defaults and merges nested objects', () => {
    const c = resolveTrainingConfig({
      early_stopping: { patience: 9 } as TrainingConfig['early_stopping'],
    });
    expect(c.early_stopping).toEqual({
      patience: 9,
      min_delta: DEFAULT_TRAINING_CONFIG.early_stopping.min_delta,
    });
    expect(c.model.hidden_layers).toEqual([16, 8]);
  });
});

describe('trainModel', () => {
  it('trains end to end and reports per-epoch metrics and a result', () => {
    const seen: EpochMetrics[] = [];
    const out = trainModel(bars, config(), { onEpoch: (m) => seen.push(m) });
    expect(out.outcome).toBe('completed');
    const r = out.result!;
    expect(r.epochs_run).toBe(8);
    expect(r.stopped_early).toBe(false);
    expect(seen.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(seen.every((m) => m.total_epochs === 8)).toBe(true);
    expect(r.history).toHaveLength(8);
    expect(r.samples.train + r.samples.validation).toBe(1500 - 20 - 1);
    expect(r.samples.validation).toBe(Math.floor(1479 * 0.2));
    expect(r.feature_names).toEqual(config().features);
    const best = r.history[r.best_epoch - 1];
    expect(r.val_loss).toBe(best.val_loss);
    expect(r.val_loss).toBe(Math.min(...r.history.map((h) => h.val_loss as number)));
    for (const h of r.history) {
      expect(h.train_loss).toBeGreaterThan(0.5);
      expect(h.train_loss).toBeLessThan(0.8);
      expect(h.train_accuracy).toBeGreaterThanOrEqual(0);
      expect(h.train_accuracy).toBeLessThanOrEqual(1);
    }
    // Training loss goes down on the data it sees.
    expect(r.history[7].train_loss).toBeLessThan(r.history[0].train_loss);
    const m = out.model!;
    expect(m.format).toBe('ktrdr-mlp');
    expect(m.layers.map((l) => [l.inputs, l.outputs, l.activation])).toEqual([
      [5, 8, 'relu'],
      [8, 4, 'relu'],
      [4, 1, 'sigmoid'],
    ]);
    expect(m.training.symbol).toBe('SYNTH-TRAIN');
    expect(m.training.samples).toEqual(r.samples);
    expect(m.features.warmup).toBe(20);
    // The result is plain JSON (it goes on the wire).
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('checkpoints every N epochs', () => {
    const epochs: number[] = [];
    trainModel(bars, config({ epochs: 7 }), {
      onCheckpoint: (s) => epochs.push(s.epoch),
      checkpointEvery: 3,
    });
    expect(epochs).toEqual([3, 6]);
  });

  it('returns aborted with the current state when the signal is already aborted', () => {
    const ac = new AbortController();
    ac.abort();
    const out = trainModel(bars, config(), { signal: ac.signal });
    expect(out.outcome).toBe('aborted');
    expect(out.model).toBeUndefined();
    expect(out.state!.epoch).toBe(0);
  });

  const runs: [string, Partial<TrainingConfig>][] = [
    ['without early stopping', {}],
    ['with early stopping', { epochs: 40, early_stopping: { patience: 3, min_delta: 0 } }],
  ];
  it.each(runs)(
    'resumed run equals the uninterrupted run (%s, abort between epochs)',
    (_name, over) => {
      const c = config(over);
      const full = trainModel(bars, c);
      const f = flag();
      let saved: TrainingState | undefined;
      const first = trainModel(bars, c, {
        signal: f,
        onEpoch: (m) => {
          if (m.epoch === 3) f.trip();
        },
      });
      expect(first.outcome).toBe('aborted');
      saved = first.state!;
      expect(saved.epoch).toBe(3);
      saved = JSON.parse(JSON.stringify(saved)) as TrainingState; // as stored on disk
      const resumed = trainModel(bars, c, {
        resumeFrom: saved,
        now: () => new Date(full.model!.created_at),
      });
      expect(resumed.outcome).toBe('completed');
      expect(resumed.result).toEqual(full.result);
      expect(resumed.model).toEqual(full.model);
      expect(resumed.state!.params).toEqual(full.state!.params);
    },
  );

  it('an abort inside an epoch returns the state of the last completed epoch; resume is exact', () => {
    const c = config({ epochs: 5 });
    const full = trainModel(bars, c);
    // 1184 training samples / 32 = 37 batches per epoch; with a check every 5 batches,
    // read 1 is before epoch 1, reads 2-8 inside it, read 9 before epoch 2, read 12 inside it.
    const f = flag(11);
    const first = trainModel(bars, c, { signal: f, abortCheckEveryBatches: 5 });
    expect(first.outcome).toBe('aborted');
    expect(first.state!.epoch).toBe(1);
    expect(first.state!.history).toHaveLength(1);
    const resumed = trainModel(bars, c, {
      resumeFrom: JSON.parse(JSON.stringify(first.state)) as TrainingState,
    });
    expect(resumed.result).toEqual(full.result);
    expect(resumed.state!.params).toEqual(full.state!.params);
  });

  it('a periodic checkpoint (as after a crash) resumes exactly; snapshot() equals it', () => {
    const c = config({ epochs: 6 });
    const full = trainModel(bars, c);
    const checkpoints: TrainingState[] = [];
    const snapshots: TrainingState[] = [];
    trainModel(bars, c, {
      checkpointEvery: 4,
      onCheckpoint: (s) => checkpoints.push(JSON.parse(JSON.stringify(s)) as TrainingState),
      onEpoch: (m, snapshot) => {
        if (m.epoch === 4) snapshots.push(snapshot());
      },
    });
    expect(checkpoints.map((s) => s.epoch)).toEqual([4]);
    expect(snapshots[0]).toEqual(checkpoints[0]);
    const resumed = trainModel(bars, c, { resumeFrom: checkpoints[0] });
    expect(resumed.result).toEqual(full.result);
  });

  it('can extend a finished run by raising epochs', () => {
    const short = trainModel(bars, config({ epochs: 3 }));
    const long = trainModel(bars, config({ epochs: 6 }));
    const extended = trainModel(bars, config({ epochs: 6 }), { resumeFrom: short.state });
    expect(extended.result!.history).toEqual(long.result!.history);
  });

  it('refuses a resume state from another run, naming what changed', () => {
    const s = trainModel(bars, config({ epochs: 2 })).state!;
    expect(() => trainModel(bars, config({ learning_rate: 0.01 }), { resumeFrom: s })).toThrow(
      /learning_rate 0.005 but this run has 0.01/,
    );
    expect(() =>
      trainModel(bars, config({ model: { hidden_layers: [3] } }), { resumeFrom: s }),
    ).toThrow(/layer sizes/);
    const other = synthBars('SYNTH-OTHER', '1h', '2024-01-01', { count: 1500 });
    expect(() => trainModel(other, config(), { resumeFrom: s })).toThrow(/different data/);
    expect(() => trainModel(bars, config(), { resumeFrom: { ...s, params: [1, 2] } })).toThrow(
      TrainingStateError,
    );
    expect(() =>
      trainModel(bars, config(), { resumeFrom: { ...s, kind: 'x' } as unknown as TrainingState }),
    ).toThrow(/not a ktrdr-mlp training state/);
  });

  it('fails clearly on too few bars', () => {
    const few = synthBars('SYNTH-FEW', '1h', '2024-01-01', { count: 15 });
    expect(() => trainModel(few, config())).toThrow(/Not enough bars to train/);
  });

  it('fails clearly when training diverges', () => {
    // Force an overflowing forward pass with huge (finite) weights in a resume state.
    const s = trainModel(bars, config({ epochs: 1 })).state!;
    const broken = { ...s, params: s.params.map(() => 1e308) };
    expect(() => trainModel(bars, config({ epochs: 2 }), { resumeFrom: broken })).toThrow(
      TrainingDivergedError,
    );
  });
});
