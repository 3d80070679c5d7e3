import { allocBars, Bars, sliceBars, synthBars } from '@ktrdr/market-data';
import {
  buildDataset,
  computeFeatures,
  computeLabels,
  DatasetError,
  FEATURE_NAMES,
  featureSpecProblems,
  FeatureSpecError,
  fitNormalisation,
} from '../src/features';

function barsFrom(close: number[], volume?: number[]): Bars {
  const b = allocBars('TEST', '1h', close.length);
  close.forEach((c, i) => {
    b.time[i] = Date.UTC(2024, 0, 1) + i * 3_600_000;
    b.open[i] = c;
    b.high[i] = c;
    b.low[i] = c;
    b.close[i] = c;
    b.volume[i] = volume ? volume[i] : 100 + i;
  });
  return b;
}

const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

describe('computeFeatures', () => {
  // A zig-zag with drift: 30 bars with known values.
  const close = Array.from({ length: 30 }, (_, i) => 100 + i + (i % 3 === 0 ? 2 : -1));
  const volume = Array.from({ length: 30 }, (_, i) => 1000 + ((i * 37) % 11) * 10);
  const bars = barsFrom(close, volume);

  it('computes each feature as documented (hand-computed values)', () => {
    const fm = computeFeatures(bars, { features: [...FEATURE_NAMES] });
    expect(fm.names).toEqual([...FEATURE_NAMES]);
    expect(fm.rows).toBe(30);
    expect(fm.cols).toBe(7);
    expect(fm.firstValidIndex).toBe(20);
    const at = (i: number, name: string): number => fm.matrix[i * fm.cols + fm.names.indexOf(name)];
    const i = 25;
    expect(at(i, 'returns_1')).toBeCloseTo(close[25] / close[24] - 1, 12);
    expect(at(i, 'returns_5')).toBeCloseTo(close[25] / close[20] - 1, 12);
    expect(at(i, 'sma_ratio_10')).toBeCloseTo(close[25] / mean(close.slice(16, 26)) - 1, 12);
    expect(at(i, 'sma_ratio_20')).toBeCloseTo(close[25] / mean(close.slice(6, 26)) - 1, 12);
    expect(at(i, 'volume_ratio_20')).toBeCloseTo(volume[25] / mean(volume.slice(6, 26)), 12);
    const rets = close.map((c, k) => (k === 0 ? NaN : c / close[k - 1] - 1)).slice(6, 26);
    const m = mean(rets);
    const sd = Math.sqrt(rets.reduce((s, r) => s + (r - m) ** 2, 0) / 19);
    expect(at(i, 'volatility_20')).toBeCloseTo(sd, 12);
    const rsi = at(i, 'rsi_14');
    expect(rsi).toBeGreaterThan(0);
    expect(rsi).toBeLessThan(1);
    // Warm-up rows are NaN, later rows finite.
    for (let c = 0; c < fm.cols; c++) {
      expect(Number.isNaN(fm.matrix[19 * fm.cols + c])).toBe(true);
      expect(Number.isFinite(fm.matrix[20 * fm.cols + c])).toBe(true);
    }
  });

  it('scales RSI to 0..1 (1 for a steadily rising close)', () => {
    const up = barsFrom(Array.from({ length: 20 }, (_, i) => 10 + i));
    const fm = computeFeatures(up, { features: ['rsi_14'] });
    expect(fm.firstValidIndex).toBe(14);
    expect(fm.matrix[15]).toBe(1);
  });

  it('uses only the listed features, in the listed order, with their own warm-up', () => {
    const fm = computeFeatures(bars, { features: ['sma_ratio_10', 'returns_1'] });
    expect(fm.names).toEqual(['sma_ratio_10', 'returns_1']);
    expect(fm.firstValidIndex).toBe(9);
    expect(fm.matrix[9 * 2 + 1]).toBeCloseTo(close[9] / close[8] - 1, 12);
    expect(computeFeatures(bars, { features: ['returns_1'] }).firstValidIndex).toBe(1);
  });

  it('volume_ratio_20 is 1 when the average volume is 0', () => {
    const b = barsFrom(
      Array.from({ length: 25 }, (_, i) => 10 + i),
      new Array<number>(25).fill(0),
    );
    const fm = computeFeatures(b, { features: ['volume_ratio_20'] });
    expect(fm.matrix[22]).toBe(1);
  });

  it('has no look-ahead: features of a prefix equal those of the full series', () => {
    const full = synthBars('SYNTH-F', '1h', '2024-01-01', { count: 300 });
    const a = computeFeatures(full, { features: [...FEATURE_NAMES] });
    const b = computeFeatures(sliceBars(full, 0, 150), { features: [...FEATURE_NAMES] });
    expect(Array.from(b.matrix)).toEqual(Array.from(a.matrix.subarray(0, 150 * 7)));
  });

  it('rejects unknown, duplicate, empty and non-string feature names, naming them', () => {
    expect(() => computeFeatures(bars, { features: ['returns_1', 'macd_fast'] })).toThrow(
      FeatureSpecError,
    );
    expect(() => computeFeatures(bars, { features: ['returns_1', 'macd_fast'] })).toThrow(
      /features\[1\]: unknown feature "macd_fast"/,
    );
    expect(featureSpecProblems(['rsi_14', 'rsi_14'])).toEqual([
      'features[1]: feature "rsi_14" is listed twice',
    ]);
    expect(featureSpecProblems([])).toEqual(['features must name at least one feature']);
    expect(featureSpecProblems('rsi_14')).toEqual(['features must be an array of feature names']);
    expect(featureSpecProblems([3])).toEqual(['features[0] must be a string']);
  });
});

describe('labels, normalisation and dataset', () => {
  it('labels next-bar direction (ties are 0, last bar NaN)', () => {
    const y = computeLabels(barsFrom([10, 11, 11, 9, 12]));
    expect(Array.from(y.subarray(0, 4))).toEqual([1, 0, 0, 1]);
    expect(Number.isNaN(y[4])).toBe(true);
  });

  it('fits mean/std per column over the given rows; constant columns get std 1', () => {
    const m = new Float64Array([1, 5, 3, 5, 100, 7]); // rows (1,5) (3,5) (100,7)
    const n = fitNormalisation(m, 2, 0, 2);
    expect(n.mean).toEqual([2, 5]);
    expect(n.std).toEqual([1, 1]);
  });

  it('splits in time order, normalises with training statistics only', () => {
    const bars = synthBars('SYNTH-D', '1h', '2024-01-01', { count: 221 });
    const ds = buildDataset(bars, { features: ['returns_1', 'sma_ratio_20'] }, 0.25);
    // Samples: bars 19..219 (201 samples); validation = floor(201 * 0.25) = 50, the last ones.
    expect(ds.firstValidIndex).toBe(19);
    expect(ds.nTrain + ds.nVal).toBe(201);
    expect(ds.nVal).toBe(50);
    expect(ds.splitIndex).toBe(19 + 151);
    const fm = computeFeatures(bars, { features: ['returns_1', 'sma_ratio_20'] });
    const y = computeLabels(bars);
    // First training row is bar 19, first validation row is bar 170; labels follow.
    expect(ds.xTrain[0] * ds.normalisation.std[0] + ds.normalisation.mean[0]).toBeCloseTo(
      fm.matrix[19 * 2],
      12,
    );
    expect(ds.xVal[0] * ds.normalisation.std[0] + ds.normalisation.mean[0]).toBeCloseTo(
      fm.matrix[170 * 2],
      12,
    );
    expect(Array.from(ds.yTrain)).toEqual(Array.from(y.subarray(19, 170)));
    expect(Array.from(ds.yVal)).toEqual(Array.from(y.subarray(170, 220)));
    // Training columns are standardised exactly; validation columns generally are not.
    for (let c = 0; c < 2; c++) {
      const col = Array.from({ length: ds.nTrain }, (_, r) => ds.xTrain[r * 2 + c]);
      const mu = mean(col);
      expect(mu).toBeCloseTo(0, 10);
      expect(Math.sqrt(mean(col.map((v) => (v - mu) ** 2)))).toBeCloseTo(1, 10);
    }
    const trainOnly = fitNormalisation(fm.matrix, 2, 19, 170);
    expect(ds.normalisation).toEqual(trainOnly);
  });

  it('rejects too few bars and an invalid validation_split with clear messages', () => {
    const bars = synthBars('SYNTH-D', '1h', '2024-01-01', { count: 22 });
    expect(() => buildDataset(bars, { features: ['sma_ratio_20'] }, 0.2)).toThrow(DatasetError);
    expect(() => buildDataset(bars, { features: ['sma_ratio_20'] }, 0.2)).toThrow(
      /Not enough bars to train: 22 bars/,
    );
    expect(() => buildDataset(bars, { features: ['returns_1'] }, 1)).toThrow(/validation_split/);
    expect(() => buildDataset(bars, { features: ['returns_1'] }, -0.1)).toThrow(/validation_split/);
  });

  it('rejects non-finite feature values naming the feature and bar', () => {
    const bars = barsFrom(Array.from({ length: 30 }, (_, i) => 10 + i));
    bars.close[12] = 0; // returns_1 at 13 = Infinity
    expect(() => buildDataset(bars, { features: ['returns_1'] }, 0)).toThrow(
      /returns_1 is not finite .* at bar 13/,
    );
  });
});
