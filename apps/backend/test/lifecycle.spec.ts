import request from 'supertest';
import { ManualClock } from './support/manual-clock';
import { memoryStore } from './support/memory-store';
import { FakeWorkers } from './support/fake-worker';
import { testSettings } from './support/settings';
import { authed, createTestApp } from './support/test-app';

type Server = Parameters<typeof request>[0];

describe('application lifecycle', () => {
  it('starts the health monitor, orphan detector and retention loops with the app and stops them on close', async () => {
    // Its timers only record: callbacks run when the test says so.
    const clock = new ManualClock(Date.now());
    const settings = testSettings({
      worker: { health_check_interval: 10 },
      orphan: { check_interval_seconds: 15 },
      operations: { cleanup_interval_seconds: 3600 },
    });
    const t = await createTestApp({ clock, settings, backgroundTasks: true });
    // Retention runs at once; the others (the dispatcher's safety pass at 5 s) after their interval,
    // except the health checks' tick (250 ms): each worker is due on its own 10 s schedule.
    expect(clock.delays()).toEqual([0, 250, 5_000, 15_000]);
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
    clock.fireAll();
    for (let i = 0; i < 20 && clock.pendingTimers < 4; i++)
      await new Promise((r) => setImmediate(r));
    expect(clock.delays()).toEqual([250, 5_000, 15_000, 3_600_000]);
    await t.close();
    expect(clock.pendingTimers).toBe(0);
    expect(clock.cleared).toHaveLength(4);
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
