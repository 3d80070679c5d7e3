import { boundHistory, MAX_RESULT_HISTORY, modelNameFor } from '../src/job';

describe('training job helpers', () => {
  const history = (n: number): { epoch: number }[] =>
    Array.from({ length: n }, (_, i) => ({ epoch: i + 1 }));

  it('keeps a short history as it is', () => {
    const h = history(50);
    expect(boundHistory(h, 10)).toBe(h);
  });

  it('bounds a long history, keeping the first, best and last epochs in order', () => {
    const out = boundHistory(history(5000), 1234);
    expect(out.length).toBeLessThanOrEqual(MAX_RESULT_HISTORY);
    expect(out.length).toBeGreaterThan(MAX_RESULT_HISTORY - 5);
    const epochs = out.map((h) => h.epoch);
    expect(epochs[0]).toBe(1);
    expect(epochs[epochs.length - 1]).toBe(5000);
    expect(epochs).toContain(1234);
    expect([...epochs].sort((a, b) => a - b)).toEqual(epochs);
    expect(new Set(epochs).size).toBe(epochs.length);
  });

  it('derives a file-name-safe model name from the operation id', () => {
    expect(modelNameFor('op_training_20261122_abc:1')).toBe('model-op_training_20261122_abc_1');
    expect(modelNameFor('op-1', 'mine')).toBe('mine');
  });
});
