import {
  buildHeatmap,
  gridParams,
  metricNames,
  rankChildren,
  type SweepChildLike,
} from '../src/lib/sweep';

function child(
  id: string,
  fast: number,
  slow: number,
  sharpe: number | null,
  extra = {},
): SweepChildLike {
  return {
    operation_id: id,
    status: sharpe === null ? 'failed' : 'completed',
    grid_values: { 'strategy.fast_period': fast, 'strategy.slow_period': slow, ...extra },
    metrics: sharpe === null ? null : { sharpe_ratio: sharpe, total_return: sharpe / 10 },
  };
}

const children = [
  child('a', 5, 20, 0.5),
  child('b', 10, 20, 1.5),
  child('c', 5, 40, -0.2),
  child('d', 10, 40, null),
];

describe('sweep ranking', () => {
  it('ranks by the metric, missing values last', () => {
    expect(rankChildren(children, 'sharpe_ratio', 'desc').map((c) => c.operation_id)).toEqual([
      'b',
      'a',
      'c',
      'd',
    ]);
    expect(rankChildren(children, 'sharpe_ratio', 'asc').map((c) => c.operation_id)).toEqual([
      'c',
      'a',
      'b',
      'd',
    ]);
  });
  it('lists metrics and grid parameters', () => {
    expect(metricNames(children)).toEqual(['sharpe_ratio', 'total_return']);
    expect(gridParams(children)).toEqual(['strategy.fast_period', 'strategy.slow_period']);
  });
});

describe('sweep heatmap', () => {
  it('places each child by its two grid values, sorted numerically', () => {
    const h = buildHeatmap(
      children,
      'strategy.fast_period',
      'strategy.slow_period',
      'sharpe_ratio',
      'desc',
    );
    expect(h.xs).toEqual([5, 10]);
    expect(h.ys).toEqual([20, 40]);
    expect(h.cells.map((r) => r.map((c) => c.value))).toEqual([
      [0.5, 1.5],
      [-0.2, null],
    ]);
    expect(h.cells[1]![1]!.count).toBe(1);
    expect(h.min).toBe(-0.2);
    expect(h.max).toBe(1.5);
    // best (highest, desc) is the most intense
    expect(h.cells[0]![1]!.intensity).toBe(1);
    expect(h.cells[1]![0]!.intensity).toBe(0);
  });

  it('keeps the best child where other parameters share a cell; asc flips intensity', () => {
    const more = [
      child('x', 5, 20, 0.1, { commission: 0.001 }),
      child('y', 5, 20, 0.9, { commission: 0.002 }),
      child('z', 10, 20, 0.3, { commission: 0.001 }),
    ];
    const desc = buildHeatmap(
      more,
      'strategy.fast_period',
      'strategy.slow_period',
      'sharpe_ratio',
      'desc',
    );
    expect(desc.cells[0]![0]).toMatchObject({ value: 0.9, operation_id: 'y', count: 2 });
    const asc = buildHeatmap(
      more,
      'strategy.fast_period',
      'strategy.slow_period',
      'sharpe_ratio',
      'asc',
    );
    expect(asc.cells[0]![0]).toMatchObject({ value: 0.1, operation_id: 'x', intensity: 1 });
  });
});
