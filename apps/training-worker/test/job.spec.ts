import { modelNameFor } from '../src/job';

describe('training job helpers', () => {
  it('derives a file-name-safe model name from the operation id', () => {
    expect(modelNameFor('op_training_20261122_abc:1')).toBe('model-op_training_20261122_abc_1');
    expect(modelNameFor('op-1', 'mine')).toBe('mine');
  });
});
