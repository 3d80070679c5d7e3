import type { OperationDto, WorkerDto } from '@ktrdr/contracts';

/** A short backtest: a year of hourly synthetic bars (finishes in about a second). */
export const SHORT_BACKTEST = Object.freeze({
  symbol: 'SYNTH-E2E',
  timeframe: '1h',
  start_date: '2023-01-01',
  end_date: '2024-01-01',
  strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
  initial_capital: 100_000,
});

/**
 * A long backtest: 16 years of minute bars (~8.4 M). Most of its time goes into generating the
 * synthetic bars, which the worker does not interrupt: a cancel takes effect once they are loaded.
 */
export const LONG_BACKTEST = Object.freeze({
  ...SHORT_BACKTEST,
  symbol: 'SYNTH-E2E-LONG',
  timeframe: '1m',
  start_date: '2008-01-01',
  end_date: '2024-01-01',
});

/** A backtest long enough that five of them overlap on three workers (a few seconds each). */
export const MEDIUM_BACKTEST = Object.freeze({
  ...SHORT_BACKTEST,
  symbol: 'SYNTH-E2E-MED',
  timeframe: '1m',
  start_date: '2018-01-01',
  end_date: '2024-01-01',
});

/** A small training: a year of hourly bars, a few epochs. */
export const SHORT_TRAINING = Object.freeze({
  symbol: 'SYNTH-E2E',
  timeframe: '1h',
  start_date: '2023-01-01',
  end_date: '2024-01-01',
  features: ['returns_1', 'sma_ratio_10', 'rsi_14'],
  model: { hidden_layers: [8] },
  epochs: 5,
  batch_size: 64,
  seed: 42,
});

/** A long training (many epochs over five years of hourly bars, ~0.2 s each): kill and cancel targets. */
export const LONG_TRAINING = Object.freeze({
  ...SHORT_TRAINING,
  start_date: '2019-01-01',
  end_date: '2024-01-01',
  model: { hidden_layers: [32, 16] },
  epochs: 3000,
  batch_size: 32,
  // No early stop: synthetic prices are a random walk, so validation loss stalls after a few epochs.
  early_stopping: { patience: 1000 },
});

/** A fake `nvidia-smi` for a shell-less image: a node script (shebang) printing one H100 row. */
export const FAKE_NVIDIA_SMI = `#!/usr/local/bin/node
process.stdout.write('NVIDIA H100 80GB HBM3, 81559 MiB\\n');
`;

/** Operations of one worker must not overlap in time: [started_at, completed_at] intervals. */
export function overlappingRuns(ops: OperationDto[]): [OperationDto, OperationDto][] {
  const byWorker = new Map<string, OperationDto[]>();
  for (const op of ops) {
    if (!op.worker_id) continue;
    byWorker.set(op.worker_id, [...(byWorker.get(op.worker_id) ?? []), op]);
  }
  const overlaps: [OperationDto, OperationDto][] = [];
  for (const list of byWorker.values()) {
    const sorted = [...list].sort(
      (a, b) => Date.parse(a.started_at ?? '') - Date.parse(b.started_at ?? ''),
    );
    for (let i = 1; i < sorted.length; i++) {
      const prevEnd = Date.parse(sorted[i - 1].completed_at ?? '');
      const start = Date.parse(sorted[i].started_at ?? '');
      if (!(start >= prevEnd)) overlaps.push([sorted[i - 1], sorted[i]]);
    }
  }
  return overlaps;
}

export function workersOfType(workers: WorkerDto[], type: string): WorkerDto[] {
  return workers.filter((w) => w.worker_type === type);
}
