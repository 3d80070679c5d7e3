/**
 * Endpoints a production fleet relies on: draining a worker before a deploy (and undoing it), the worker
 * metrics summary, the Prometheus exposition under /api/v1, and liveness at the root (/health).
 */
import request from 'supertest';
import { authed } from './support/test-app';
import { WorkerRegistry } from '../src/workers/worker-registry';
import { FakeWorkers } from './support/fake-worker';
import { BACKTEST_PARAMS } from './support/harness';
import { createTestApp, type TestApp } from './support/test-app';

type Server = Parameters<typeof request>[0];

describe('fleet endpoints', () => {
  const fake = new FakeWorkers();
  let t: TestApp;
  let http: Server;
  let registry: WorkerRegistry;

  beforeAll(async () => {
    await fake.start();
    t = await createTestApp();
    http = t.app.getHttpServer() as Server;
    registry = t.app.get(WorkerRegistry);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await fake.stop();
  });

  beforeEach(() => {
    for (const w of registry.all()) registry.remove(w.worker_id);
    fake.requests.length = 0;
  });

  const register = (name: string, type = 'backtesting', extra: object = {}) =>
    authed(http)
      .post('/api/v1/workers/register')
      .send({ worker_id: name, worker_type: type, endpoint_url: fake.url(name), ...extra })
      .expect(200);

  /** Starts a backtest; the immediate dispatch (200) and the queue (202) both count as accepted. */
  const start = async (): Promise<{ status: number; id?: string }> => {
    const res = await authed(http).post('/api/v1/backtests/start').send(BACKTEST_PARAMS);
    return { status: res.status, id: res.body?.operation_id as string | undefined };
  };

  /** The worker an operation was dispatched to, once it has one (bounded wait). */
  const dispatchedTo = async (id: string): Promise<string | null> => {
    for (let i = 0; i < 50; i++) {
      const res = await authed(http).get(`/api/v1/operations/${id}`).expect(200);
      const w = res.body.data.worker_id as string | null;
      if (w) return w;
      await new Promise((r) => setTimeout(r, 20));
    }
    return null;
  };

  describe('POST /workers/{id}/drain', () => {
    it('marks the worker draining (visible in the list) and selection skips it', async () => {
      await register('b1');
      await register('b2');
      const drained = await authed(http).post('/api/v1/workers/b1/drain').expect(200);
      expect(drained.body).toMatchObject({ worker_id: 'b1', status: 'available', draining: true });
      // Idempotent.
      await authed(http).post('/api/v1/workers/b1/drain').expect(200);

      const list = await authed(http).get('/api/v1/workers').expect(200);
      const byId = Object.fromEntries(
        (list.body.workers as { worker_id: string; draining: boolean }[]).map((w) => [
          w.worker_id,
          w.draining,
        ]),
      );
      expect(byId).toEqual({ b1: true, b2: false });
      expect((await authed(http).get('/api/v1/workers/b1').expect(200)).body.draining).toBe(true);

      for (let i = 0; i < 2; i++) {
        const s = await start();
        expect([200, 202]).toContain(s.status);
        expect(await dispatchedTo(s.id!)).toBe('b2');
        await authed(http).delete(`/api/v1/operations/${s.id}`);
        registry.release('b2', s.id!);
      }
      expect(fake.requestsTo('b1', '/backtests/start')).toHaveLength(0);
      expect(fake.requestsTo('b2', '/backtests/start')).toHaveLength(2);
    });

    it('the running operation finishes; nothing new is dispatched; a re-registration clears the flag', async () => {
      await register('b1');
      const first = await start();
      expect(await dispatchedTo(first.id!)).toBe('b1');
      const lease = (fake.requestsTo('b1', '/backtests/start')[0]!.body as { lease_token: string })
        .lease_token;

      const drained = await authed(http).post('/api/v1/workers/b1/drain').expect(200);
      expect(drained.body).toMatchObject({
        status: 'busy',
        current_operation_id: first.id,
        draining: true,
      });
      // The running operation reports and completes as usual.
      await authed(http)
        .post(`/api/v1/operations/${first.id}/progress`)
        .send({ lease_token: lease, progress: { percentage: 50 } })
        .expect(200);
      await authed(http)
        .post(`/api/v1/operations/${first.id}/complete`)
        .send({ lease_token: lease, status: 'completed', result: { total_return: 0.1 } })
        .expect(200);
      const done = await authed(http).get(`/api/v1/operations/${first.id}`).expect(200);
      expect(done.body.data.status).toBe('completed');
      // Free but draining: a new backtest is not sent to it (503 without a queue, pending with one).
      const w = await authed(http).get('/api/v1/workers/b1').expect(200);
      expect(w.body).toMatchObject({ status: 'available', draining: true });
      const second = await start();
      expect([202, 503]).toContain(second.status);
      await new Promise((r) => setTimeout(r, 100));
      expect(fake.requestsTo('b1', '/backtests/start')).toHaveLength(1);

      // The restarted worker registers again: it takes operations again.
      const again = await register('b1');
      expect(again.body.draining).toBe(false);
      const third = second.status === 202 ? second : await start();
      expect(await dispatchedTo(third.id!)).toBe('b1');
      expect(fake.requestsTo('b1', '/backtests/start')).toHaveLength(2);
    });

    it('404 for an unknown worker, 400 for a malformed id', async () => {
      const res = await authed(http).post('/api/v1/workers/nobody/drain').expect(404);
      expect(res.body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message: 'Worker nobody is not registered',
      });
      await authed(http)
        .post(`/api/v1/workers/${'x'.repeat(300)}/drain`)
        .expect((r) => {
          expect([400, 404]).toContain(r.status);
        });
    });
  });

  describe('DELETE /workers/{id}/drain (undrain)', () => {
    it('an idle drained worker is available again and takes the queued operation', async () => {
      await register('b1');
      await authed(http).post('/api/v1/workers/b1/drain').expect(200);
      const queued = await start();
      expect([202, 503]).toContain(queued.status);
      await new Promise((r) => setTimeout(r, 100));
      expect(fake.requestsTo('b1', '/backtests/start')).toHaveLength(0);

      const undrained = await authed(http).delete('/api/v1/workers/b1/drain').expect(200);
      expect(undrained.body).toMatchObject({
        worker_id: 'b1',
        status: 'available',
        draining: false,
      });
      expect((await authed(http).get('/api/v1/workers/b1').expect(200)).body.draining).toBe(false);
      // The undrain wakes the dispatcher: a queued operation goes to the worker without a new start.
      const op = queued.status === 202 ? queued : await start();
      expect(await dispatchedTo(op.id!)).toBe('b1');
      expect(fake.requestsTo('b1', '/backtests/start')).toHaveLength(1);
    });

    it('a busy drained worker stays busy with its operation; idempotent', async () => {
      await register('b1');
      const first = await start();
      expect(await dispatchedTo(first.id!)).toBe('b1');
      await authed(http).post('/api/v1/workers/b1/drain').expect(200);

      const undrained = await authed(http).delete('/api/v1/workers/b1/drain').expect(200);
      expect(undrained.body).toMatchObject({
        status: 'busy',
        current_operation_id: first.id,
        draining: false,
      });
      // Again, and on a worker that was never drained: the same answer, nothing changes.
      const again = await authed(http).delete('/api/v1/workers/b1/drain').expect(200);
      expect(again.body).toMatchObject({ status: 'busy', draining: false });
      await register('b2');
      const never = await authed(http).delete('/api/v1/workers/b2/drain').expect(200);
      expect(never.body).toMatchObject({ worker_id: 'b2', status: 'available', draining: false });
      expect(registry.get('b1')).toMatchObject({ status: 'busy', current_operation_id: first.id });
    });

    it('404 for an unknown worker names it', async () => {
      const res = await authed(http).delete('/api/v1/workers/nobody/drain').expect(404);
      expect(res.body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message: 'Worker nobody is not registered: nothing to undrain',
      });
    });
  });

  it('GET /metrics/workers: total_workers, by_status, by_type and every worker', async () => {
    await register('b1');
    await register('b2', 'backtesting', { current_operation_id: null });
    await register('t1', 'training');
    await authed(http).post('/api/v1/workers/b2/drain').expect(200);
    registry.get('t1')!.health_check_failures = 2;
    const res = await authed(http).get('/api/v1/metrics/workers').expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({
      total_workers: 3,
      by_status: { available: 3, busy: 0, temporarily_unavailable: 0 },
      all: { total: 3, available: 3, busy: 0, temporarily_unavailable: 0 },
      by_type: {
        backtesting: { total: 2, available: 2, busy: 0, temporarily_unavailable: 0 },
        training: { total: 1, available: 1, busy: 0, temporarily_unavailable: 0 },
      },
    });
    const workers = [...(res.body.workers as { worker_id: string }[])].sort((a, b) =>
      a.worker_id.localeCompare(b.worker_id),
    );
    expect(workers).toEqual([
      {
        worker_id: 'b1',
        worker_type: 'backtesting',
        status: 'available',
        current_operation_id: null,
        health_check_failures: 0,
        draining: false,
        endpoint_url: fake.url('b1'),
      },
      expect.objectContaining({ worker_id: 'b2', draining: true }),
      expect.objectContaining({
        worker_id: 't1',
        worker_type: 'training',
        health_check_failures: 2,
      }),
    ]);
  });

  it('GET /api/v1/metrics/prometheus serves the same exposition as /metrics', async () => {
    await register('b1');
    await authed(http).post('/api/v1/workers/b1/drain').expect(200);
    const root = await authed(http).get('/metrics').expect(200);
    const prefixed = await authed(http).get('/api/v1/metrics/prometheus').expect(200);
    expect(prefixed.headers['content-type']).toBe(root.headers['content-type']);
    expect(prefixed.headers['content-type']).toMatch(/^text\/plain/);
    const families = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('# TYPE '))
        .sort();
    expect(families(prefixed.text)).toEqual(families(root.text));
    expect(prefixed.text).toContain('ktrdr_workers_draining{worker_type="backtesting"} 1');
    // Nothing else moved out of the prefix.
    await authed(http).get('/prometheus').expect(404);
  });

  it('GET /health at the root answers like /api/v1/health', async () => {
    const prefixed = await authed(http).get('/api/v1/health').expect(200);
    const root = await authed(http).get('/health').expect(200);
    expect(root.headers['content-type']).toMatch(/application\/json/);
    expect(root.body.status).toBe('ok');
    expect(Object.keys(root.body).sort()).toEqual(Object.keys(prefixed.body).sort());
    expect(Object.keys(root.body.info).sort()).toEqual(Object.keys(prefixed.body.info).sort());
    await authed(http).get('/health?verbose=1').expect(200);
    // Only GET /health is aliased.
    await authed(http).get('/healthz').expect(404);
    await authed(http).post('/health').expect(404);
  });

  it('documents the new endpoints in the OpenAPI document', async () => {
    const doc = (await authed(http).get('/api/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(doc.paths['/api/v1/workers/{id}/drain']).toHaveProperty('post');
    expect(doc.paths['/api/v1/workers/{id}/drain']).toHaveProperty('delete');
    expect(doc.paths['/api/v1/metrics/prometheus']).toHaveProperty('get');
    expect(doc.paths['/health']).toHaveProperty('get');
    expect(doc.components.schemas.WorkerDto!.properties).toHaveProperty('draining');
    expect(Object.keys(doc.components.schemas.WorkerSummaryDto!.properties ?? {})).toEqual(
      expect.arrayContaining(['total_workers', 'by_status', 'by_type', 'workers']),
    );
  });
});
