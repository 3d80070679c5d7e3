import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocBars, synthBars } from '@ktrdr/market-data';
import { resolveTrainingConfig } from '../src/config';
import {
  defaultModelFileName,
  layersFromParams,
  loadModel,
  ModelFormatError,
  paramsFromLayers,
  predictProbabilities,
  predictSignals,
  saveModel,
  TrainedModel,
  validateModel,
} from '../src/model';
import { sigmoid } from '../src/mlp';
import { trainModel } from '../src/train';

const bars = synthBars('SYNTH-MODEL', '1h', '2024-01-01', { count: 800 });
const trained = trainModel(
  bars,
  resolveTrainingConfig({ features: ['returns_1', 'sma_ratio_10', 'rsi_14'], epochs: 4, seed: 1 }),
  { now: () => new Date('2026-11-22T10:11:12.345Z') },
).model!;

/** A hand-built model: one feature (returns_1), no hidden layer, p = sigmoid(w * (x - m) / s + b). */
function tinyModel(w: number, b: number): TrainedModel {
  return {
    format: 'ktrdr-mlp',
    version: 1,
    created_at: '2026-01-01T00:00:00.000Z',
    features: { names: ['returns_1'], warmup: 1 },
    label: { kind: 'next_bar_direction', description: 'x' },
    normalisation: { mean: [0], std: [0.01] },
    layers: [{ inputs: 1, outputs: 1, activation: 'sigmoid', weights: [[w]], bias: [b] }],
    training: {
      symbol: 'T',
      timeframe: '1h',
      start: null,
      end: null,
      bars: 0,
      config: {},
      epochs_run: 0,
      best_epoch: 0,
      stopped_early: false,
      train_loss: 0,
      val_loss: null,
      train_accuracy: 0,
      val_accuracy: null,
      samples: { train: 0, validation: 0 },
    },
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ktrdr-models-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('model file', () => {
  it('round-trips through saveModel/loadModel and predicts the same', () => {
    const path = saveModel(dir, trained);
    expect(path).toBe(join(dir, 'SYNTH-MODEL_1h_mlp_20261122T101112Z.json'));
    expect(readdirSync(dir)).toEqual(['SYNTH-MODEL_1h_mlp_20261122T101112Z.json']); // no temp file left
    const loaded = loadModel(path);
    expect(loaded).toEqual(trained);
    const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    expect(raw.format).toBe('ktrdr-mlp');
    expect(raw.version).toBe(1);
    expect(Array.from(predictProbabilities(loaded, bars))).toEqual(
      Array.from(predictProbabilities(trained, bars)),
    );
  });

  it('honours a file name and refuses paths as names', () => {
    expect(saveModel(join(dir, 'sub'), trained, 'm.json')).toBe(join(dir, 'sub', 'm.json'));
    expect(() => saveModel(dir, trained, '../evil.json')).toThrow(/plain file name/);
    expect(
      defaultModelFileName({ ...trained, training: { ...trained.training, symbol: 'A/B C' } }),
    ).toMatch(/^A_B_C_1h_mlp_/);
  });

  it('overwrites atomically (replaces an existing file)', () => {
    saveModel(dir, tinyModel(1, 0), 'm.json');
    saveModel(dir, tinyModel(2, 0), 'm.json');
    expect(loadModel(join(dir, 'm.json')).layers[0].weights).toEqual([[2]]);
    expect(readdirSync(dir)).toEqual(['m.json']);
  });

  it('layers <-> flat params are inverse', () => {
    const { sizes, params } = paramsFromLayers(trained.layers);
    expect(layersFromParams(sizes, params)).toEqual(trained.layers);
  });

  const cases: [string, (m: Record<string, unknown>) => unknown, RegExp][] = [
    ['wrong format', (m) => ({ ...m, format: 'onnx' }), /format must be "ktrdr-mlp", got "onnx"/],
    ['future version', (m) => ({ ...m, version: 2 }), /version 2 is not supported/],
    [
      'unknown feature',
      (m) => ({ ...m, features: { names: ['returns_1', 'foo'], warmup: 1 } }),
      /features\.names\[1\]: unknown feature "foo"/,
    ],
    [
      'short normalisation',
      (m) => ({ ...m, normalisation: { mean: [0], std: [1] } }),
      /normalisation\.mean must be 3 finite numbers/,
    ],
    [
      'zero std',
      (m) => ({ ...m, normalisation: { mean: [0, 0, 0], std: [1, 0, 1] } }),
      /normalisation\.std/,
    ],
    ['no layers', (m) => ({ ...m, layers: [] }), /layers must be a non-empty array/],
    [
      'shape mismatch',
      (m) => ({
        ...m,
        layers: [{ ...(m.layers as object[])[0], inputs: 4 }, ...(m.layers as object[]).slice(1)],
      }),
      /layers\[0\]\.inputs must be 3/,
    ],
    [
      'bad weight',
      (m) => {
        const layers = JSON.parse(JSON.stringify(m.layers)) as { weights: unknown[][] }[];
        layers[1].weights[2][0] = 'x';
        return { ...m, layers };
      },
      /layers\[1\]\.weights\[2\] must be 16 finite numbers/,
    ],
    [
      'wrong output activation',
      (m) => {
        const layers = JSON.parse(JSON.stringify(m.layers)) as { activation: string }[];
        layers[layers.length - 1].activation = 'relu';
        return { ...m, layers };
      },
      /layers\[2\]\.activation must be "sigmoid"/,
    ],
    ['not an object', () => [1, 2], /must contain a JSON object/],
  ];
  it.each(cases)('loadModel rejects %s with a clear error', (_n, mutate, msg) => {
    const path = join(dir, 'bad.json');
    writeFileSync(
      path,
      JSON.stringify(mutate(JSON.parse(JSON.stringify(trained)) as Record<string, unknown>)),
    );
    expect(() => loadModel(path)).toThrow(ModelFormatError);
    expect(() => loadModel(path)).toThrow(msg);
    expect(() => loadModel(path)).toThrow(path);
  });

  it('loadModel reports a missing file and invalid JSON', () => {
    expect(() => loadModel(join(dir, 'none.json'))).toThrow(/none\.json: model file not found/);
    writeFileSync(join(dir, 'x.json'), '{"format": ');
    expect(() => loadModel(join(dir, 'x.json'))).toThrow(/not valid JSON/);
  });

  it('saveModel refuses an invalid model', () => {
    expect(() => saveModel(dir, { ...trained, layers: [] })).toThrow(ModelFormatError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('validateModel recomputes the warm-up', () => {
    const m = validateModel({
      ...JSON.parse(JSON.stringify(trained)),
      features: { names: trained.features.names, warmup: 0 },
    });
    expect(m.features.warmup).toBe(14);
  });
});

describe('predictSignals', () => {
  const b = allocBars('T', '1h', 5);
  [100, 101, 99, 99.5, 102].forEach((c, i) => {
    b.close[i] = c;
    b.time[i] = i * 3_600_000;
  });

  it('computes hand-checkable probabilities and thresholds them (long = 1, flat = 0)', () => {
    const m = tinyModel(1, 0); // p = sigmoid(returns_1 / 0.01)
    const p = predictProbabilities(m, b);
    expect(Number.isNaN(p[0])).toBe(true);
    expect(p[1]).toBeCloseTo(sigmoid((101 / 100 - 1) / 0.01), 12);
    expect(p[2]).toBeCloseTo(sigmoid((99 / 101 - 1) / 0.01), 12);
    expect(Array.from(predictSignals(m, b))).toEqual([0, 1, 0, 1, 1]);
    // A higher threshold: only strong up moves (returns_1 > ~0.0202 at p > 0.883).
    expect(Array.from(predictSignals(m, b, 0.85))).toEqual([0, 0, 0, 0, 1]);
    // A model that learned the opposite.
    expect(Array.from(predictSignals(tinyModel(-1, 0), b))).toEqual([0, 0, 1, 0, 0]);
    expect(() => predictSignals(m, b, 1.5)).toThrow(/threshold/);
  });

  it('gives 0 during the warm-up of a trained model and one signal per bar', () => {
    const s = predictSignals(trained, bars);
    expect(s).toBeInstanceOf(Int8Array);
    expect(s.length).toBe(bars.length);
    expect(Array.from(s.subarray(0, 14)).every((v) => v === 0)).toBe(true);
    const longs = s.reduce((a, v) => a + v, 0);
    expect(longs).toBeGreaterThan(0);
    expect(longs).toBeLessThan(bars.length);
  });

  it('returns all zeros for bars shorter than the warm-up', () => {
    expect(
      Array.from(predictSignals(trained, synthBars('SYNTH-X', '1h', '2024-01-01', { count: 5 }))),
    ).toEqual([0, 0, 0, 0, 0]);
  });
});
