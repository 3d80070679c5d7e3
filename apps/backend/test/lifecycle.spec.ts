import request from 'supertest';
import type { Timers } from '../src/common/periodic-task';
import { memoryStore } from './support/memory-store';
import { FakeWorkers } from './support/fake-worker';
import { testSettings } from './support/settings';
import { authed, createTestApp } from './support/test-app';

/** Timers that only record: callbacks run when the test says so. */
class RecordingTimers implements Timers {
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  readonly cleared: number[] = [];
  private seq = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { fn, ms });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.cleared.push(handle as number);
    this.pending.delete(handle as number);
  }
  delays(): number[] {
    return [...this.pending.values()].map((p) => p.ms).sort((a, b) => a - b);
  }
  /** Runs every pending callback once. */
  fireAll(): void {
    const due = [...this.pending.entries()];
    this.pending.clear();
    for (const [, p] of due) p.fn();
  }
}

type Server = Parameters<typeof request>[0];

describe('application lifecycle', () => {
  it('starts the health monitor, orphan detector and retention loops with the app and stops them on close', async () => {
    const timers = new RecordingTimers();
    const settings = testSettings({
      worker: { health_check_interval: 10 },
      orphan: { check_interval_seconds: 15 },
      operations: { cleanup_interval_seconds: 3600 },
    });
    const t = await createTestApp({ timers, settings, backgroundTasks: true });
    // Retention runs at once; the others (the dispatcher's safety pass at 5 s) after their interval,
    // except the health checks' tick (250 ms): each worker is due on its own 10 s schedule.
    expect(timers.delays()).toEqual([0, 250, 5_000, 15_000]);
    const live = await authed(t.app.getHttpServer() as Server)
      .get('/api/v1/health')
      .expect(200);
    expect(live.body.info.orphan_detector).toMatchObject({
      status: 'up',
      running: true,
      check_interval_seconds: 15,
    });
    expect(live.body.info.worker_health_monitor).toMatchObject({ running: true });
    // Each run schedules the next one when it ends.
    timers.fireAll();
    for (let i = 0; i < 20 && timers.pending.size < 4; i++)
      await new Promise((r) => setImmediate(r));
    expect(timers.delays()).toEqual([250, 5_000, 15_000, 3_600_000]);
    await t.close();
    expect(timers.pending.size).toBe(0);
    expect(timers.cleared).toHaveLength(4);
  });

  it('closing the app notifies every worker (POST /backend-shutdown) and closes the store', async () => {
    const fake = new FakeWorkers();
    await fake.start();
    try {
      const repository = memoryStore();
      const t = await createTestApp({ repository });
      const http = t.app.getHttpServer() as Server;
      for (const name of ['a', 'b']) {
        await authed(http)
          .post('/api/v1/workers/register')
          .send({ worker_id: name, worker_type: 'backtesting', endpoint_url: fake.url(name) })
          .expect(200);
      }
      await t.close();
      expect(fake.requestsTo('a', '/backend-shutdown')).toHaveLength(1);
      expect(fake.requestsTo('b', '/backend-shutdown')).toHaveLength(1);
      await expect(repository.ping()).rejects.toThrow(/closed/);
    } finally {
      await fake.stop();
    }
  });
});
