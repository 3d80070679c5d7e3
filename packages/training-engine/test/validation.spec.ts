import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthBars } from '@ktrdr/market-data';
import { resolveTrainingConfig } from '../src/config';
import { buildDataset, computeLabels } from '../src/features';
import { loadModel, predictProbabilities, saveModel } from '../src/model';
import { trainModel } from '../src/train';
import { classificationReport } from '../src/validation';

describe('classificationReport by hand', () => {
  it('confusion matrix, accuracy, precision and recall per class', () => {
    // actual:    up up up dn dn dn dn
    // predicted: up up dn up up dn dn   (logit > 0 = up)
    const r = classificationReport([1, 1, 1, 0, 0, 0, 0], [1, 2, -1, 0.5, 3, -1, -0.1], 7);
    expect(r.confusion_matrix).toEqual([
      [2, 2], // TN, FP
      [1, 2], // FN, TP
    ]);
    expect(r.samples).toBe(7);
    expect(r.accuracy).toBeCloseTo(4 / 7, 12);
    expect(r.classes.up).toEqual({ precision: 0.5, recall: 2 / 3, support: 3 });
    expect(r.classes.down).toEqual({ precision: 2 / 3, recall: 0.5, support: 4 });
    expect(r.loss).toBeGreaterThan(0);
  });

  it('a class never predicted has no precision', () => {
    const r = classificationReport([1, 0, 1], [-1, -2, -3], 3);
    expect(r.classes.up).toEqual({ precision: null, recall: 0, support: 2 });
    expect(r.classes.down).toEqual({ precision: 1 / 3, recall: 1, support: 1 });
  });
});

describe('training results', () => {
  const bars = synthBars('SYNTH-VAL', '1h', '2024-01-01', { count: 1500 });
  const config = resolveTrainingConfig({
    features: ['returns_1', 'sma_ratio_10', 'rsi_14', 'volume_ratio_20'],
    model: { hidden_layers: [6] },
    epochs: 12,
    learning_rate: 0.01,
    validation_split: 0.25,
    early_stopping: { patience: 3, min_delta: 0 },
    seed: 11,
  });
  const out = trainModel(bars, config);
  const result = out.result!;

  it('reports every epoch, the best one, and the best weights on the validation part', () => {
    expect(result.history).toHaveLength(result.epochs_run);
    expect(result.history.map((h) => h.epoch)).toEqual(
      Array.from({ length: result.epochs_run }, (_, i) => i + 1),
    );
    const best = result.history[result.best_epoch - 1];
    expect(best.val_loss).toBe(Math.min(...result.history.map((h) => h.val_loss as number)));
    const v = result.validation!;
    expect(v.samples).toBe(result.samples.validation);
    // the report is of the kept (best-epoch) weights: the same accuracy and loss as that epoch
    expect(v.accuracy).toBeCloseTo(best.val_accuracy as number, 12);
    expect(v.loss).toBeCloseTo(best.val_loss as number, 12);
    const [[tn, fp], [fn, tp]] = v.confusion_matrix;
    expect(tn + fp + fn + tp).toBe(v.samples);
    const ds = buildDataset(bars, { features: config.features }, config.validation_split);
    const ups = Array.from(ds.yVal).filter((y) => y > 0.5).length;
    expect(v.classes.up.support).toBe(ups);
    expect(v.classes.down.support).toBe(v.samples - ups);
    expect(result.scaling).toEqual({
      mean: Array.from(ds.normalisation.mean),
      std: Array.from(ds.normalisation.std),
    });
    expect(out.model!.training.validation).toEqual(v);
  });

  it('the saved feature list and scaling reproduce the training inputs: the loaded model predicts the validation part as reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ktrdr-val-'));
    try {
      const loaded = loadModel(saveModel(dir, out.model!, 'val.json'));
      expect(loaded.features.names).toEqual(config.features);
      expect(loaded.normalisation).toEqual(result.scaling);
      const p = predictProbabilities(loaded, bars);
      const ds = buildDataset(bars, { features: config.features }, config.validation_split);
      const labels = computeLabels(bars);
      const logits: number[] = [];
      const ys: number[] = [];
      for (let i = ds.splitIndex; i < ds.splitIndex + ds.nVal; i++) {
        logits.push(Math.log(p[i] / (1 - p[i])));
        ys.push(labels[i]);
      }
      const again = classificationReport(ys, logits, ys.length);
      expect(again.confusion_matrix).toEqual(result.validation!.confusion_matrix);
      expect(again.loss).toBeCloseTo(result.validation!.loss, 9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has no validation report without validation data', () => {
    const none = trainModel(bars, { ...config, validation_split: 0, epochs: 2 });
    expect(none.result!.validation).toBeNull();
  });
});
