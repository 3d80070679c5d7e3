/**
 * Inputs that used to crash or corrupt the backend: non-JSON writes (a cross-site form), keys that
 * break object transformation, very deep nesting, NUL characters and unpaired surrogates; and the
 * take-over of a live worker_id.
 */
import request from 'supertest';
import {
  PATH_MESSAGE_PATTERN,
  REGISTRATION_TOKEN_HEADER,
  SignatureVerifier,
} from '@ktrdr/contracts';
import { SQLITE_MEMORY_DIR } from '../src/persistence/sqlite-executor';
import { SqliteOperationsRepository } from '../src/persistence/sqlite-operations.repository';
import { ShutdownState } from '../src/common/shutdown-state';
import { DispatchService } from '../src/operations/dispatch.service';
import { WorkerRegistry } from '../src/workers/worker-registry';
import { FakeWorkers } from './support/fake-worker';
import { TEST_AUTH_HEADERS, TEST_WORKER_TOKEN } from './support/settings';
import { authed, createTestApp, type TestApp } from './support/test-app';
import { storedParams } from './support/params';

type Server = Parameters<typeof request>[0];

const PATH_MESSAGE = PATH_MESSAGE_PATTERN;

describe('input safety (SQLite in memory)', () => {
  const fake = new FakeWorkers();
  let t: TestApp;
  let http: Server;
  const repo = new SqliteOperationsRepository({ dir: SQLITE_MEMORY_DIR });

  beforeAll(async () => {
    await fake.start();
    t = await createTestApp({ repository: repo });
    http = t.app.getHttpServer() as Server;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await fake.stop();
  });

  const register = (id: string, endpoint = fake.url(id), extra: object = {}) =>
    authed(http)
      .post('/api/v1/workers/register')
      .send({ worker_id: id, worker_type: 'backtesting', endpoint_url: endpoint, ...extra });

  it('refuses a form-urlencoded or text registration with 415 (no cross-site form can register)', async () => {
    const form = await request(http)
      .post('/api/v1/workers/register')
      .set(TEST_AUTH_HEADERS)
      .type('form')
      .send('worker_id=evil&worker_type=backtesting&endpoint_url=http://evil:1');
    expect(form.status).toBe(415);
    expect(form.body).toEqual({
      statusCode: 415,
      error: 'Unsupported Media Type',
      message:
        'body must be JSON (content-type: application/json), got "application/x-www-form-urlencoded"',
    });
    for (const type of ['text/plain', 'multipart/form-data; boundary=x', 'application/xml']) {
      const res = await request(http)
        .post('/api/v1/backtests/start')
        .set(TEST_AUTH_HEADERS)
        .set('content-type', type)
        .send('{"symbol":"X"}');
      expect([type, res.status]).toEqual([type, 415]);
    }
    expect(t.app.get(WorkerRegistry).get('evil')).toBeUndefined();
    // A write without a body passes the check (cancel, resume).
    expect((await authed(http).delete('/api/v1/operations/op_missing')).status).toBe(404);
    // application/*+json is JSON.
    const merge = await authed(http)
      .post('/api/v1/workers/register')
      .set('content-type', 'application/vnd.ktrdr+json')
      .send(
        JSON.stringify({
          worker_id: 'w-json',
          worker_type: 'backtesting',
          endpoint_url: fake.url('w-json'),
        }),
      );
    expect(merge.status).toBe(200);
  });

  it.each([
    [
      'a constructor key',
      { metadata: { constructor: { prototype: 1 } } },
      /^metadata\.constructor: the key "constructor" is not allowed/,
    ],
    [
      'a __proto__ key',
      JSON.parse('{"capabilities":{"__proto__":{"gpu":true}}}'),
      /^capabilities\.__proto__: the key/,
    ],
    ['a prototype key at the root', { prototype: 1 }, /^prototype: the key/],
    [
      'a NUL in metadata',
      { metadata: { note: 'a\u0000b' } },
      /^metadata\.note must not contain NUL/,
    ],
    [
      'an unpaired surrogate in a key',
      { metadata: { ['k\ud800']: 1 } },
      /^metadata has a key with NUL/,
    ],
  ])('register with %s: 400 naming the path', async (_what, extra, message) => {
    const res = await register('w-bad', fake.url('w-bad'), extra);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expect(res.body.message).toMatch(PATH_MESSAGE);
  });

  it('refuses nesting of 5,000 and 100,000 levels with 400 naming the path', async () => {
    for (const depth of [5_000, 100_000]) {
      const body = `{"worker_id":"w","worker_type":"backtesting","endpoint_url":"http://x:1","metadata":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
      const res = await authed(http)
        .post('/api/v1/workers/register')
        .set('content-type', 'application/json')
        .send(body);
      expect([depth, res.status]).toEqual([depth, 400]);
      expect(res.body.message).toMatch(/^metadata(\.a)+ is nested too deeply/);
    }
  });

  it('refuses NUL and unpaired surrogates in progress, errors and results (the store never sees them)', async () => {
    await register('bw-nul');
    const start = await authed(http)
      .post('/api/v1/backtests/start')
      .send({
        symbol: 'SYNTH-DEMO',
        timeframe: '1h',
        start_date: '2024-01-01',
        end_date: '2024-02-01',
        strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
      });
    expect(start.status).toBeLessThan(300);
    const id = start.body.operation_id as string;
    await t.app.get(DispatchService).settle();
    const dispatched = fake.requests.filter((r) => r.path === '/backtests/start').at(-1)!.body as {
      lease_token: string;
    };
    const lease = dispatched.lease_token;
    // The dispatch was signed with the registration token (the worker checks it).
    const call = fake.requests.filter((r) => r.path === '/backtests/start').at(-1)!;
    const verifier = new SignatureVerifier(TEST_WORKER_TOKEN, 30_000);
    expect(
      verifier.verify({ method: 'POST', path: call.path, headers: call.headers, body: call.raw }),
    ).toEqual({ ok: true });
    expect(
      verifier.verify({ method: 'POST', path: call.path, headers: call.headers, body: call.raw }),
    ).toMatchObject({ ok: false });
    const cases: [string, object, RegExp][] = [
      [
        'progress',
        { lease_token: lease, progress: { percentage: 1, message: 'x\u0000' } },
        /^progress\.message must not/,
      ],
      [
        'progress',
        { lease_token: lease, progress: { percentage: 1, current_step: '\udc00' } },
        /^progress\.current_step must not/,
      ],
      [
        'complete',
        { lease_token: lease, status: 'failed', error_message: 'boom\u0000' },
        /^error_message must not/,
      ],
      [
        'complete',
        { lease_token: lease, status: 'completed', result: { trades: [{ note: 'a\ud83d' }] } },
        /^result\.trades\.0\.note must not/,
      ],
      [
        'complete',
        { lease_token: lease, status: 'completed', result: { constructor: 1 } },
        /^result\.constructor: the key/,
      ],
    ];
    for (const [route, body, message] of cases) {
      const res = await authed(http).post(`/api/v1/operations/${id}/${route}`).send(body);
      expect([route, res.status]).toEqual([route, 400]);
      expect(res.body.message).toMatch(message);
    }
    // The operation is intact and still accepts a proper report.
    const ok = await authed(http)
      .post(`/api/v1/operations/${id}/complete`)
      .send({ lease_token: lease, status: 'completed', result: { note: 'fine 😀' } });
    expect(ok.status).toBe(200);
    expect((await repo.get(id))?.result).toEqual({ note: 'fine 😀' });
  });

  it('the store keeps what it cannot hold as U+FFFD instead of failing (defence in depth)', async () => {
    const op = await repo.create({
      operation_id: 'op_backtesting_20260101_nul000000001',
      operation_type: 'backtesting' as never,
      params: storedParams({ ['k\u0000']: 'v\ud800', nested: ['\u0000'] }),
    });
    const updated = await repo.update(op.operation_id, {
      error_message: 'bad\u0000text',
      result: { s: 'x\udfff' },
    });
    expect(updated?.error_message).toBe('bad\uFFFDtext');
    expect(updated?.result).toEqual({ s: 'x\uFFFD' });
    expect((await repo.get(op.operation_id))?.params).toEqual({
      'k\uFFFD': 'v\uFFFD',
      nested: ['\uFFFD'],
    });
  });

  it('a live worker_id cannot be taken over from another endpoint; a dead one moves', async () => {
    await register('victim').expect(200);
    // Without the token: 401, whatever the body.
    const anon = await request(http)
      .post('/api/v1/workers/register')
      .send({
        worker_id: 'victim',
        worker_type: 'backtesting',
        endpoint_url: fake.url('attacker'),
      });
    expect(anon.status).toBe(401);
    const wrong = await request(http)
      .post('/api/v1/workers/register')
      .set(REGISTRATION_TOKEN_HEADER, 'guessed')
      .send({
        worker_id: 'victim',
        worker_type: 'backtesting',
        endpoint_url: fake.url('attacker'),
      });
    expect(wrong.status).toBe(401);
    // With the token, while the worker answers as itself at its endpoint: 409.
    const hijack = await register('victim', fake.url('attacker'));
    expect(hijack.status).toBe(409);
    expect(hijack.body.message).toMatch(/^worker_id: victim is registered and alive at /);
    const w = t.app.get(WorkerRegistry).get('victim')!;
    expect(w.endpoint_url).toBe(fake.url('victim'));
    // Once the old endpoint stops answering as that worker, the id may move (a restarted container).
    fake.set('victim', { healthStatus: 500 });
    expect((await register('victim', fake.url('victim-new'))).status).toBe(200);
    expect(t.app.get(WorkerRegistry).get('victim')!.endpoint_url).toBe(fake.url('victim-new'));
  });

  it('answers 503 with Retry-After on every worker route while shutting down', async () => {
    const state = t.app.get(ShutdownState);
    state.begin();
    try {
      for (const [path, body] of [
        [
          '/api/v1/workers/register',
          { worker_id: 'late', worker_type: 'backtesting', endpoint_url: fake.url('late') },
        ],
        ['/api/v1/workers/late/heartbeat', { status: 'available' }],
        ['/api/v1/operations/op_x/progress', { lease_token: 'l', progress: { percentage: 1 } }],
        ['/api/v1/operations/op_x/complete', { lease_token: 'l', status: 'completed' }],
      ] as const) {
        const res = await authed(http).post(path).send(body);
        expect([path, res.status, res.headers['retry-after']]).toEqual([path, 503, '5']);
        expect(res.headers.connection).toBe('close');
      }
    } finally {
      (state as unknown as { shuttingDown: boolean }).shuttingDown = false;
    }
  });
});
