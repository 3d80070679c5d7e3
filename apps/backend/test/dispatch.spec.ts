import { HttpException } from '@nestjs/common';
import {
  CompletionStatus,
  OPERATION_TRANSITIONS,
  OperationStatus,
  OperationType,
  WorkerStatus,
  WorkerType,
} from '@ktrdr/contracts';
import { IllegalTransitionError } from '../src/operations/lifecycle.service';
import { BACKTEST_PARAMS, TRAINING_PARAMS, createHarness, type Harness } from './support/harness';
import { testSettings } from './support/settings';
import { storedParams } from './support/params';

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
  const err = (await p.then(
    () => null,
    (e: unknown) => e,
  )) as HttpException | null;
  expect(err).toBeInstanceOf(HttpException);
  expect(err!.getStatus()).toBe(status);
  expect(err!.message).toMatch(text);
}

/** Completes an operation as its worker would (with the current lease). */
async function finish(h: Harness, id: string, result: Record<string, unknown> = {}): Promise<void> {
  const op = await h.repo.get(id);
  await h.operations.complete(id, {
    lease_token: op!.lease_token!,
    status: CompletionStatus.COMPLETED,
    result,
  });
  await h.dispatcher.settle();
}

describe('durable queue and dispatch', () => {
  let h: Harness;
  beforeEach(() => {
    h = createHarness();
  });

  it('answers 202-style pending with a queue position, then dispatches with a fresh lease and the worker request shape', async () => {
    const url = register(h, 'w1');
    const res = await h.operations.start(OperationType.BACKTESTING, {
      ...BACKTEST_PARAMS,
      priority: 5,
    });
    expect(res).toMatchObject({
      success: true,
      status: 'pending',
      worker_id: null,
      queue_position: 1,
    });
    expect(res.message).toMatch(/^Queued: next in line; dispatching to a free backtesting worker/);
    await h.dispatcher.settle();
    const op = await h.repo.get(res.operation_id);
    expect(op).toMatchObject({ status: 'running', worker_id: 'w1', attempt: 1, priority: 5 });
    expect(op!.params).toEqual(BACKTEST_PARAMS); // priority is a queue field, not a parameter
    expect(op!.lease_token).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.client.starts).toHaveLength(1);
    expect(h.client.starts[0]).toEqual({
      url,
      route: '/backtests/start',
      body: {
        operation_id: res.operation_id,
        lease_token: op!.lease_token,
        attempt: 1,
        resume_from: null,
        params: BACKTEST_PARAMS,
      },
    });
    expect(h.registry.get('w1')).toMatchObject({
      status: WorkerStatus.BUSY,
      current_operation_id: res.operation_id,
    });
  });

  it('queues when no worker of the type exists, says how to start one, and dispatches on registration', async () => {
    register(h, 't1', WorkerType.TRAINING);
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    expect(res.status).toBe('pending');
    expect(res.message).toMatch(
      /no backtesting worker registered yet — start one with `pnpm --filter @ktrdr\/backtest-worker start`/,
    );
    await h.dispatcher.settle();
    const dto = await h.operations.getDto(res.operation_id);
    expect(dto).toMatchObject({ status: 'pending', queue_position: 1 });
    expect(dto.wait_reason).toMatch(/^next in line; no backtesting worker registered yet/);
    expect(h.client.starts).toHaveLength(0);

    register(h, 'b1');
    await h.dispatcher.settle();
    expect(await h.repo.get(res.operation_id)).toMatchObject({
      status: 'running',
      worker_id: 'b1',
    });
  });

  it('a queue known to be empty costs no claim until something is queued (workers registering, finishing)', async () => {
    const claims: OperationType[] = [];
    const claimNext = h.repo.claimNext.bind(h.repo);
    h.repo.claimNext = (type, claim) => {
      claims.push(type);
      return claimNext(type, claim);
    };
    register(h, 'w1');
    await h.dispatcher.settle();
    const afterFirst = claims.filter((t) => t === OperationType.BACKTESTING).length;
    expect(afterFirst).toBe(1); // found the backtest queue empty once
    for (let i = 2; i <= 20; i++) register(h, `w${i}`);
    await h.dispatcher.settle();
    expect(claims.filter((t) => t === OperationType.BACKTESTING)).toHaveLength(afterFirst);
    // Something queued: the next pass claims it at once, and only it (the queue is known to
    // hold nothing else, so no claim looks for a second one while 19 workers are free).
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    expect((await h.repo.get(res.operation_id))!.worker_id).not.toBeNull();
    expect(claims.filter((t) => t === OperationType.BACKTESTING)).toHaveLength(afterFirst + 1);
    // Three queued at once: three claims, none wasted.
    const three = await Promise.all(
      [1, 2, 3].map(() => h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS)),
    );
    await h.dispatcher.settle();
    for (const t of three) expect((await h.repo.get(t.operation_id))!.worker_id).not.toBeNull();
    expect(claims.filter((t) => t === OperationType.BACKTESTING)).toHaveLength(afterFirst + 4);
    await finish(h, res.operation_id);
    expect((await h.repo.get(res.operation_id))!.status).toBe(OperationStatus.COMPLETED);
  });

  it('a row queued behind its back (another backend on the same store) is found by the safety pass', async () => {
    register(h, 'w1');
    await h.dispatcher.settle(); // the queue is now known to be empty
    const other = await h.repo.create({
      operation_id: 'op_backtesting_elsewhere',
      operation_type: OperationType.BACKTESTING,
      params: BACKTEST_PARAMS,
    });
    expect(other.status).toBe(OperationStatus.PENDING);
    register(h, 'w2');
    await h.dispatcher.settle();
    expect((await h.repo.get(other.operation_id))!.status).toBe(OperationStatus.PENDING);
    await h.dispatcher.safetyPass();
    await h.dispatcher.settle();
    expect((await h.repo.get(other.operation_id))!.status).toBe(OperationStatus.RUNNING);
  });

  it('5 backtests posted at once to 3 workers: 3 run, 2 wait in order, all complete with no retry', async () => {
    for (const id of ['w1', 'w2', 'w3']) register(h, id);
    const ids: string[] = [];
    const answers = await Promise.all(
      [1, 2, 3, 4, 5].map(() => h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS)),
    );
    for (const a of answers) {
      expect(a.status).toBe('pending');
      ids.push(a.operation_id);
    }
    await h.dispatcher.settle();
    const statuses = await Promise.all(ids.map(async (id) => (await h.repo.get(id))!.status));
    expect(statuses.filter((s) => s === 'running')).toHaveLength(3);
    const queue = await h.operations.list({ status: OperationStatus.PENDING });
    expect(queue.data.map((o) => o.queue_position)).toEqual([1, 2]);
    expect(queue.data[1].wait_reason).toBe('1 ahead of it; 3 backtesting workers busy');

    for (let round = 0; round < 5; round++) {
      const running = (await h.repo.findByStatus([OperationStatus.RUNNING]))[0];
      if (!running) break;
      await finish(h, running.operation_id);
    }
    for (const id of ids) expect((await h.repo.get(id))!.status).toBe('completed');
    expect(h.client.starts).toHaveLength(5);
  });

  it('50 operations on one worker run in priority-then-FIFO order', async () => {
    register(h, 'w1');
    const submitted: { id: string; priority: number; n: number }[] = [];
    for (let n = 0; n < 50; n++) {
      const priority = [0, 10, -5, 0, 3][n % 5];
      h.clock.advance(1);
      const res = await h.operations.start(OperationType.BACKTESTING, {
        ...BACKTEST_PARAMS,
        priority,
      });
      submitted.push({ id: res.operation_id, priority, n });
    }
    await h.dispatcher.settle();
    const order: string[] = [];
    for (let i = 0; i < 50; i++) {
      const running = (await h.repo.findByStatus([OperationStatus.RUNNING]))[0];
      order.push(running.operation_id);
      await finish(h, running.operation_id);
    }
    // The first one went out before the others were queued; the rest follow priority, then FIFO.
    const [first, ...rest] = submitted;
    const expected = [
      first.id,
      ...[...rest].sort((a, b) => b.priority - a.priority || a.n - b.n).map((s) => s.id),
    ];
    expect(order).toEqual(expected);
  });

  it('a worker answering 503 is skipped and marked busy; the operation keeps its attempt and goes to another worker', async () => {
    const u1 = register(h, 'w1');
    register(h, 'w2');
    h.client.startAnswer.set(u1, { ok: false, kind: 'busy', detail: '503 Worker busy' });
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    const op = await h.repo.get(res.operation_id);
    expect(op).toMatchObject({ status: 'running', worker_id: 'w2', attempt: 1 });
    expect(h.registry.get('w1')!.status).toBe(WorkerStatus.BUSY);
    const leases = h.client.starts.map((s) => s.body.lease_token);
    expect(new Set(leases).size).toBe(leases.length);
  });

  it('settle() waits for a re-send of an operation whose first start was refused while that one was still winding up', async () => {
    const u1 = register(h, 'w1');
    const u2 = register(h, 'w2');
    h.client.startAnswer.set(u1, { ok: false, kind: 'unreachable', detail: 'ECONNREFUSED' });
    const start = h.client.startOperation.bind(h.client);
    let answered = false;
    h.client.startOperation = async (url, route, body) => {
      const outcome = await start(url, route, body);
      if (url === u2) {
        // w2 answers later than the first send's clean-up runs.
        await new Promise((r) => setTimeout(r, 50));
        answered = true;
      }
      return outcome;
    };
    // The refused send winds up (its requeue returns) only after the next pass has re-sent it.
    const requeue = h.lifecycle.requeue.bind(h.lifecycle);
    h.lifecycle.requeue = async (...args) => {
      const requeued = await requeue(...args);
      await new Promise((r) => setTimeout(r, 20));
      return requeued;
    };
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    expect(h.client.starts.map((s) => s.url)).toEqual([u1, u2]);
    expect(answered).toBe(true);
    expect(await h.repo.get(res.operation_id)).toMatchObject({
      status: 'running',
      worker_id: 'w2',
    });
  });

  it('an unreachable worker is not chosen again until it shows life; the operation waits in the queue', async () => {
    const u1 = register(h, 'w1');
    h.client.startAnswer.set(u1, { ok: false, kind: 'unreachable', detail: 'ECONNREFUSED' });
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    expect(h.client.starts).toHaveLength(1);
    expect(h.registry.get('w1')!.status).toBe(WorkerStatus.TEMPORARILY_UNAVAILABLE);
    const dto = await h.operations.getDto(res.operation_id);
    expect(dto).toMatchObject({
      status: 'pending',
      attempt: 0,
      worker_id: null,
      queue_position: 1,
    });
    expect(dto.wait_reason).toBe('next in line; 1 temporarily unavailable');
    expect(dto.error_message).toMatch(
      /Last dispatch: Worker w1 did not take .*unreachable: ECONNREFUSED/,
    );

    // A second start does not try the dead worker again (no 10 s timeouts per request).
    h.clock.advance(1); // queued after the first one
    await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    expect(h.client.starts).toHaveLength(1);

    // A heartbeat is a sign of life: it becomes available and the head of the queue goes out.
    h.client.startAnswer.delete(u1);
    await h.protocol.heartbeat('w1', {
      status: WorkerStatus.AVAILABLE,
      current_operation_id: null,
    });
    await h.dispatcher.settle();
    expect(await h.repo.get(res.operation_id)).toMatchObject({
      status: 'running',
      worker_id: 'w1',
      attempt: 1,
    });
  });

  it('a worker that refuses the request itself (400) fails the operation with its reason', async () => {
    const u1 = register(h, 'w1');
    h.client.startAnswer.set(u1, { ok: false, kind: 'invalid', detail: '400 symbol: unknown' });
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    const op = await h.repo.get(res.operation_id);
    expect(op).toMatchObject({ status: 'failed' });
    expect(op!.error_message).toBe('Refused by worker w1: 400 symbol: unknown');
    expect(h.registry.get('w1')!.status).toBe(WorkerStatus.AVAILABLE);
  });

  it('refuses with 429 and Retry-After beyond KTRDR_OPS_MAX_QUEUED, creating nothing', async () => {
    h = createHarness(testSettings({ operations: { max_queued: 3 } }));
    for (let i = 0; i < 3; i++)
      await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    const p = h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await expectHttpError(
      p,
      429,
      /The queue is full: 3 operations are pending \(KTRDR_OPS_MAX_QUEUED\)/,
    );
    const err = (await p.catch((e: unknown) => e)) as { retryAfterSeconds?: number };
    expect(err.retryAfterSeconds).toBeGreaterThan(0);
    expect((await h.repo.list({ limit: 10, offset: 0 })).total_count).toBe(3);
  });

  it('cancelling a pending operation removes it from the queue at once', async () => {
    const a = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    h.clock.advance(1);
    const b = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    const res = await h.operations.cancel(a.operation_id);
    expect(res).toMatchObject({ status: 'cancelled' });
    expect(res.message).toMatch(/Removed from the queue/);
    const queue = await h.operations.list({ status: OperationStatus.PENDING });
    expect(queue.data.map((o) => [o.operation_id, o.queue_position])).toEqual([
      [b.operation_id, 1],
    ]);
    register(h, 'w1');
    await h.dispatcher.settle();
    expect(h.client.starts.map((s) => s.body.operation_id)).toEqual([b.operation_id]);
  });

  it('a cancel of a running operation never waits on a hung worker', async () => {
    register(h, 'w1');
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    let release: () => void = () => undefined;
    const hung = new Promise<void>((r) => (release = r));
    const client = h.client as unknown as { cancelOperation: () => Promise<unknown> };
    client.cancelOperation = () => hung.then(() => ({ ok: false, detail: 'timeout' }));
    const answer = await h.operations.cancel(res.operation_id);
    expect(answer.status).toBe('cancelled');
    expect(answer.message).toMatch(/Cancellation sent to worker w1/);
    release();
  });

  it('sends trainings to GPU workers first, then CPU ones, on /trainings/start', async () => {
    register(h, 'cpu1', WorkerType.TRAINING, false);
    register(h, 'gpu1', WorkerType.GPU_HOST, true);
    const a = await h.operations.start(OperationType.TRAINING, TRAINING_PARAMS);
    h.clock.advance(1);
    const b = await h.operations.start(OperationType.TRAINING, TRAINING_PARAMS);
    await h.dispatcher.settle();
    expect((await h.repo.get(a.operation_id))!.worker_id).toBe('gpu1');
    expect((await h.repo.get(b.operation_id))!.worker_id).toBe('cpu1');
    expect(h.client.starts.every((s) => s.route === '/trainings/start')).toBe(true);
  });

  it('a worker that reports progress before its start answer arrives is running', async () => {
    register(h, 'w1');
    let answer: () => void = () => undefined;
    h.client.beforeStart = () => new Promise<void>((r) => (answer = r));
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await new Promise((r) => setImmediate(r));
    const op = await h.repo.get(res.operation_id);
    expect(op!.status).toBe('dispatched');
    await h.operations.progress(res.operation_id, {
      lease_token: op!.lease_token!,
      progress: { percentage: 10 },
    });
    expect((await h.repo.get(res.operation_id))!.status).toBe('running');
    answer();
    await h.dispatcher.settle();
    expect((await h.repo.get(res.operation_id))!.status).toBe('running');
  });

  it('announces every step on the lifecycle events', async () => {
    const kinds: string[] = [];
    h.events.on('operation', (e) => kinds.push(e.kind));
    register(h, 'w1');
    const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    await finish(h, res.operation_id);
    expect(kinds).toEqual(['created', 'queued', 'dispatched', 'running', 'completed']);
  });
});

describe('operation lifecycle: the transition table', () => {
  const all = Object.values(OperationStatus);
  it.each(all.flatMap((from) => all.map((to) => [from, to] as const)))(
    '%s → %s is allowed only when the table says so',
    async (from, to) => {
      const h = createHarness();
      const op = await h.repo.create({
        operation_id: 'op_x',
        operation_type: OperationType.BACKTESTING,
        params: storedParams({}),
        status: from,
      });
      const allowed = OPERATION_TRANSITIONS[from].includes(to);
      if (allowed) {
        const updated = await h.lifecycle.transition(op, to);
        expect(updated!.status).toBe(to);
      } else {
        await expect(h.lifecycle.transition(op, to)).rejects.toBeInstanceOf(IllegalTransitionError);
        expect((await h.repo.get('op_x'))!.status).toBe(from);
      }
    },
  );

  it('is a compare-and-set: of two racing transitions from one state only one wins', async () => {
    const h = createHarness();
    const op = await h.repo.create({
      operation_id: 'op_y',
      operation_type: OperationType.BACKTESTING,
      params: storedParams({}),
    });
    const [a, b] = await Promise.all([
      h.lifecycle.transition(op, OperationStatus.CANCELLED),
      h.lifecycle.transition(op, OperationStatus.FAILED),
    ]);
    expect([a, b].filter((x) => x !== null)).toHaveLength(1);
  });
});
