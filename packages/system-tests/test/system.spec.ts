/**
 * The real system on loopback: the BUILT backend (apps/backend/dist/main.js, in-memory SQLite)
 * and the built backtest and training workers as child processes on random free ports, with short
 * health/orphan timeouts. One backtest and one training run to completion, one training is
 * cancelled, and a training worker is SIGKILLed mid-run: rule 6 re-dispatches the operation
 * from its last checkpoint to another training worker (attempt 2), which completes it. Then a
 * chaos run: four backtest workers are killed (SIGKILL or SIGTERM) and restarted while a batch of
 * backtests runs through the queue; every operation completes, none twice.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStack, builtMains, type StackProc as Proc } from '@ktrdr/test-support';

const stack = new LocalStack('ktrdr-system-', builtMains(require.resolve));
const procs = stack.procs;
const call = stack.call.bind(stack);
const waitFor = stack.waitFor.bind(stack);
const startWorker = stack.startWorker.bind(stack);
const registered = (id: string) => stack.registered(id);
/** The training worker left running by the SIGTERM test, stopped by the last test. */
let survivingTrainingWorker = 'training-sys-2';

/** The full result of a completed operation (`GET /operations/{id}/results` → data.result). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- engine results, asserted field by field
async function fullResult(id: string): Promise<Record<string, any>> {
  const res = await call('GET', `/operations/${id}/results`);
  expect(res.status).toBe(200);
  expect(res.body.success).toBe(true);
  return res.body.data.result;
}

interface Operation {
  operation_id: string;
  status: string;
  attempt: number;
  worker_id: string | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- headline metrics, asserted field by field
  metrics: Record<string, any> | null;
  error_message: string | null;
  checkpoint: { type: string; unit: number } | null;
  progress: { items_processed?: number };
}

async function operation(id: string): Promise<Operation> {
  const res = await call('GET', `/operations/${id}`);
  if (res.status !== 200)
    throw new Error(`GET /operations/${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data as Operation;
}

async function until(
  id: string,
  pred: (op: Operation) => boolean,
  what: string,
  timeoutMs = 90_000,
): Promise<Operation> {
  return waitFor(
    `${id} ${what}`,
    async () => {
      const op = await operation(id);
      return pred(op) ? op : undefined;
    },
    timeoutMs,
  );
}

const TERMINAL = ['completed', 'failed', 'cancelled'];

/** Until the worker process answers /health itself (a restarted one may still be loading). */
async function answering(p: Proc): Promise<void> {
  await waitFor(`worker ${p.name} answering on ${p.port}`, async () => {
    try {
      const res = await fetch(`http://127.0.0.1:${p.port}/health`);
      await res.text();
      return true;
    } catch {
      return undefined;
    }
  });
}

beforeAll(async () => {
  await stack.configure({
    KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '1',
    KTRDR_WORKER_HEALTH_CHECK_FAILURES: '2',
    KTRDR_WORKER_REMOVAL_THRESHOLD: '30',
    KTRDR_WORKER_PROGRESS_INTERVAL_MS: '100',
    KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS: '5',
    KTRDR_ORPHAN_TIMEOUT_SECONDS: '2',
    KTRDR_ORPHAN_CHECK_INTERVAL_SECONDS: '0.5',
    KTRDR_CHECKPOINT_EPOCH_INTERVAL: '1',
    // The chaos test interrupts some operations several times.
    KTRDR_OPS_MAX_ATTEMPTS: '10',
  });
  await stack.startBackend();
  // No key or token is configured: the backend generated both in the shared data directory (owner-only),
  // and the workers started below pick the token up from there, as under `npm run dev`.
  const keyFile = join(stack.dataDir, 'dev-api-key');
  expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  expect(stack.devKey()).toBe(readFileSync(keyFile, 'utf8').trim());
  expect((await call('GET', '/workers')).status).toBe(200);
  await startWorker('backtest', 'backtest-sys-1');
  await startWorker('training', 'training-sys-1');
  await registered('backtest-sys-1');
  await registered('training-sys-1');
}, 120_000);

afterAll(() => stack.stop());

const TRAINING = {
  symbol: 'SYNTH-SYS',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-03-01',
  features: ['returns_1', 'sma_ratio_10', 'rsi_14'],
  model: { hidden_layers: [8] },
  epochs: 5,
  seed: 3,
};

/** Slow enough to be interrupted: ~13k bars, two hidden layers, no early stop. */
const LONG_TRAINING = {
  ...TRAINING,
  timeframe: '5m',
  start_date: '2024-01-01',
  end_date: '2024-02-15',
  model: { hidden_layers: [16, 8] },
  batch_size: 32,
  early_stopping: { patience: 1000 },
};

describe('system: backend + workers as processes', () => {
  it('runs a backtest to completion on the backtest worker', async () => {
    const res = await call('POST', '/backtests/start', {
      symbol: 'SYNTH-SYS',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-07-01',
      strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
    });
    expect(res.status).toBe(202);
    // Queued first (the answer is the insert's own view), then dispatched to the free worker.
    expect(res.body).toMatchObject({
      success: true,
      status: 'pending',
      worker_id: null,
      queue_position: 1,
    });
    const op = await until(res.body.operation_id, (o) => TERMINAL.includes(o.status), 'finished');
    expect(op.status).toBe('completed');
    expect(op.worker_id).toBe('backtest-sys-1');
    expect(op.metrics).toMatchObject({
      num_trades: expect.any(Number),
      total_return: expect.any(Number),
      sharpe_ratio: expect.any(Number),
      max_drawdown: expect.any(Number),
      benchmark_return: expect.any(Number),
    });
    expect(op.metrics!.num_trades).toBeGreaterThan(0);
    const result = await fullResult(op.operation_id);
    expect(result.bars_total).toBe(182 * 24);
    expect(result.final_equity).toBe(op.metrics!.final_equity);
    // Every trade went up before the completion and is served page by page.
    const trades = await call('GET', `/operations/${op.operation_id}/results/trades?limit=10000`);
    expect(trades.status).toBe(200);
    expect(trades.body.total_count).toBe(result.num_trades);
    expect(trades.body.data).toHaveLength(result.num_trades);
  });

  it('runs a training to completion and saves the model in the models dir', async () => {
    const res = await call('POST', '/trainings/start', { ...TRAINING, model_name: 'sys-model' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'pending', queue_position: 1 });
    const op = await until(res.body.operation_id, (o) => TERMINAL.includes(o.status), 'finished');
    expect(op.status).toBe('completed');
    expect(op.worker_id).toBe('training-sys-1');
    const modelPath = join(stack.dataDir, 'models', 'sys-model.json');
    expect(op.metrics).toMatchObject({ epochs_run: expect.any(Number), model_name: 'sys-model' });
    expect(JSON.stringify(await fullResult(op.operation_id))).not.toContain(stack.root);
    expect(existsSync(modelPath)).toBe(true);
    // The backtest worker trades that model.
    const bt = await call('POST', '/backtests/start', {
      symbol: 'SYNTH-SYS',
      timeframe: '1h',
      start_date: '2024-03-01',
      end_date: '2024-04-01',
      strategy: { type: 'model', model_name: 'sys-model' },
    });
    expect(bt.status).toBe(202);
    const btOp = await until(bt.body.operation_id, (o) => TERMINAL.includes(o.status), 'finished');
    expect(btOp.status).toBe('completed');
    expect((await fullResult(btOp.operation_id)).strategy).toMatchObject({
      type: 'model',
      model_name: 'sys-model',
    });
  });

  it('cancels a running training: the engine stops with a cancellation checkpoint', async () => {
    const res = await call('POST', '/trainings/start', { ...LONG_TRAINING, epochs: 5000 });
    expect(res.status).toBe(202);
    const id = res.body.operation_id as string;
    await until(
      id,
      (o) => o.status === 'running' && (o.progress.items_processed ?? 0) >= 1,
      'progressing',
    );
    const del = await call('DELETE', `/operations/${id}`);
    expect(del.status).toBe(200);
    const op = await until(
      id,
      (o) => o.status === 'cancelled' && o.checkpoint?.type === 'cancellation',
      'cancelled with its checkpoint',
      30_000,
    );
    expect(op.checkpoint!.unit).toBeGreaterThanOrEqual(1);
    expect(op.checkpoint!.unit).toBeLessThan(5000);
    // The worker is free again.
    await registered('training-sys-1');
  });

  it('re-dispatches the operation of a SIGKILLed training worker from its checkpoint (rule 6)', async () => {
    const res = await call('POST', '/trainings/start', {
      ...LONG_TRAINING,
      epochs: 150,
      model_name: 'sys-redispatched',
    });
    expect(res.status).toBe(202);
    const id = res.body.operation_id as string;
    const before = await until(
      id,
      (o) => o.status === 'running' && o.checkpoint !== null,
      'checkpointed',
    );
    expect(before.worker_id).toBe('training-sys-1');
    expect(before.attempt).toBe(1);
    const victim = procs.find((p) => p.name === 'training-sys-1')!;
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    await startWorker('training', 'training-sys-2');
    await registered('training-sys-2');
    const after = await until(id, (o) => o.attempt === 2, 're-dispatched', 60_000);
    expect(after.worker_id).toBe('training-sys-2');
    const done = await until(id, (o) => TERMINAL.includes(o.status), 'finished', 90_000);
    expect(done.status).toBe('completed');
    expect(done.metrics).toMatchObject({ epochs_run: 150 });
    expect((await fullResult(id)).resumed_from_epoch).toBeGreaterThanOrEqual(1);
  });

  it('continues a training on another worker when its worker is stopped with SIGTERM', async () => {
    await startWorker('training', 'training-sys-3');
    await registered('training-sys-3');
    const res = await call('POST', '/trainings/start', {
      ...LONG_TRAINING,
      epochs: 150,
      model_name: 'sys-sigterm',
    });
    expect(res.status).toBe(202);
    const id = res.body.operation_id as string;
    const progressing = await until(
      id,
      (o) => o.status === 'running' && (o.progress.items_processed ?? 0) >= 1,
      'progressing',
    );
    const first = progressing.worker_id!;
    const other = first === 'training-sys-2' ? 'training-sys-3' : 'training-sys-2';
    const stopped = procs.find((p) => p.name === first)!;
    stopped.child.kill('SIGTERM');
    expect(await stopped.exited).toEqual({ code: 0, signal: null });
    const after = await until(id, (o) => o.attempt === 2, 'continued elsewhere', 60_000);
    expect(after.worker_id).toBe(other);
    const done = await until(id, (o) => TERMINAL.includes(o.status), 'finished', 90_000);
    expect(done.status).toBe('completed');
    expect(done.metrics).toMatchObject({ epochs_run: 150 });
    expect((await fullResult(id)).resumed_from_epoch).toBeGreaterThanOrEqual(1);
    survivingTrainingWorker = other;
  });

  it('stops both workers with exit code 0 on SIGTERM', async () => {
    for (const name of ['backtest-sys-1', survivingTrainingWorker]) {
      const p = procs.find((x) => x.name === name)!;
      p.child.kill('SIGTERM');
      expect(await p.exited).toEqual({ code: 0, signal: null });
    }
  });
});

describe('chaos: workers killed and restarted while a batch runs through the queue', () => {
  const WORKERS = ['chaos-1', 'chaos-2', 'chaos-3', 'chaos-4'];
  const BATCH = 24;
  /** ~130k one-minute bars: about a second per backtest on a loaded 2-core machine. */
  const SHORT_BACKTEST = {
    symbol: 'SYNTH-CHAOS',
    timeframe: '1m',
    start_date: '2024-01-01',
    end_date: '2024-04-01',
    strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
  };

  async function completedCount(): Promise<number> {
    const res = await fetch(`${stack.origin}/metrics`);
    const line = (await res.text())
      .split('\n')
      .find((l) =>
        l.startsWith('ktrdr_operations_total{operation_type="backtesting",status="completed"}'),
      );
    return Number(line?.split(' ').pop() ?? NaN);
  }

  it('every operation completes exactly once, with kills and restarts of real worker processes', async () => {
    const before = await completedCount();
    for (const id of WORKERS) await startWorker('backtest', id);
    for (const id of WORKERS) await registered(id);
    const ids: string[] = [];
    for (let i = 0; i < BATCH; i++) {
      const res = await call('POST', '/backtests/start', { ...SHORT_BACKTEST, priority: i % 3 });
      expect(res.status).toBe(202);
      ids.push(res.body.operation_id as string);
    }
    // Kill a busy worker (SIGKILL or SIGTERM in turn) and restart it under the same id, until the
    // batch is done or the cycles are used up: bounded in count and in time.
    const deadline = Date.now() + 90_000;
    let cycles = 0;
    const kinds: Record<string, number> = { SIGKILL: 0, SIGTERM: 0 };
    while (cycles < 10 && Date.now() < deadline) {
      const ops = await Promise.all(ids.map((id) => operation(id)));
      if (ops.every((o) => TERMINAL.includes(o.status))) break;
      const busy = ops.filter((o) => o.status === 'running' && o.worker_id?.startsWith('chaos-'));
      if (busy.length === 0) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const victimId = busy[cycles % busy.length]!.worker_id!;
      const victim = procs.filter((p) => p.name === victimId).at(-1)!;
      if (victim.child.exitCode === null && victim.child.signalCode === null) {
        const signal = cycles % 2 === 0 ? 'SIGKILL' : 'SIGTERM';
        victim.child.kill(signal);
        await victim.exited;
        kinds[signal] += 1;
        cycles += 1;
        await startWorker('backtest', victimId);
      }
      await new Promise((r) => setTimeout(r, 700));
    }
    console.log(
      `[chaos] ${cycles} kill-and-restart cycles (${kinds.SIGKILL} SIGKILL, ${kinds.SIGTERM} SIGTERM) over ${BATCH} backtests`,
    );
    expect(cycles).toBeGreaterThanOrEqual(4);
    const done = await Promise.all(
      ids.map((id) => until(id, (o) => TERMINAL.includes(o.status), 'finished', 180_000)),
    );
    const notCompleted = done.filter((o) => o.status !== 'completed');
    expect(notCompleted.map((o) => `${o.operation_id}: ${o.status} ${o.error_message}`)).toEqual(
      [],
    );
    const retried = done.filter((o) => o.attempt > 1).length;
    console.log(`[chaos] ${BATCH} completed; ${retried} needed more than one attempt`);
    // Each operation reached `completed` once: the lease refuses a second completion.
    expect((await completedCount()) - before).toBe(BATCH);
    for (const id of WORKERS) {
      const p = procs.filter((x) => x.name === id).at(-1)!;
      // One restarted in the last cycle may still be loading its modules, before any code of ours
      // runs (the runtime keeps a signal from its first line on; Node's default action is earlier).
      await answering(p);
      p.child.kill('SIGTERM');
      expect(await p.exited).toEqual({ code: 0, signal: null });
    }
  }, 420_000);
});
