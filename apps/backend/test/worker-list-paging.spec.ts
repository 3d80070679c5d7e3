/**
 * GET /workers paging: limit/offset slice the filtered list, total counts every match, next_offset
 * points at the next page (null on the last); no limit/offset lists everything as before (no
 * next_offset); bad values are a 400 naming
 * the field.
 */
import request from 'supertest';
import { authed, createTestApp, type TestApp } from './support/test-app';
import { WorkerRegistry } from '../src/workers/worker-registry';
import { FakeWorkers } from './support/fake-worker';

type Server = Parameters<typeof request>[0];

describe('GET /workers paging', () => {
  const fake = new FakeWorkers();
  let t: TestApp;
  let http: Server;

  beforeAll(async () => {
    await fake.start();
    t = await createTestApp();
    http = t.app.getHttpServer() as Server;
    const registry = t.app.get(WorkerRegistry);
    for (const w of registry.all()) registry.remove(w.worker_id);
    for (const name of ['p1', 'p2', 'p3', 'p4', 'p5']) {
      await authed(http)
        .post('/api/v1/workers/register')
        .send({ worker_id: name, worker_type: 'backtesting', endpoint_url: fake.url(name) })
        .expect(200);
    }
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await fake.stop();
  });

  const ids = (body: { workers: { worker_id: string }[] }) => body.workers.map((w) => w.worker_id);

  it('lists every worker without a limit (backward compatible)', async () => {
    const res = await authed(http).get('/api/v1/workers').expect(200);
    expect(res.body.total).toBe(5);
    expect(ids(res.body)).toHaveLength(5);
    expect(res.body).not.toHaveProperty('next_offset');
  });

  it('pages through with limit/offset; the pages cover the list once', async () => {
    const seen: string[] = [];
    const offsets: (number | null)[] = [];
    let offset: number | null = 0;
    for (let i = 0; i < 10 && offset !== null; i++) {
      const res = await authed(http).get(`/api/v1/workers?limit=2&offset=${offset}`).expect(200);
      expect(res.body.total).toBe(5);
      expect(res.body.workers.length).toBeLessThanOrEqual(2);
      seen.push(...ids(res.body));
      offset = res.body.next_offset as number | null;
      offsets.push(offset);
    }
    expect(offsets).toEqual([2, 4, null]);
    expect([...seen].sort()).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
  });

  it('an offset past the end gives an empty page and the total', async () => {
    const res = await authed(http).get('/api/v1/workers?limit=2&offset=9').expect(200);
    expect(res.body).toMatchObject({ total: 5, workers: [], next_offset: null });
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=1.5', 'limit'],
    ['limit=10001', 'limit'],
    ['offset=-1', 'offset'],
    ['offset=x', 'offset'],
  ])('400 naming the field for %s', async (qs, field) => {
    const res = await authed(http).get(`/api/v1/workers?${qs}`).expect(400);
    expect(JSON.stringify(res.body)).toContain(field);
  });
});
