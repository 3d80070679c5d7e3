import { equityRows, maxDrawdown } from '../src/lib/equity';
import { formatAgo, formatDuration, formatMetric, formatPct, shortId } from '../src/lib/format';
import {
  canCancel,
  canResume,
  describeParams,
  durationMs,
  elapsedMs,
  etaMs,
  headlineMetrics,
  isActive,
  isFinished,
  queueInfo,
} from '../src/lib/ops';
import {
  ACTIVE_OPERATION_STATUSES,
  OperationStatus,
  TERMINAL_OPERATION_STATUSES,
} from '@ktrdr/contracts/constants';
import { parseRoute } from '../src/lib/route';
import type { OperationDto } from '../src/api/types';

function op(over: Partial<OperationDto> = {}): OperationDto {
  return {
    operation_id: 'op_backtesting_20261122_abcdef123456',
    operation_type: 'backtesting',
    status: 'running',
    worker_id: 'bt-1',
    attempt: 1,
    created_at: '2026-01-01T00:00:00.000Z',
    started_at: '2026-01-01T00:00:10.000Z',
    completed_at: null,
    progress: { percentage: 25 },
    params: { symbol: 'SYNTH-A', timeframe: '1h', strategy: { type: 'sma_crossover' } },
    metrics: null,
    error_message: null,
    checkpoint: null,
    priority: 0,
    queue_position: null,
    wait_reason: null,
    sweep_id: null,
    ...over,
  } as OperationDto;
}

const T0 = Date.parse('2026-01-01T00:00:10.000Z');

describe('format', () => {
  it('durations', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(4_400)).toBe('4s');
    expect(formatDuration(125_000)).toBe('2m 05s');
    expect(formatDuration(3_600_000 * 3 + 60_000 * 7)).toBe('3h 07m');
    expect(formatDuration(3_600_000 * 50)).toBe('2d 2h');
  });
  it('ago, percentages, metrics, ids', () => {
    expect(formatAgo(null, T0)).toBe('never');
    expect(formatAgo('2026-01-01T00:00:09.500Z', T0)).toBe('just now');
    expect(formatAgo('2026-01-01T00:00:00.000Z', T0)).toBe('10s ago');
    expect(formatPct(0.1234)).toBe('12.34%');
    expect(formatPct(Number.NaN)).toBe('—');
    expect(formatPct(-0.000001)).toBe('0.00%');
    expect(formatPct(-0.01)).toBe('-1.00%');
    expect(formatMetric('total_return', 0.05)).toBe('5.00%');
    expect(formatMetric('max_drawdown', 0.2)).toBe('20.00%');
    expect(formatMetric('num_trades', 12)).toBe('12');
    expect(formatMetric('sharpe_ratio', 1.234567)).toBe('1.2346');
    expect(formatMetric('x', null)).toBe('—');
    expect(shortId('op_backtesting_20261122_abcdef12')).toBe('…abcdef12');
  });
});

describe('operations', () => {
  it("finished and active are the contracts' status lists", () => {
    for (const status of Object.values(OperationStatus)) {
      expect([status, isFinished(status)]).toEqual([
        status,
        TERMINAL_OPERATION_STATUSES.includes(status),
      ]);
      expect([status, isActive(status)]).toEqual([
        status,
        ACTIVE_OPERATION_STATUSES.includes(status),
      ]);
    }
    expect(['completed', 'failed', 'cancelled'].every(isFinished)).toBe(true);
    expect(['pending', 'dispatched', 'running'].every(isActive)).toBe(true);
    // A status a newer backend might add is neither.
    expect(isFinished('archived') || isActive('archived')).toBe(false);
  });

  it('elapsed and ETA extrapolate the rate so far', () => {
    const o = op({ progress: { percentage: 25 } });
    expect(elapsedMs(o, T0 + 30_000)).toBe(30_000);
    // 25 % in 30 s: 75 % more takes 90 s.
    expect(etaMs(o, T0 + 30_000)).toBe(90_000);
    expect(etaMs(op({ progress: { percentage: 0 } }), T0 + 30_000)).toBeNull();
    expect(etaMs(op({ started_at: null }), T0)).toBeNull();
    expect(etaMs(op({ completed_at: '2026-01-01T00:01:00.000Z' }), T0)).toBeNull();
  });

  it('duration of a finished operation', () => {
    expect(durationMs(op({ completed_at: '2026-01-01T00:01:10.000Z' }))).toBe(60_000);
    expect(durationMs(op())).toBeNull();
  });

  it('cancel while active, resume when failed or cancelled with a checkpoint', () => {
    expect(canCancel(op({ status: 'pending' as OperationDto['status'] }))).toBe(true);
    expect(canCancel(op({ status: 'dispatched' as OperationDto['status'] }))).toBe(true);
    expect(canCancel(op({ status: 'completed' as OperationDto['status'] }))).toBe(false);
    const cp = { type: 'cancellation', created_at: '2026-01-01T00:00:20.000Z', unit: 5 };
    expect(
      canResume(op({ status: 'cancelled' as OperationDto['status'], checkpoint: cp as never })),
    ).toBe(true);
    expect(canResume(op({ status: 'failed' as OperationDto['status'] }))).toBe(false);
    expect(
      canResume(op({ status: 'running' as OperationDto['status'], checkpoint: cp as never })),
    ).toBe(false);
  });

  it('headline metrics by type', () => {
    const bt = op({
      status: 'completed' as OperationDto['status'],
      metrics: { total_return: 0.1, sharpe_ratio: 1.5, max_drawdown: 0.05, num_trades: 7 },
    });
    expect(headlineMetrics(bt)).toEqual([
      { label: 'return', value: '10.00%' },
      { label: 'Sharpe', value: '1.5' },
      { label: 'max DD', value: '5.00%' },
      { label: 'trades', value: '7' },
    ]);
    const tr = op({
      operation_type: 'training' as OperationDto['operation_type'],
      metrics: { val_accuracy: 0.55, train_accuracy: 0.6, val_loss: null, epochs_run: 5 },
    });
    expect(headlineMetrics(tr).map((h) => h.label)).toEqual(['val acc', 'train acc', 'epochs']);
    expect(headlineMetrics(op())).toEqual([]);
    const withBenchmark = op({
      metrics: { total_return: 0.2, excess_return: -0.05, num_trades: 3 },
    });
    expect(headlineMetrics(withBenchmark)).toEqual([
      { label: 'return', value: '20.00%' },
      { label: 'vs B&H', value: '-5.00%' },
      { label: 'trades', value: '3' },
    ]);
  });

  it('describes the parameters and reads queue fields when present', () => {
    expect(describeParams(op())).toBe('SYNTH-A 1h · sma_crossover');
    expect(queueInfo(op())).toEqual({
      position: null,
      waitReason: null,
      priority: 0,
      sweepId: null,
    });
    const queued = op({ queue_position: 2, wait_reason: '1 ahead', priority: 5, sweep_id: 'sw_1' });
    expect(queueInfo(queued)).toEqual({
      position: 2,
      waitReason: '1 ahead',
      priority: 5,
      sweepId: 'sw_1',
    });
  });
});

describe('equity and drawdown', () => {
  it('drawdown is the fall from the running peak', () => {
    const rows = equityRows([
      { time: '2024-01-01T00:00:00Z', equity: 100 },
      { time: '2024-01-02T00:00:00Z', equity: 120 },
      { time: '2024-01-03T00:00:00Z', equity: 90 },
      { time: 'not a date', equity: 50 },
      { time: '2024-01-04T00:00:00Z', equity: 130 },
    ]);
    expect(rows.map((r) => r.equity)).toEqual([100, 120, 90, 130]);
    // 1 − E / running peak, positive like max_drawdown (docs/metrics.md).
    expect(rows.map((r) => Number(r.drawdown.toFixed(4)))).toEqual([0, 0, 0.25, 0]);
    expect(maxDrawdown(rows)).toBeCloseTo(0.25);
    expect(equityRows(undefined)).toEqual([]);
  });

  it('the running peak starts at the initial capital, as max_drawdown does', () => {
    const curve = [
      { time: '2024-01-01T00:00:00Z', equity: 90 },
      { time: '2024-01-02T00:00:00Z', equity: 80 },
      { time: '2024-01-03T00:00:00Z', equity: 110 },
    ];
    const rows = equityRows(curve, 100);
    expect(rows.map((r) => Number(r.drawdown.toFixed(4)))).toEqual([0.1, 0.2, 0]);
    expect(maxDrawdown(rows)).toBeCloseTo(0.2);
    // Without the capital the first point is the first peak.
    expect(maxDrawdown(equityRows(curve))).toBeCloseTo(1 - 80 / 90);
  });
});

describe('routes', () => {
  it('parses hash routes', () => {
    expect(parseRoute('')).toEqual({ page: 'overview' });
    expect(parseRoute('#/')).toEqual({ page: 'overview' });
    expect(parseRoute('#/operations')).toEqual({ page: 'operations' });
    expect(parseRoute('#/operations/op_x%3A1')).toEqual({ page: 'operation', id: 'op_x:1' });
    expect(parseRoute('#/sweeps/sw_1/')).toEqual({ page: 'sweep', id: 'sw_1' });
    expect(parseRoute('#/new/training')).toEqual({ page: 'new', kind: 'training' });
    expect(parseRoute('#/new')).toEqual({ page: 'new', kind: 'backtest' });
    expect(parseRoute('#/nope/a/b')).toEqual({ page: 'not-found', path: '/nope/a/b' });
  });
});
