import {
  CheckpointType,
  OperationStatus,
  OperationType,
  WorkerStatus,
  WorkerType,
} from '@ktrdr/contracts';
import { BACKTEST_PARAMS, createHarness, type Harness } from './support/harness';
import { testSettings } from './support/settings';

const CKPT = { type: CheckpointType.PERIODIC, created_at: '2026-11-22T10:00:00.000Z', unit: 100 };

function register(h: Harness, id: string, current: string | null = null): void {
  h.registry.upsert({
    worker_id: id,
    worker_type: WorkerType.BACKTESTING,
    endpoint_url: `http://${id}:5003`,
    current_operation_id: current,
  });
}

describe('orphan detector (rule 6)', () => {
  let h: Harness;
  let opId: string;
  beforeEach(async () => {
    // Two runs at most: one retry after a lost worker.
    h = createHarness(testSettings({ operations: { max_attempts: 2 } }));
    register(h, 'w1');
    opId = (await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS)).operation_id;
    await h.dispatcher.settle();
  });

  it('leaves an operation alone while its worker claims it', async () => {
    h.clock.advanceSeconds(600);
    expect(await h.orphans.check()).toEqual([]);
    expect((await h.repo.get(opId))!.status).toBe('running');
  });

  it('queues an operation whose worker was removed again from the start, after the timeout, then fails it when no attempts are left', async () => {
    h.registry.remove('w1');
    expect(await h.orphans.check()).toEqual([]); // clock starts now
    h.clock.advanceSeconds(59);
    expect(await h.orphans.check()).toEqual([]);
    h.clock.advanceSeconds(1);
    const actions = await h.orphans.check();
    expect(actions).toEqual([{ operation_id: opId, action: 'requeued', from_checkpoint: false }]);
    const queued = await h.repo.get(opId);
    expect(queued).toMatchObject({ status: 'pending', worker_id: null, attempt: 1 });
    expect(queued!.error_message).toMatch(
      /^Worker lost \(worker w1 is not registered for 60 s\); queued again from the start/,
    );
    // A worker comes: it runs from scratch (attempt 2), then is lost too → no attempts left.
    register(h, 'w2');
    await h.dispatcher.settle();
    expect(await h.repo.get(opId)).toMatchObject({
      status: 'running',
      worker_id: 'w2',
      attempt: 2,
    });
    expect(h.client.starts.at(-1)!.body).toMatchObject({ resume_from: null, attempt: 2 });
    h.registry.remove('w2');
    await h.orphans.check();
    h.clock.advanceSeconds(60);
    const [second] = await h.orphans.check();
    expect(second).toMatchObject({ action: 'failed' });
    const op = await h.repo.get(opId);
    expect(op!.status).toBe(OperationStatus.FAILED);
    expect(op!.error_message).toMatch(
      /^Worker lost: worker w2 is not registered for 60 s \(attempt 2 of at most 2; no attempts left\)/,
    );
    expect(h.orphans.status()).toMatchObject({ failed: 1, redispatched: 1, unclaimed: 0 });
    // The API's attempt history: both dispatches, with their workers, how and why each ended.
    const dto = await h.operations.getDto(opId);
    expect(dto.attempts).toHaveLength(2);
    expect(dto.attempts.map((a) => [a.attempt, a.worker_id, a.outcome])).toEqual([
      [1, 'w1', 'orphaned'],
      [2, 'w2', 'orphaned'],
    ]);
    expect(dto.attempts[0].reason).toMatch(/^Worker lost \(worker w1 is not registered for 60 s\)/);
    expect(dto.attempts[1].reason).toBe(op!.error_message);
    for (const a of dto.attempts) {
      expect(a.started_at).not.toBeNull();
      expect(Date.parse(a.ended_at!)).toBeGreaterThanOrEqual(Date.parse(a.started_at!));
      expect(a.resumed_from).toBeNull();
    }
  });

  it('queues it again from the checkpoint when it has one; the next worker resumes from it', async () => {
    await h.repo.update(opId, { checkpoint: CKPT });
    h.registry.remove('w1');
    register(h, 'w2');
    await h.orphans.check();
    h.clock.advanceSeconds(60);
    const [action] = await h.orphans.check();
    expect(action).toEqual({ operation_id: opId, action: 'requeued', from_checkpoint: true });
    await h.dispatcher.settle();
    const op = await h.repo.get(opId);
    expect(op).toMatchObject({ status: 'running', worker_id: 'w2', attempt: 2 });
    expect(h.client.starts.at(-1)!.body).toMatchObject({ resume_from: CKPT, attempt: 2 });
    // Two attempts: w1's ended orphaned, w2's runs, resumed from the checkpoint.
    const { attempts } = await h.operations.getDto(opId);
    expect(attempts).toMatchObject([
      { attempt: 1, worker_id: 'w1', outcome: 'orphaned', resumed_from: null },
      { attempt: 2, worker_id: 'w2', outcome: null, ended_at: null, resumed_from: CKPT },
    ]);
    expect(attempts[1].started_at).not.toBeNull();
  });

  it('treats a worker that re-registered with another operation as not claiming it', async () => {
    register(h, 'w1', 'op_other');
    expect(h.orphans.whyUnclaimed((await h.repo.get(opId))!)).toBe(
      'worker w1 runs op_other instead',
    );
    await h.orphans.check();
    h.clock.advanceSeconds(61);
    expect((await h.orphans.check())[0]).toMatchObject({ action: 'requeued' });
  });

  it('treats a silent (temporarily unavailable) worker as not claiming it', async () => {
    for (let i = 0; i < 3; i++)
      h.registry.recordHealth('w1', 'http://w1:5003', { ok: false, reason: 'x' }, 3);
    expect(h.registry.get('w1')!.status).toBe(WorkerStatus.TEMPORARILY_UNAVAILABLE);
    await h.orphans.check();
    h.clock.advanceSeconds(60);
    expect((await h.orphans.check())[0]).toMatchObject({ action: 'requeued' });
  });

  it('leaves pending operations alone: they are the queue, not orphans', async () => {
    const pending = await h.repo.create({
      operation_id: 'op_backtesting_20261122_000000000001',
      operation_type: OperationType.BACKTESTING,
      params: BACKTEST_PARAMS,
    });
    await h.orphans.check();
    h.clock.advanceSeconds(3600);
    expect(await h.orphans.check()).toEqual([]);
    expect((await h.repo.get(pending.operation_id))!.status).toBe('pending');
    expect((await h.repo.get(opId))!.status).toBe('running');
  });

  it('resets the timer when the worker claims it again', async () => {
    h.registry.remove('w1');
    await h.orphans.check();
    h.clock.advanceSeconds(50);
    await h.orphans.check();
    register(h, 'w1', opId);
    await h.orphans.check();
    h.registry.remove('w1');
    h.clock.advanceSeconds(20);
    expect(await h.orphans.check()).toEqual([]);
    expect((await h.repo.get(opId))!.status).toBe('running');
  });

  it('reconciles running operations at start-up: workers get the timeout to re-register', async () => {
    // A new backend process: empty registry, same store and time.
    const fresh = createHarness(h.settings, { repo: h.repo, clock: h.clock });
    const detector = fresh.orphans;
    expect(await detector.reconcileAtStartup()).toBe(1);
    // The worker comes back within the timeout and reports the operation.
    h.clock.advanceSeconds(30);
    fresh.registry.upsert({
      worker_id: 'w1',
      worker_type: WorkerType.BACKTESTING,
      endpoint_url: 'http://w1:5003',
      current_operation_id: opId,
    });
    h.clock.advanceSeconds(40);
    expect(await detector.check()).toEqual([]);
    // Unclaimed again: back in the queue 60 s later.
    fresh.registry.remove('w1');
    await detector.check();
    h.clock.advanceSeconds(60);
    expect((await detector.check())[0]).toMatchObject({ operation_id: opId, action: 'requeued' });
    expect(detector.status().reconciled_at_startup).toBe(1);
  });
});
