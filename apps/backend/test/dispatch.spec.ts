import { HttpException } from '@nestjs/common';
import { OperationStatus, OperationType, WorkerStatus, WorkerType } from '@ktrdr/contracts';
import { BACKTEST_PARAMS, TRAINING_PARAMS, createHarness, type Harness } from './support/harness';

function register(h: Harness, id: string, type = WorkerType.BACKTESTING, gpu?: boolean): string {
  const url = `http://${id}:5003`;
  h.registry.upsert({
    worker_id: id,
    worker_type: type,
    endpoint_url: url,
    capabilities: gpu === undefined ? {} : { gpu },
    current_operation_id: null,
  });
  return url;
}

async function expectHttpError(p: Promise<unknown>, status: number, text: RegExp): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(HttpException);
  const err = (await p.catch((e: unknown) => e)) as HttpException;
  expect(err.getStatus()).toBe(status);
  expect(err.message).toMatch(text);
}

describe('dispatch and selection', () => {
  let h: Harness;
  beforeEach(() => {
    h = createHarness();
  });

  it('dispatches with a fresh lease, attempt 1 and the worker start request shape', async () => {
    const url = register(h, 'w1');
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    expect(res).toMatchObject({ success: true, status: 'running', worker_id: 'w1' });
    const op = await h.repo.get(res.operation_id);
    expect(op).toMatchObject({ status: 'running', worker_id: 'w1', attempt: 1 });
    expect(op!.lease_token).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.client.starts).toHaveLength(1);
    expect(h.client.starts[0]).toMatchObject({
      url,
      route: '/backtests/start',
      body: {
        ...BACKTEST_PARAMS,
        task_id: res.operation_id,
        lease_token: op!.lease_token,
        attempt: 1,
        resume_from: null,
      },
    });
    expect(h.registry.get('w1')).toMatchObject({
      status: WorkerStatus.BUSY,
      current_operation_id: res.operation_id,
    });
  });

  it('answers 503 with a hint and creates nothing when no worker of the type exists', async () => {
    register(h, 't1', WorkerType.TRAINING);
    await expectHttpError(
      h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS),
      503,
      /No available backtesting worker \(0 registered\)\. Start one with `pnpm --filter @ktrdr\/backtest-worker start`/,
    );
    expect((await h.repo.list({ limit: 10, offset: 0 })).total_count).toBe(0);
  });

  it('says how many are busy when all are', async () => {
    register(h, 'w1');
    await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await expectHttpError(
      h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS),
      503,
      /\(1 registered: 1 busy, 0 temporarily unavailable\)/,
    );
  });

  it('skips a worker that answers 503 and releases the unreachable one; each try has its own lease', async () => {
    const u1 = register(h, 'w1');
    const u2 = register(h, 'w2');
    register(h, 'w3');
    h.client.startAnswer.set(u1, { ok: false, kind: 'busy', detail: '503 Worker busy' });
    h.client.startAnswer.set(u2, { ok: false, kind: 'unreachable', detail: 'ECONNREFUSED' });
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    expect(res.worker_id).toBe('w3');
    const leases = h.client.starts.map((s) => s.body.lease_token);
    expect(new Set(leases).size).toBe(3);
    expect(h.client.starts.every((s) => s.body.attempt === 1)).toBe(true);
    expect((await h.repo.get(res.operation_id))!.lease_token).toBe(leases[2]);
    // The busy one stays busy until its heartbeat says otherwise; the unreachable one is free.
    expect(h.registry.get('w1')!.status).toBe(WorkerStatus.BUSY);
    expect(h.registry.get('w2')!.status).toBe(WorkerStatus.AVAILABLE);
  });

  it('tries at most 3 workers, then fails the operation with every reason', async () => {
    for (const id of ['a', 'b', 'c', 'd']) {
      h.client.startAnswer.set(register(h, id), {
        ok: false,
        kind: 'unreachable',
        detail: 'timed out',
      });
    }
    const p = h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await expectHttpError(p, 503, /after 3 tries \(a: unreachable \(timed out\); b: .*; c: .*\)/);
    expect(h.client.starts).toHaveLength(3);
    const page = await h.repo.list({ limit: 10, offset: 0 });
    expect(page.data[0]).toMatchObject({ status: OperationStatus.FAILED });
    expect(page.data[0]!.error_message).toMatch(/No backtesting worker accepted/);
    expect(h.registry.list({ status: WorkerStatus.AVAILABLE })).toHaveLength(4);
  });

  it('sends trainings to GPU workers first, then CPU ones, on /training/start', async () => {
    register(h, 'cpu', WorkerType.TRAINING);
    register(h, 'gpu', WorkerType.GPU_HOST, true);
    const first = await h.operations.start(OperationType.TRAINING, TRAINING_PARAMS);
    const second = await h.operations.start(OperationType.TRAINING, TRAINING_PARAMS);
    expect([first.worker_id, second.worker_id]).toEqual(['gpu', 'cpu']);
    expect(h.client.starts.map((s) => s.route)).toEqual(['/training/start', '/training/start']);
  });

  it('50 concurrent dispatches never pick one worker twice', async () => {
    for (let i = 0; i < 10; i++) register(h, `w${i}`);
    // Each start answer waits a random number of event-loop turns, so dispatches interleave.
    h.client.beforeStart = async () => {
      const turns = Math.floor(Math.random() * 5);
      for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    };
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () =>
        h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS),
      ),
    );
    const ok = results
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<{ worker_id: string }>).value);
    const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(ok).toHaveLength(10);
    expect(new Set(ok.map((r) => r.worker_id)).size).toBe(10);
    expect(rejected).toHaveLength(40);
    expect(rejected.every((r) => (r.reason as HttpException).getStatus() === 503)).toBe(true);
    // Every start request went to a distinct worker.
    expect(new Set(h.client.starts.map((s) => s.url)).size).toBe(h.client.starts.length);
    expect(h.registry.list({ status: WorkerStatus.BUSY })).toHaveLength(10);
  });

  it('keeps concurrent selections distinct even when workers refuse (released workers are re-used only after release)', async () => {
    for (let i = 0; i < 5; i++) register(h, `w${i}`);
    h.client.startAnswer.set('http://w0:5003', { ok: false, kind: 'unreachable', detail: 'x' });
    h.client.beforeStart = () => new Promise((r) => setImmediate(r));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{
      worker_id: string;
    }>[];
    expect(ok).toHaveLength(4);
    expect(new Set(ok.map((r) => r.value.worker_id))).toEqual(new Set(['w1', 'w2', 'w3', 'w4']));
  });
});
