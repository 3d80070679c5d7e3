import { systemClock } from '@ktrdr/config';
import { CheckpointType } from '@ktrdr/contracts';
import { BackendClient } from '../src/backend-client';
import { CheckpointStore } from '../src/checkpoint-store';
import { join } from 'node:path';
import { closeIdleJobThreads, prewarmJobThread, RunningJob } from '../src/job';
import type { CheckpointMeta, DispatchedRequest } from '../src/types';
import {
  FakeBackend,
  fakeEngine,
  recordingLogger,
  tempDir,
  TEST_REGISTRATION_TOKEN,
  until,
  dispatchBody,
} from './support/helpers';

jest.setTimeout(30_000);

/** A store whose writes take `delayMs` each (a slow disk), counting them. */
class SlowStore extends CheckpointStore {
  writes: number[] = [];
  removed = 0;
  constructor(
    dir: string,
    private readonly delayMs: number,
  ) {
    super(dir);
  }
  override async write(
    operationId: string,
    type: CheckpointType,
    unit: number,
    state: unknown,
  ): Promise<CheckpointMeta> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.writes.push(unit);
    return super.write(operationId, type, unit, state);
  }
  override async remove(operationId: string): Promise<void> {
    this.removed++;
    return super.remove(operationId);
  }
}

describe('RunningJob at the end of a job', () => {
  let backend: FakeBackend;
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(async () => {
    backend = await new FakeBackend().start();
    tmp = tempDir();
  });
  afterEach(async () => {
    await backend.stop();
    tmp.cleanup();
  });

  const job = (
    store: CheckpointStore,
    params: Record<string, unknown>,
    options: { progressIntervalMs: number; every_units: number },
    engine = fakeEngine(),
  ): RunningJob =>
    new RunningJob(
      engine,
      dispatchBody({
        operation_id: `op-end-${Math.random().toString(36).slice(2, 8)}`,
        lease_token: 'lease',
        attempt: 1,
        ...params,
      }) as unknown as DispatchedRequest,
      new BackendClient({
        baseUrl: backend.baseUrl,
        timeoutMs: 5_000,
        registrationToken: TEST_REGISTRATION_TOKEN,
      }),
      store,
      systemClock,
      recordingLogger(),
      {
        progressIntervalMs: options.progressIntervalMs,
        checkpoint: { every_units: options.every_units, every_ms: 3_600_000 },
      },
    );

  it('sends the last progress as soon as the job ends, not when the throttle window closes', async () => {
    const store = new CheckpointStore(tmp.dir);
    const j = job(
      store,
      { units: 5, unit_ms: 2 },
      { progressIntervalMs: 20_000, every_units: 1e9 },
    );
    const t0 = Date.now();
    j.run();
    const end = await j.finished;
    expect(end.status).toBe('completed');
    // A 20 s throttle window: the old flush slept it out before completing.
    expect(Date.now() - t0).toBeLessThan(10_000);
    const progress = backend.matching('POST', /\/progress$/);
    expect(progress.length).toBe(2); // the first report, then the last one at the end
    expect(
      (progress[1].body as { progress: { items_processed: number } }).progress.items_processed,
    ).toBe(5);
  });

  it('writes periodic checkpoints one at a time, the newest replacing those waiting; completion does not wait for them', async () => {
    const store = new SlowStore(tmp.dir, 60);
    // 150 checkpoints in ~150 ms on a disk that takes 60 ms per write.
    const j = job(store, { units: 150, unit_ms: 1 }, { progressIntervalMs: 0, every_units: 1 });
    const t0 = Date.now();
    j.run();
    const end = await j.finished;
    const ms = Date.now() - t0;
    expect(end.status).toBe('completed');
    expect(store.writes.length).toBeGreaterThan(0);
    expect(store.writes.length).toBeLessThan(20);
    // Units only grow: a newer checkpoint never lands before an older one.
    expect([...store.writes].sort((a, b) => a - b)).toEqual(store.writes);
    // Removed once the write in progress (if any) is on disk, without holding the completion.
    await until(() => store.removed === 1, 5_000, 'the checkpoints removed');
    // Serial writes of all 150 would take 9 s.
    expect(ms).toBeLessThan(5_000);
  });

  it('keeps the newest periodic checkpoint when the thread fails', async () => {
    const store = new SlowStore(tmp.dir, 30);
    const j = job(
      store,
      { units: 100, unit_ms: 1, fail_at: 80 },
      { progressIntervalMs: 0, every_units: 1 },
    );
    j.run();
    const end = await j.finished;
    expect(end.status).toBe('failed');
    expect(store.writes[store.writes.length - 1]).toBe(80);
    expect(end.checkpoint).toMatchObject({ type: 'periodic', unit: 80 });
    const stored = await store.read(j.operationId);
    expect(stored?.state).toEqual({ done: 80 });
  });

  describe('reuseThread', () => {
    afterAll(() => closeIdleJobThreads());
    const engine = fakeEngine({
      reuseThread: true,
      jobModulePath: join(__dirname, 'fixtures', 'thread-job.js'),
    });
    const opts = { progressIntervalMs: 0, every_units: 1e9 };
    const result = async (j: RunningJob): Promise<{ thread: number; runs: number }> => {
      j.run();
      const end = await j.finished;
      expect(end.status).toBe('completed');
      return end.completion!.result as { thread: number; runs: number };
    };

    it('runs the next job in the same warm thread (module state kept)', async () => {
      const store = new CheckpointStore(tmp.dir);
      const a = await result(job(store, {}, opts, engine));
      const b = await result(job(store, {}, opts, engine));
      expect(b.thread).toBe(a.thread);
      expect(b.runs).toBe(a.runs + 1);
    });

    it('runs the first job in a thread started (module loaded) beforehand by prewarmJobThread', async () => {
      await closeIdleJobThreads();
      prewarmJobThread(engine.jobModulePath);
      prewarmJobThread(engine.jobModulePath); // one idle thread per module
      const store = new CheckpointStore(tmp.dir);
      const a = await result(job(store, {}, opts, engine));
      expect(a.runs).toBe(1);
      const b = await result(job(store, {}, opts, engine));
      expect(b).toEqual({ thread: a.thread, runs: 2 });
    });

    it('never reuses a terminated thread', async () => {
      const store = new CheckpointStore(tmp.dir);
      const a = await result(job(store, {}, opts, engine));
      const busy = job(store, { hold_ms: 5_000 }, opts, engine);
      busy.run();
      await new Promise((r) => setTimeout(r, 200));
      await busy.terminate();
      expect((await busy.finished).status).toBe('failed');
      const c = await result(job(store, {}, opts, engine));
      expect(c.thread).not.toBe(a.thread);
      expect(c.runs).toBe(1);
    });
  });
});
