import { HttpException } from '@nestjs/common';
import {
  CheckpointType,
  CompletionStatus,
  OperationStatus,
  OperationType,
  WorkerStatus,
  WorkerType,
} from '@ktrdr/contracts';
import type { StartOperationResponseDto } from '@ktrdr/contracts';
import { resultsRepositoryFor } from '../src/results/results.repository';
import { ResultsService } from '../src/results/results.service';
import { BACKTEST_PARAMS, createHarness, type Harness } from './support/harness';
import { testSettings } from './support/settings';

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof HttpException) return e.getStatus();
    throw e;
  }
}

function register(h: Harness, id: string): void {
  h.registry.upsert({
    worker_id: id,
    worker_type: WorkerType.BACKTESTING,
    endpoint_url: `http://${id}:5003`,
    current_operation_id: null,
  });
}

/** Queues a backtest and waits until the dispatcher has handed it out. */
async function started(h: Harness): Promise<StartOperationResponseDto> {
  const res = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
  await h.dispatcher.settle();
  return res;
}

const CKPT = { type: CheckpointType.PERIODIC, created_at: '2026-11-22T10:00:00.000Z', unit: 500 };

describe('operations: lease fencing, completion, cancel, resume', () => {
  let h: Harness;
  let opId: string;
  let lease: string;
  beforeEach(async () => {
    h = createHarness();
    register(h, 'w1');
    opId = (await started(h)).operation_id;
    lease = (await h.repo.get(opId))!.lease_token!;
  });

  it('accepts progress with the current lease and stores the checkpoint', async () => {
    const ack = await h.operations.progress(opId, {
      lease_token: lease,
      progress: { percentage: 40, current_step: 'bar 400' },
      checkpoint: CKPT,
    });
    expect(ack).toEqual({ acknowledged: true, status: 'running' });
    const op = await h.repo.get(opId);
    expect(op!.progress).toMatchObject({ percentage: 40, current_step: 'bar 400' });
    expect(op!.checkpoint).toEqual(CKPT);
  });

  it("applies a worker's reports from what it wrote last: one write each, no read", async () => {
    const get = jest.spyOn(h.repo, 'get');
    const update = jest.spyOn(h.repo, 'update');
    await h.operations.progress(opId, { lease_token: lease, progress: { percentage: 50 } });
    await h.operations.complete(opId, {
      lease_token: lease,
      status: CompletionStatus.COMPLETED,
      result: { total_return: 0.1 },
    });
    expect(get).not.toHaveBeenCalled();
    expect(update).toHaveBeenCalledTimes(2);
    // Each write still fenced by status, lease and the version it was made from.
    expect(update.mock.calls[1][2]).toMatchObject({
      status: ['running'],
      lease_token: lease,
      updated_at: expect.any(Date),
    });
    expect(await h.repo.get(opId)).toMatchObject({
      status: 'completed',
      result: { total_return: 0.1 },
      progress: { percentage: 100 },
    });
  });

  it('a change made behind its back (another backend on the same store) is read, not overwritten', async () => {
    // Another process stores a checkpoint: this one's remembered record is now stale.
    h.clock.advance(1000);
    await h.repo.update(opId, { checkpoint: CKPT }, { lease_token: lease });
    const ack = await h.operations.complete(opId, {
      lease_token: lease,
      status: CompletionStatus.COMPLETED,
      result: {},
    });
    expect(ack).toEqual({ acknowledged: true, status: 'completed' });
    // The completion failed its compare-and-set on the stale version, re-read, and kept the checkpoint.
    expect(await h.repo.get(opId)).toMatchObject({ status: 'completed', checkpoint: CKPT });
  });

  it('a report with a lease it does not remember is checked against the store', async () => {
    // Another backend requeued and re-dispatched it under a new lease.
    h.clock.advance(1000);
    await h.repo.update(opId, { lease_token: 'lease-from-elsewhere' }, { lease_token: lease });
    const ack = await h.operations.complete(opId, {
      lease_token: 'lease-from-elsewhere',
      status: CompletionStatus.COMPLETED,
      result: {},
    });
    expect(ack).toEqual({ acknowledged: true, status: 'completed' });
    expect(
      await statusOf(
        h.operations.progress(opId, { lease_token: lease, progress: { percentage: 60 } }),
      ),
    ).toBe(409);
  });

  it('rejects progress and completion with a stale lease (409) without changing anything', async () => {
    expect(
      await statusOf(
        h.operations.progress(opId, { lease_token: 'old-lease', progress: { percentage: 99 } }),
      ),
    ).toBe(409);
    expect(
      await statusOf(
        h.operations.complete(opId, {
          lease_token: 'old-lease',
          status: CompletionStatus.COMPLETED,
          result: {},
        }),
      ),
    ).toBe(409);
    const op = await h.repo.get(opId);
    expect(op).toMatchObject({ status: 'running', progress: { percentage: 0 } });
  });

  it('a re-dispatch fences the previous attempt', async () => {
    await h.operations.complete(opId, {
      lease_token: lease,
      status: CompletionStatus.FAILED,
      error_message: 'boom',
      checkpoint: CKPT,
    });
    register(h, 'w2');
    await h.operations.resume(opId);
    await h.dispatcher.settle();
    const op = await h.repo.get(opId);
    expect(op).toMatchObject({ status: 'running', attempt: 2 });
    expect(op!.lease_token).not.toBe(lease);
    expect(
      await statusOf(
        h.operations.progress(opId, { lease_token: lease, progress: { percentage: 1 } }),
      ),
    ).toBe(409);
    expect(
      await statusOf(
        h.operations.progress(opId, { lease_token: op!.lease_token!, progress: { percentage: 1 } }),
      ),
    ).toBe(200);
  });

  describe('a worker stopped by SIGTERM (failed + interrupted, or a shutdown checkpoint)', () => {
    const SHUTDOWN = { ...CKPT, type: CheckpointType.SHUTDOWN };
    const shutdownReport = () => ({
      lease_token: lease,
      status: CompletionStatus.FAILED,
      error_message: 'Worker shut down (SIGTERM) while running the operation',
      checkpoint: SHUTDOWN,
      interrupted: true,
    });

    it('goes back to the queue and continues on another worker from that checkpoint', async () => {
      register(h, 'w2');
      h.client.startAnswer.set('http://w1:5003', { ok: false, kind: 'busy', detail: 'stopping' });
      expect(await h.operations.complete(opId, shutdownReport())).toEqual({
        acknowledged: true,
        status: 'pending',
      });
      await h.dispatcher.settle();
      const op = await h.repo.get(opId);
      expect(op).toMatchObject({
        status: 'running',
        worker_id: 'w2',
        attempt: 2,
        checkpoint: SHUTDOWN,
      });
      const last = h.client.starts[h.client.starts.length - 1]!;
      expect(last.url).toBe('http://w2:5003');
      expect(last.body).toMatchObject({ operation_id: opId, attempt: 2, resume_from: SHUTDOWN });
      // The history: w1's attempt was requeued by the shutdown; w2 runs attempt 2 from its
      // checkpoint. A dispatch that busy w1 refused in between is there, with its reason.
      const { attempts } = await h.operations.getDto(opId);
      expect(attempts[0]).toMatchObject({ attempt: 1, worker_id: 'w1', outcome: 'requeued' });
      expect(attempts[0].reason).toMatch(/^Interrupted on w1: Worker shut down/);
      expect(attempts.at(-1)).toMatchObject({
        attempt: 2,
        worker_id: 'w2',
        outcome: null,
        ended_at: null,
        resumed_from: SHUTDOWN,
      });
      for (const refused of attempts.slice(1, -1)) {
        expect(refused).toMatchObject({ attempt: 2, worker_id: 'w1', outcome: 'requeued' });
        expect(refused.started_at).toBeNull();
        expect(refused.reason).toMatch(/did not take .*busy: stopping/);
      }
    });

    it('interrupted before its first checkpoint, it starts again from scratch', async () => {
      const { checkpoint: _none, ...report } = shutdownReport();
      const queued: { status: string; worker_id: string | null; error_message: string | null }[] =
        [];
      h.events.on('operation', (e) => {
        if (e.kind === 'queued') queued.push(e.operation);
      });
      expect(await h.operations.complete(opId, report)).toMatchObject({ status: 'pending' });
      expect(queued).toHaveLength(1);
      expect(queued[0]).toMatchObject({ status: 'pending', worker_id: null });
      expect(queued[0].error_message).toMatch(/Interrupted on w1: .*queued again from the start/);
      await h.dispatcher.settle();
      expect(await h.repo.get(opId)).toMatchObject({ status: 'running', attempt: 2 });
      expect(h.client.starts.at(-1)!.body).toMatchObject({ attempt: 2, resume_from: null });
    });

    it('waits in the queue when no worker is free, instead of failing', async () => {
      h.client.startAnswer.set('http://w1:5003', { ok: false, kind: 'busy', detail: 'stopping' });
      await h.operations.complete(opId, shutdownReport());
      await h.dispatcher.settle();
      expect(await h.repo.get(opId)).toMatchObject({ status: 'pending', attempt: 1 });
    });

    it('fails once the attempts are used up, and other failures are final', async () => {
      register(h, 'w2');
      await h.operations.complete(opId, {
        lease_token: lease,
        status: CompletionStatus.FAILED,
        error_message: 'boom',
        checkpoint: CKPT,
      });
      await h.dispatcher.settle();
      expect(await h.repo.get(opId)).toMatchObject({ status: 'failed', attempt: 1 });

      const limited = createHarness({
        ...testSettings(),
        operations: { ...testSettings().operations, max_attempts: 1 },
      });
      register(limited, 'w1');
      register(limited, 'w2');
      const id = (await started(limited)).operation_id;
      const l = (await limited.repo.get(id))!.lease_token!;
      await limited.operations.complete(id, { ...shutdownReport(), lease_token: l });
      await limited.dispatcher.settle();
      expect(await limited.repo.get(id)).toMatchObject({ status: 'failed', attempt: 1 });
    });
  });

  it('applies a completion once; repeats are acknowledged without changes; the worker is freed', async () => {
    const report = {
      lease_token: lease,
      status: CompletionStatus.COMPLETED,
      result: { total_return: 0.1 },
    };
    expect(await h.operations.complete(opId, report)).toEqual({
      acknowledged: true,
      status: 'completed',
    });
    const first = await h.repo.get(opId);
    expect(first).toMatchObject({
      status: 'completed',
      result: { total_return: 0.1 },
      progress: { percentage: 100 },
    });
    expect(h.registry.get('w1')!.status).toBe(WorkerStatus.AVAILABLE);
    const [attempt] = (await h.operations.getDto(opId)).attempts;
    expect(attempt).toMatchObject({
      attempt: 1,
      worker_id: 'w1',
      outcome: 'completed',
      reason: null,
    });
    expect(attempt.ended_at).toBe(first!.completed_at!.toISOString());
    h.clock.advanceSeconds(10);
    expect(await h.operations.complete(opId, { ...report, result: { total_return: 0.5 } })).toEqual(
      {
        acknowledged: true,
        status: 'completed',
      },
    );
    const again = await h.repo.get(opId);
    expect(again!.result).toEqual({ total_return: 0.1 });
    expect(again!.completed_at).toEqual(first!.completed_at);
    const metrics = await h.metrics.registry.getSingleMetricAsString('ktrdr_operations_total');
    expect(metrics).toContain(
      'ktrdr_operations_total{operation_type="backtesting",status="completed"} 1',
    );
  });

  it('results: 400 until completed, then the result', async () => {
    const results = new ResultsService(h.repo, resultsRepositoryFor(h.repo));
    expect(await statusOf(results.results(opId))).toBe(400);
    await h.operations.complete(opId, {
      lease_token: lease,
      status: CompletionStatus.COMPLETED,
      result: { trades: 3 },
    });
    expect(await results.results(opId)).toMatchObject({
      success: true,
      data: { operation_id: opId, status: 'completed', result: { trades: 3 } },
    });
    expect(await statusOf(results.results('op_missing'))).toBe(404);
  });

  it('cancel marks it cancelled, forwards DELETE to the worker, and the heartbeat repeats it', async () => {
    const res = await h.operations.cancel(opId);
    expect(res).toMatchObject({ success: true, status: 'cancelled' });
    expect(h.client.cancels).toEqual([{ url: 'http://w1:5003', id: opId }]);
    const hb = await h.protocol.heartbeat('w1', {
      status: WorkerStatus.BUSY,
      current_operation_id: opId,
    });
    expect(hb).toEqual({ registered: true, cancel_operations: [opId] });
    // The worker confirms with a cancellation checkpoint: acknowledged, checkpoint kept.
    const ack = await h.operations.complete(opId, {
      lease_token: lease,
      status: CompletionStatus.CANCELLED,
      checkpoint: { ...CKPT, type: CheckpointType.CANCELLATION },
    });
    expect(ack).toEqual({ acknowledged: true, status: 'cancelled' });
    expect((await h.operations.getDto(opId)).attempts).toMatchObject([
      { attempt: 1, worker_id: 'w1', outcome: 'cancelled', reason: 'Cancelled by user' },
    ]);
    expect((await h.repo.get(opId))!.checkpoint!.type).toBe('cancellation');
    expect(h.registry.get('w1')!.status).toBe(WorkerStatus.AVAILABLE);
    // Finished operations cannot be cancelled.
    expect(await statusOf(h.operations.cancel(opId))).toBe(400);
  });

  it('cancel still succeeds when the worker cannot be reached', async () => {
    h.client.cancelOk = false;
    const res = await h.operations.cancel(opId);
    expect(res.status).toBe('cancelled');
    expect(res.message).toMatch(/next heartbeat/);
  });

  it('resume: 409 while running; back to the queue from the checkpoint, or from the start without one', async () => {
    expect(await statusOf(h.operations.resume(opId))).toBe(409);
    await h.operations.complete(opId, {
      lease_token: lease,
      status: CompletionStatus.FAILED,
      error_message: 'x',
    });
    const fresh = await h.operations.resume(opId);
    // w1 is free, so the dispatcher may already have claimed it by the time we answer.
    expect(['pending', 'dispatched', 'running']).toContain(fresh.status);
    expect(fresh.message).toMatch(/^Resumed from the start \(it has no checkpoint\)/);
    await h.dispatcher.settle();
    expect(h.client.starts.at(-1)!.body).toMatchObject({ resume_from: null, attempt: 2 });
    const l2 = (await h.repo.get(opId))!.lease_token!;
    await h.operations.complete(opId, {
      lease_token: l2,
      status: CompletionStatus.FAILED,
      error_message: 'y',
      checkpoint: CKPT,
    });
    const res = await h.operations.resume(opId);
    expect(res.message).toMatch(/^Resumed from its periodic checkpoint at 500/);
    await h.dispatcher.settle();
    expect(await h.repo.get(opId)).toMatchObject({ status: 'running', worker_id: 'w1' });
    expect(h.client.starts.at(-1)!.body).toMatchObject({
      resume_from: CKPT,
      attempt: 3,
      operation_id: opId,
    });
  });

  it('resume without a free worker queues it; nothing is lost', async () => {
    await h.operations.complete(opId, {
      lease_token: lease,
      status: CompletionStatus.FAILED,
      error_message: 'x',
      checkpoint: CKPT,
    });
    h.client.startAnswer.set('http://w1:5003', { ok: false, kind: 'busy', detail: '503' });
    expect(await statusOf(h.operations.resume(opId))).toBe(200);
    await h.dispatcher.settle();
    expect(await h.repo.get(opId)).toMatchObject({
      status: 'pending',
      attempt: 1,
      resume_from: CKPT,
    });
  });

  it('lists with filters and counts', async () => {
    await h.operations.complete(opId, { lease_token: lease, status: CompletionStatus.COMPLETED });
    register(h, 'w2');
    await started(h);
    const all = await h.operations.list({});
    expect(all).toMatchObject({ success: true, total_count: 2, active_count: 1 });
    const done = await h.operations.list({
      status: OperationStatus.COMPLETED,
      limit: 1,
      offset: 0,
    });
    expect(done.data.map((d) => d.operation_id)).toEqual([opId]);
    expect(done.data[0]!.created_at).toMatch(/Z$/);
  });
});

describe('worker protocol: registration and heartbeats', () => {
  let h: Harness;
  beforeEach(() => {
    h = createHarness();
  });

  it('applies completed_operations at registration (idempotent, lease-checked)', async () => {
    register(h, 'w1');
    const op = await started(h);
    const lease = (await h.repo.get(op.operation_id))!.lease_token!;
    const body = {
      worker_id: 'w1',
      worker_type: WorkerType.BACKTESTING,
      endpoint_url: 'http://w1:5003',
      completed_operations: [
        {
          operation_id: op.operation_id,
          lease_token: lease,
          status: CompletionStatus.COMPLETED,
          result: { ok: 1 },
        },
        { operation_id: 'op_unknown', lease_token: 'x', status: CompletionStatus.COMPLETED },
      ],
    };
    const res = await h.protocol.register(body);
    expect(res).toMatchObject({ worker_id: 'w1', status: 'available', stop_operations: [] });
    expect(await h.repo.get(op.operation_id)).toMatchObject({
      status: 'completed',
      result: { ok: 1 },
    });
    // Again (the worker did not see the answer): still fine, nothing changes.
    await h.protocol.register(body);
    expect(await h.repo.get(op.operation_id)).toMatchObject({
      status: 'completed',
      result: { ok: 1 },
    });
  });

  it('ignores a stale completion at registration', async () => {
    register(h, 'w1');
    const op = await started(h);
    await h.protocol.register({
      worker_id: 'w1',
      worker_type: WorkerType.BACKTESTING,
      endpoint_url: 'http://w1:5003',
      current_operation_id: op.operation_id,
      completed_operations: [
        { operation_id: op.operation_id, lease_token: 'stale', status: CompletionStatus.FAILED },
      ],
    });
    expect((await h.repo.get(op.operation_id))!.status).toBe('running');
  });

  it('keeps a re-registering worker busy with its own operation, and stops foreign or finished ones', async () => {
    register(h, 'w1');
    const op = await started(h);
    const again = await h.protocol.register({
      worker_id: 'w1',
      worker_type: WorkerType.BACKTESTING,
      endpoint_url: 'http://w1:5003',
      current_operation_id: op.operation_id,
    });
    expect(again).toMatchObject({
      status: 'busy',
      current_operation_id: op.operation_id,
      stop_operations: [],
    });
    await h.operations.cancel(op.operation_id);
    const third = await h.protocol.register({
      worker_id: 'w1',
      worker_type: WorkerType.BACKTESTING,
      endpoint_url: 'http://w1:5003',
      current_operation_id: op.operation_id,
    });
    expect(third).toMatchObject({
      status: 'available',
      current_operation_id: null,
      stop_operations: [op.operation_id],
    });
    const other = await h.protocol.register({
      worker_id: 'w2',
      worker_type: WorkerType.BACKTESTING,
      endpoint_url: 'http://w2:5003',
      current_operation_id: 'op_never_seen',
    });
    expect(other.stop_operations).toEqual(['op_never_seen']);
  });

  it('heartbeat of the running operation updates its progress and checkpoint', async () => {
    register(h, 'w1');
    const op = await started(h);
    const ckpt = {
      type: CheckpointType.PERIODIC,
      created_at: '2026-11-22T10:00:00.000Z',
      unit: 42,
    };
    const res = await h.protocol.heartbeat('w1', {
      status: WorkerStatus.BUSY,
      current_operation_id: op.operation_id,
      progress: { percentage: 30 },
      checkpoint: ckpt,
    });
    expect(res).toEqual({ registered: true, cancel_operations: [] });
    expect(await h.repo.get(op.operation_id)).toMatchObject({
      progress: { percentage: 30 },
      checkpoint: ckpt,
    });
    // Another worker claiming it is told to cancel and changes nothing.
    register(h, 'w2');
    const other = await h.protocol.heartbeat('w2', {
      status: WorkerStatus.BUSY,
      current_operation_id: op.operation_id,
      progress: { percentage: 99 },
    });
    expect(other.cancel_operations).toEqual([op.operation_id]);
    expect((await h.repo.get(op.operation_id))!.progress.percentage).toBe(30);
  });

  it('heartbeat: registered:false for unknown workers; a sign of life otherwise', async () => {
    expect(await h.protocol.heartbeat('ghost', { status: WorkerStatus.AVAILABLE })).toEqual({
      registered: false,
      cancel_operations: [],
    });
    register(h, 'w1');
    h.clock.advanceSeconds(30);
    expect(
      await h.protocol.heartbeat('w1', {
        status: WorkerStatus.AVAILABLE,
        current_operation_id: null,
      }),
    ).toEqual({
      registered: true,
      cancel_operations: [],
    });
    expect(h.registry.get('w1')!.last_healthy_at).toBe(h.clock.now());
  });
});
