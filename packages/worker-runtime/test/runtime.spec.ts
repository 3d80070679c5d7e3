import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { REGISTRATION_TOKEN_HEADER, signRequest } from '@ktrdr/contracts';
import { MAX_SERVER_ERRORS } from '../src/completion-outbox';
import { ARTIFACT_UPLOAD_LANES } from '../src/job';
import { transferableArtifactBuffers } from '../src/job-thread';
import { JSON_BODY_LIMIT_BYTES, createWorkerApp } from '../src/bootstrap';
import { WorkerRuntimeModule } from '../src/module';
import { WorkerRuntime } from '../src/runtime';
import {
  FakeBackend,
  fakeEngine,
  recordingLogger,
  scaledClock,
  signedFetch,
  TEST_REGISTRATION_TOKEN,
  tempDir,
  testRuntimeConfig,
  TestConfigOverrides,
  until,
  dispatchBody,
} from './support/helpers';

interface Harness {
  backend: FakeBackend;
  runtime: WorkerRuntime;
  app: INestApplication;
  url: string;
  clock: ReturnType<typeof scaledClock>;
  logger: ReturnType<typeof recordingLogger>;
  checkpointDir: string;
}

const open: { h: Harness; cleanup: () => void }[] = [];

async function harness(
  over: TestConfigOverrides = {},
  setup: (b: FakeBackend) => void = () => {},
  start = true,
  defaultMetrics = false,
): Promise<Harness> {
  const backend = await new FakeBackend().start();
  setup(backend);
  const tmp = tempDir();
  const clock = scaledClock(0.001);
  const logger = recordingLogger();
  const runtime = new WorkerRuntime(
    fakeEngine(),
    testRuntimeConfig(backend.baseUrl, tmp.dir, over),
    {
      clock,
      logger,
      defaultMetrics,
    },
  );
  const { app } = await createWorkerApp(
    WorkerRuntimeModule.forRoot({ engine: runtime.engine, runtime }),
    false,
  );
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  runtime.listening(port);
  if (start) runtime.start();
  const h = {
    backend,
    runtime,
    app,
    url: `http://127.0.0.1:${port}`,
    clock,
    logger,
    checkpointDir: tmp.dir,
  };
  open.push({ h, cleanup: tmp.cleanup });
  return h;
}

afterEach(async () => {
  while (open.length > 0) {
    const { h, cleanup } = open.pop()!;
    await h.app.close();
    await h.backend.stop();
    cleanup();
  }
});

async function post(
  url: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await signedFetch(url, { method: 'POST', body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function get(
  url: string,
  method = 'GET',
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  // The backend signs every call but the health probes and /metrics (anyone may read those).
  const open = method === 'GET' && !new URL(url).pathname.startsWith('/api/v1/operations/');
  const res = open ? await fetch(url) : await signedFetch(url, { method });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // metrics
  }
  return { status: res.status, body, text };
}

function startBody(id: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return dispatchBody({
    operation_id: id,
    lease_token: `lease-${id}`,
    attempt: 1,
    units: 20,
    unit_ms: 5,
    ...over,
  });
}

const REGISTER = /\/workers\/register$/;
const HEARTBEAT = /\/heartbeat$/;
const COMPLETE = /\/complete$/;
const PROGRESS = /\/progress$/;

/** Each delay is in the upper half of its backoff step (the jitter band). */
function expectBackoff(delays: number[], steps: number[]): void {
  expect(delays).toHaveLength(steps.length);
  delays.forEach((d, i) => {
    expect([i, d >= steps[i]! / 2 && d <= steps[i]!]).toEqual([i, true]);
  });
}

/** Among the requested timer delays, one in the jitter band of each step. */
function expectBackoffSteps(requested: number[], steps: number[]): void {
  for (const step of steps)
    expect([step, requested.some((d) => d >= step / 2 && d <= step)]).toEqual([step, true]);
}

describe('registration', () => {
  it('retries with jittered exponential backoff 0.25 s → 30 s until the backend accepts, then is ready', async () => {
    let failures = 8;
    const h = await harness({}, (b) =>
      b.on('POST', REGISTER, () =>
        failures-- > 0 ? { status: 500, body: { message: 'database down' } } : undefined,
      ),
    );
    expect((await get(`${h.url}/health/ready`)).status).toBe(503);
    await until(() => h.runtime.registered, 10_000, 'registration');
    expectBackoff(
      h.runtime.registration.retryDelays,
      [250, 500, 1000, 2000, 4000, 8000, 16000, 30000],
    );
    expect(h.backend.count('POST', REGISTER)).toBe(9);
    const ready = await get(`${h.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body.registered).toBe(true);
  });

  it('keeps retrying at most every second while the backend is unreachable (connection dropped) and logs the cause once', async () => {
    let drops = 4;
    const h = await harness({}, (b) =>
      b.on('POST', REGISTER, () => (drops-- > 0 ? null : undefined)),
    );
    await until(() => h.runtime.registered, 10_000, 'registration');
    // No answer at all: the steps stop at 1 s, so the worker registers right after the backend is up.
    expectBackoff(h.runtime.registration.retryDelays, [250, 500, 1000, 1000]);
    expect(h.logger.lines.filter((l) => l.includes('registration with')).length).toBe(1);
  });

  it('sends capabilities, endpoint and the registration token header when configured', async () => {
    const h = await harness({ registration_token: 'sekret-token' });
    const reg = await h.backend.waitFor((r) => REGISTER.test(r.path));
    expect(reg.headers[REGISTRATION_TOKEN_HEADER]).toBe('sekret-token');
    expect(reg.body).toMatchObject({
      worker_id: 'backtesting-worker-test0001',
      worker_type: 'backtesting',
      endpoint_url: h.url.replace('127.0.0.1', hostname()),
      capabilities: { gpu: false, cpu_count: 1, memory_gb: 1 },
      current_operation_id: null,
    });
  });

  it('reports the deployed release in the registration metadata when KTRDR_WORKER_RELEASE is set', async () => {
    const h = await harness({ release: 'c0ffee1234' });
    const reg = await h.backend.waitFor((r) => REGISTER.test(r.path));
    expect((reg.body as { metadata: Record<string, unknown> }).metadata).toMatchObject({
      service: 'fake-worker',
      release: 'c0ffee1234',
      pid: process.pid,
      // The runtime's own version (package.json), not a constant.
      version: (
        JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version,
    });
    const plain = await harness();
    const reg2 = await plain.backend.waitFor((r) => REGISTER.test(r.path));
    expect((reg2.body as { metadata: Record<string, unknown> }).metadata).not.toHaveProperty(
      'release',
    );
  });

  it('without a token: sends no token header and refuses every call from a backend', async () => {
    const h = await harness({ registration_token: undefined });
    const reg = await h.backend.waitFor((r) => REGISTER.test(r.path));
    expect(reg.headers[REGISTRATION_TOKEN_HEADER]).toBeUndefined();
    const res = await post(`${h.url}/backtests/start`, startBody('op-open'));
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/no registration token/);
  });

  it('sends heartbeats every interval with status and current operation', async () => {
    const h = await harness({ heartbeat_interval_ms: 5_000 });
    await h.backend.waitForCount('POST', HEARTBEAT, 3);
    const hb = h.backend.matching('POST', HEARTBEAT)[0];
    expect(hb.path).toBe('/api/v1/workers/backtesting-worker-test0001/heartbeat');
    expect(hb.body).toEqual({ status: 'available', current_operation_id: null });
    expect(h.clock.requested).toContain(5_000);
    expect(h.backend.count('POST', REGISTER)).toBe(1);
  });

  it('re-registers at once when a heartbeat answers registered:false', async () => {
    let unknown = 1;
    const h = await harness({}, (b) =>
      b.on('POST', HEARTBEAT, () =>
        unknown-- > 0
          ? { status: 200, body: { registered: false, cancel_operations: [] } }
          : undefined,
      ),
    );
    await h.backend.waitForCount('POST', REGISTER, 2);
    expect(h.runtime.registration.reasons).toEqual(['start', 'heartbeat_unregistered']);
    // No backoff delay between the heartbeat and the new registration.
    expect(h.runtime.registration.retryDelays).toEqual([]);
  });

  it('re-registers when a heartbeat answers 404', async () => {
    let missing = 1;
    const h = await harness({}, (b) =>
      b.on('POST', HEARTBEAT, () =>
        missing-- > 0 ? { status: 404, body: { message: 'x' } } : undefined,
      ),
    );
    await h.backend.waitForCount('POST', REGISTER, 2);
    expect(h.runtime.registration.reasons).toContain('heartbeat_404');
  });

  it('re-registers when GET /workers/{id} answers 404', async () => {
    let missing = 1;
    const h = await harness({ verify_every_heartbeats: 1 }, (b) =>
      b.on('GET', /\/workers\/[^/]+$/, () =>
        missing-- > 0 ? { status: 404, body: { message: 'Worker not found' } } : undefined,
      ),
    );
    await h.backend.waitForCount('POST', REGISTER, 2);
    expect(h.runtime.registration.reasons).toEqual(['start', 'worker_404']);
    expect(h.backend.matching('GET', /\/workers\//)[0].path).toBe(
      '/api/v1/workers/backtesting-worker-test0001',
    );
  });

  it('after POST /backend-shutdown polls every 2 s until the backend accepts again', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    let refusals = 3;
    h.backend.on('POST', REGISTER, () =>
      refusals-- > 0 ? { status: 503, body: { message: 'shutting down' } } : undefined,
    );
    const res = await post(`${h.url}/backend-shutdown`, {});
    expect(res.status).toBe(200);
    expect(h.runtime.registered).toBe(false);
    expect((await get(`${h.url}/health/ready`)).status).toBe(503);
    await h.backend.waitForCount('POST', REGISTER, 5);
    await until(() => h.runtime.registered);
    expect(h.runtime.registration.retryDelays).toEqual([2000, 2000, 2000]);
    expect(h.runtime.registration.reasons).toEqual(['start', 'backend_shutdown']);
  });
});

describe('the 0.1 dispatch shape', () => {
  it('still runs a flat body (task_id, parameters at the top level), warning once per process', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    const flat = (id: string) => ({
      task_id: id,
      lease_token: `lease-${id}`,
      attempt: 1,
      resume_from: null,
      units: 3,
      unit_ms: 1,
    });
    expect(await post(`${h.url}/backtests/start`, flat('op-old1'))).toEqual({
      status: 200,
      body: { success: true, operation_id: 'op-old1', status: 'started' },
    });
    const done = await h.backend.waitFor((r) => r.path === '/api/v1/operations/op-old1/complete');
    expect(done.body).toMatchObject({
      lease_token: 'lease-op-old1',
      status: 'completed',
      result: { units_done: 3, resumed_from: null },
    });
    await until(() => h.runtime.currentOperationId === null);
    expect((await post(`${h.url}/backtests/start`, flat('op-old2'))).status).toBe(200);
    expect(h.logger.lines.filter((l) => l.includes('0.1 dispatch shape'))).toHaveLength(1);
    // A flat body is validated like any other once it is read: its fields are named.
    const bad = await post(`${h.url}/backtests/start`, { ...flat('op-old3'), units: 'many' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('params.units');
  });
});

describe('jobs', () => {
  it('runs a job in a worker_thread, forwards progress with the lease token and completes once', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    const res = await post(`${h.url}/backtests/start`, startBody('op-1'));
    expect(res).toEqual({
      status: 200,
      body: { success: true, operation_id: 'op-1', status: 'started' },
    });
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path));
    expect(done.path).toBe('/api/v1/operations/op-1/complete');
    expect(done.body).toEqual({
      lease_token: 'lease-op-1',
      status: 'completed',
      result: { units_done: 20, resumed_from: null, data: { prepared: true } },
      error_message: null,
    });
    const progress = h.backend.matching('POST', PROGRESS);
    expect(progress.length).toBeGreaterThan(0);
    expect(
      progress.every((p) => (p.body as { lease_token: string }).lease_token === 'lease-op-1'),
    ).toBe(true);
    expect((progress[progress.length - 1].body as { progress: unknown }).progress).toMatchObject({
      items_processed: 20,
      items_total: 20,
      percentage: 100,
    });
    await until(() => h.runtime.currentOperationId === null);
    expect(h.backend.count('POST', COMPLETE)).toBe(1);
    expect((await get(`${h.url}/api/v1/operations/op-1`)).body).toEqual({
      operation_id: 'op-1',
      status: 'completed',
      checkpoint: null,
    });
  });

  it('throttles progress to one report per progress_interval_ms and always sends the last', async () => {
    const h = await harness({ progress_interval_ms: 100_000 }); // 100 ms at the test scale
    await until(() => h.runtime.registered);
    await post(`${h.url}/backtests/start`, startBody('op-thr', { units: 60, unit_ms: 5 }));
    await h.backend.waitFor((r) => COMPLETE.test(r.path));
    const progress = h.backend.matching('POST', PROGRESS);
    // 60 units × 5 ms ≈ 300 ms of work: a report per 100 ms (plus the last), not 60.
    const span = progress[progress.length - 1].at - progress[0].at;
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(span / 100) + 2);
    expect(progress.length).toBeLessThan(30);
    for (let i = 1; i < progress.length - 1; i++) {
      expect(progress[i].at - progress[i - 1].at).toBeGreaterThanOrEqual(90);
    }
    expect(
      (progress[progress.length - 1].body as { progress: { items_processed: number } }).progress
        .items_processed,
    ).toBe(60);
  });

  it('rejects an invalid start body with 400 naming the field, and malformed JSON with the envelope', async () => {
    const h = await harness();
    const bad = await post(`${h.url}/backtests/start`, startBody('op-x', { units: 'many' }));
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.stringContaining('units must be an integer number'),
    });
    const extra = await post(`${h.url}/backtests/start`, startBody('op-x', { bogus: 1 }));
    expect(extra.status).toBe(400);
    expect(extra.body.message).toContain('bogus: unknown field');
    const malformed = await post(`${h.url}/backtests/start`, '{"operation_id": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(String(malformed.body.message)).toContain('not valid JSON');
    expect(JSON.stringify(malformed.body)).not.toContain('    at ');
    const missing = await get(`${h.url}/api/v1/operations/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'Operation nope not found on this worker',
    });
    expect(h.runtime.currentOperationId).toBeNull();
  });

  it('lets exactly one of two concurrent starts win; the other gets 503 naming the operation', async () => {
    const h = await harness();
    const [a, b] = await Promise.all([
      post(`${h.url}/backtests/start`, startBody('op-a', { units: 40, unit_ms: 10 })),
      post(`${h.url}/backtests/start`, startBody('op-b', { units: 40, unit_ms: 10 })),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 503]);
    const winner = a.status === 200 ? 'op-a' : 'op-b';
    const loser = a.status === 200 ? b : a;
    expect(loser.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: `Worker busy: operation ${winner} is running`,
    });
    const health = await get(`${h.url}/health`);
    expect(health.body).toMatchObject({
      healthy: true,
      service: 'fake-worker',
      worker_id: 'backtesting-worker-test0001',
      worker_status: 'busy',
      current_operation: winner,
    });
    await h.backend.waitFor((r) => COMPLETE.test(r.path));
    await until(() => h.runtime.currentOperationId === null);
    expect(h.runtime.jobEnds.length).toBe(1);
  });

  it('acknowledges a repeated dispatch of the running operation (same lease) without a second job', async () => {
    const h = await harness();
    const body = startBody('op-rep', { units: 40, unit_ms: 5 });
    const first = await post(`${h.url}/backtests/start`, body);
    const again = await post(`${h.url}/backtests/start`, body);
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(again.body).toEqual({ success: true, operation_id: 'op-rep', status: 'started' });
    const otherLease = await post(`${h.url}/backtests/start`, {
      ...body,
      lease_token: 'lease-new',
    });
    expect(otherLease.status).toBe(503);
    await h.backend.waitFor((r) => COMPLETE.test(r.path));
    await until(() => h.runtime.currentOperationId === null);
    expect(h.runtime.jobEnds).toHaveLength(1);
  });

  it('answers /health within milliseconds while the engine blocks its thread', async () => {
    const h = await harness();
    // 40 × 100 ms of busy-waiting in the thread: were the engine on the event loop, /health
    // would wait for the end of the job (seconds) and then say idle.
    await post(`${h.url}/backtests/start`, startBody('op-busy', { units: 40, unit_ms: 100 }));
    await new Promise((r) => setTimeout(r, 50));
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      const res = await get(`${h.url}/health`);
      times.push(Date.now() - t);
      expect(res.body.worker_status).toBe('busy');
    }
    // Typically 1–5 ms; the bound leaves room for a loaded CI machine.
    expect(Math.max(...times)).toBeLessThan(500);
    expect(h.runtime.currentOperationId).toBe('op-busy');
    h.runtime.cancel('op-busy');
  });

  it('cancels through DELETE: cancellation checkpoint written and reported as cancelled', async () => {
    const h = await harness();
    await post(`${h.url}/backtests/start`, startBody('op-c', { units: 1000, unit_ms: 2 }));
    await h.backend.waitFor((r) => PROGRESS.test(r.path));
    const del = await get(`${h.url}/api/v1/operations/op-c/cancel`, 'DELETE');
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ success: true, operation_id: 'op-c', status: 'cancelling' });
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path));
    const body = done.body as Record<string, unknown> & {
      checkpoint: { type: string; unit: number };
    };
    expect(body.status).toBe('cancelled');
    expect(body.checkpoint.type).toBe('cancellation');
    expect(body.checkpoint.unit).toBeGreaterThan(0);
    expect(body.checkpoint.unit).toBeLessThan(1000);
    const dir = join(h.checkpointDir, 'op-c', 'current');
    const meta = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(meta).toEqual(body.checkpoint);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { done: number };
    expect(state.done).toBe(body.checkpoint.unit);
    const status = await get(`${h.url}/api/v1/operations/op-c`);
    expect(status.body).toMatchObject({ status: 'cancelled', checkpoint: body.checkpoint });
    expect(h.runtime.jobEnds[0].status).toBe('cancelled');
  });

  it('cancels an operation named in a heartbeat cancel_operations', async () => {
    const h = await harness({ heartbeat_interval_ms: 50_000 }); // 50 ms
    h.backend.on('POST', HEARTBEAT, (r) => {
      const b = r.body as { current_operation_id: string | null };
      return {
        status: 200,
        body: {
          registered: true,
          cancel_operations: b.current_operation_id ? [b.current_operation_id] : [],
        },
      };
    });
    await post(`${h.url}/backtests/start`, startBody('op-hb', { units: 1000, unit_ms: 2 }));
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path));
    expect(done.body).toMatchObject({ status: 'cancelled', checkpoint: { type: 'cancellation' } });
    const busyBeat = h.backend
      .matching('POST', HEARTBEAT)
      .find((r) => (r.body as { status: string }).status === 'busy');
    expect(busyBeat?.body).toMatchObject({ status: 'busy', current_operation_id: 'op-hb' });
  });

  it('obeys stop_operations from a registration and reports the operation current at registration', async () => {
    const h = await harness({}, () => {}, false);
    await post(`${h.url}/backtests/start`, startBody('op-stop', { units: 1000, unit_ms: 2 }));
    h.backend.on('POST', REGISTER, (r) => {
      const b = r.body as { current_operation_id: string | null; worker_id: string };
      return {
        status: 200,
        body: {
          worker_id: b.worker_id,
          stop_operations: b.current_operation_id ? [b.current_operation_id] : [],
        },
      };
    });
    h.runtime.start();
    const reg = await h.backend.waitFor((r) => REGISTER.test(r.path));
    expect((reg.body as { current_operation_id: string }).current_operation_id).toBe('op-stop');
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path));
    expect(done.body).toMatchObject({
      status: 'cancelled',
      error_message: 'Stopped at the backend request',
    });
  });

  it('reports a failing engine as failed with its message', async () => {
    const h = await harness();
    await post(
      `${h.url}/backtests/start`,
      startBody('op-f', { units: 10, unit_ms: 1, fail_at: 3 }),
    );
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path));
    expect(done.body).toMatchObject({
      status: 'failed',
      error_message: 'fake engine failed at unit 3',
      result: null,
    });
    await until(() => h.runtime.currentOperationId === null);
    const metrics = await get(`${h.url}/metrics`);
    expect(metrics.text).toMatch(/ktrdr_worker_operations_total\{[^}]*status="failed"[^}]*\} 1/);
  });

  it('writes periodic checkpoints every epoch_interval units and reports their metadata with progress', async () => {
    const h = await harness({ checkpoint: { every_units: 5 } });
    await post(`${h.url}/backtests/start`, startBody('op-p', { units: 1000, unit_ms: 2 }));
    const withCheckpoint = await h.backend.waitFor(
      (r) => PROGRESS.test(r.path) && (r.body as { checkpoint?: unknown }).checkpoint !== undefined,
    );
    const cp = (withCheckpoint.body as { checkpoint: { type: string; unit: number } }).checkpoint;
    expect(cp.type).toBe('periodic');
    expect(cp.unit % 5).toBe(0);
    expect(existsSync(join(h.checkpointDir, 'op-p', 'current', 'state.json'))).toBe(true);
    h.runtime.cancel('op-p');
    await h.backend.waitFor((r) => COMPLETE.test(r.path));
  });

  it('also writes a periodic checkpoint when time_interval_seconds has passed', async () => {
    // every_ms is real time in the job thread: 30 ms here, units never due.
    const h = await harness({ checkpoint: { every_units: 1_000_000, every_ms: 30 } });
    await post(`${h.url}/backtests/start`, startBody('op-t', { units: 1000, unit_ms: 2 }));
    const withCheckpoint = await h.backend.waitFor(
      (r) => PROGRESS.test(r.path) && (r.body as { checkpoint?: unknown }).checkpoint !== undefined,
    );
    expect((withCheckpoint.body as { checkpoint: { type: string } }).checkpoint.type).toBe(
      'periodic',
    );
    h.runtime.cancel('op-t');
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path));
    expect(done.body).toMatchObject({ status: 'cancelled', checkpoint: { type: 'cancellation' } });
  });

  it('fails the operation with a clear message when the job module cannot be loaded', async () => {
    const h = await harness();
    (h.runtime.engine as { jobModulePath: string }).jobModulePath = join(
      h.checkpointDir,
      'missing.js',
    );
    await post(`${h.url}/backtests/start`, startBody('op-nomod', { units: 2, unit_ms: 1 }));
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path));
    expect(done.body).toMatchObject({ status: 'failed', result: null });
    expect(String((done.body as { error_message: string }).error_message)).toContain(
      'Cannot find module',
    );
  });

  it('resumes from the checkpoint named by resume_from', async () => {
    const h = await harness();
    await h.runtime.store.write('op-r', 'shutdown' as never, 7, { done: 7 });
    await post(`${h.url}/backtests/start`, {
      ...startBody('op-r', { units: 12, unit_ms: 1 }),
      attempt: 2,
      resume_from: { type: 'shutdown', created_at: new Date().toISOString(), unit: 7 },
    });
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path));
    expect(done.body).toMatchObject({
      status: 'completed',
      result: { units_done: 12, resumed_from: 7 },
    });
    const first = h.backend.matching('POST', PROGRESS)[0].body as {
      progress: { items_processed: number };
    };
    expect(first.progress.items_processed).toBeGreaterThan(7);
    // A completed operation's checkpoint is no longer needed.
    expect(existsSync(join(h.checkpointDir, 'op-r'))).toBe(false);
  });

  it('aborts without reporting when progress answers 409 (the lease moved to another attempt)', async () => {
    const h = await harness({}, (b) =>
      b.on('POST', PROGRESS, () => ({ status: 409, body: { message: 'stale lease' } })),
    );
    await post(`${h.url}/backtests/start`, startBody('op-l', { units: 1000, unit_ms: 2 }));
    await until(() => h.runtime.jobEnds.length === 1);
    expect(h.runtime.jobEnds[0].status).toBe('superseded');
    await new Promise((r) => setTimeout(r, 50));
    expect(h.backend.count('POST', COMPLETE)).toBe(0);
  });
});

describe('shutdown', () => {
  it('stops accepting (503) and reports the running operation with a shutdown checkpoint', async () => {
    const h = await harness({ shutdown_grace_ms: 20_000_000 }); // 20 s at the test scale
    await post(`${h.url}/backtests/start`, startBody('op-s', { units: 100000, unit_ms: 2 }));
    await h.backend.waitFor((r) => PROGRESS.test(r.path));
    const stopping = h.runtime.shutdown();
    const refused = await post(`${h.url}/backtests/start`, startBody('op-s2'));
    expect(refused.status).toBe(503);
    expect(String(refused.body.message)).toMatch(/Worker (shutting down|busy)/);
    await stopping;
    const done = h.backend.matching('POST', COMPLETE);
    expect(done).toHaveLength(1);
    expect(done[0].body).toMatchObject({ status: 'failed', checkpoint: { type: 'shutdown' } });
    const after = await post(`${h.url}/backtests/start`, startBody('op-s3'));
    expect(after.body).toMatchObject({
      statusCode: 503,
      message: 'Worker shutting down: not accepting operations',
    });
    expect((await get(`${h.url}/health/ready`)).status).toBe(503);
  });
});

describe('at-least-once completion', () => {
  it('heartbeats say busy until the backend has the completion, then available', async () => {
    let down = true;
    const h = await harness({}, (b) =>
      b.on('POST', COMPLETE, () =>
        down ? { status: 503, body: { message: 'restarting' } } : undefined,
      ),
    );
    await until(() => h.runtime.registered);
    await post(`${h.url}/backtests/start`, startBody('op-hb', { units: 3, unit_ms: 1 }));
    await h.backend.waitForCount('POST', COMPLETE, 2);
    // The job is over (the slot is free for a start), but its completion is not stored yet.
    expect(h.runtime.currentOperationId).toBeNull();
    expect(h.runtime.heartbeatBody()).toEqual({ status: 'busy', current_operation_id: null });
    down = false;
    await until(() => h.runtime.outbox.size === 0, 10_000, 'acknowledged completion');
    expect(h.runtime.heartbeatBody()).toEqual({ status: 'available', current_operation_id: null });
  });

  it('retries /complete with backoff while the backend is down, until it is back', async () => {
    let down = true;
    const h = await harness({}, (b) => b.on('POST', COMPLETE, () => (down ? null : undefined)));
    await post(`${h.url}/backtests/start`, startBody('op-d', { units: 3, unit_ms: 1 }));
    await h.backend.waitForCount('POST', COMPLETE, 4);
    expect(h.runtime.outbox.list().map((c) => c.operation_id)).toEqual(['op-d']);
    // The busy slot is free while the completion waits: the worker can run the next job.
    expect(h.runtime.currentOperationId).toBeNull();
    down = false;
    await until(() => h.runtime.outbox.size === 0, 10_000, 'acknowledged completion');
    const attempts = h.backend.matching('POST', COMPLETE);
    expect(attempts.length).toBeGreaterThanOrEqual(5);
    expect(new Set(attempts.map((a) => JSON.stringify(a.body))).size).toBe(1);
    // Jittered steps of 250, 500 and 1000 ms (each delay in the upper half of its step).
    expectBackoffSteps(h.clock.requested, [250, 500, 1000]);
  });

  it('stops retrying on 409 (stale lease)', async () => {
    const h = await harness({}, (b) =>
      b.on('POST', COMPLETE, () => ({ status: 409, body: { message: 'stale' } })),
    );
    await post(`${h.url}/backtests/start`, startBody('op-409', { units: 2, unit_ms: 1 }));
    await until(() => h.runtime.jobEnds.length === 1);
    await until(() => h.runtime.outbox.size === 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(h.backend.count('POST', COMPLETE)).toBe(1);
  });

  it('re-sends unacknowledged completions in the next registration, which acknowledges them', async () => {
    const h = await harness({ heartbeat_interval_ms: 20_000 }, (b) =>
      b.on('POST', COMPLETE, () => ({ status: 503, body: { message: 'busy' } })),
    );
    await until(() => h.runtime.registered);
    await post(`${h.url}/backtests/start`, startBody('op-reg', { units: 2, unit_ms: 1 }));
    await until(() => h.runtime.outbox.size === 1);
    // The backend restarts and forgets the worker.
    h.backend.on('POST', HEARTBEAT, () => ({
      status: 200,
      body: { registered: false, cancel_operations: [] },
    }));
    const reg = await h.backend.waitFor(
      (r) =>
        REGISTER.test(r.path) &&
        Array.isArray((r.body as { completed_operations?: unknown[] }).completed_operations),
    );
    expect((reg.body as { completed_operations: unknown[] }).completed_operations).toEqual([
      {
        operation_id: 'op-reg',
        lease_token: 'lease-op-reg',
        status: 'completed',
        result: { units_done: 2, resumed_from: null, data: { prepared: true } },
        error_message: null,
      },
    ]);
    await until(() => h.runtime.outbox.size === 0, 10_000, 'acknowledged through registration');
  });
});

describe('result artifacts', () => {
  const ARTIFACT = /\/artifacts\/trades\/chunks\/\d+$/;

  it('uploads every row in lease-fenced chunks before the completion', async () => {
    const h = await harness();
    await post(
      `${h.url}/backtests/start`,
      startBody('op-art', { units: 2, unit_ms: 1, artifact_rows: 2501, chunk_rows: 1000 }),
    );
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path), 10_000);
    expect(done.body).toMatchObject({ status: 'completed' });
    // Two lanes: chunks may arrive out of order; each is placed by its index.
    const chunks = h.backend.matching('PUT', ARTIFACT).map(
      (r) =>
        r.body as {
          lease_token: string;
          chunk_index: number;
          chunk_count: number;
          first_row: number;
          total_rows: number;
          columns: string[];
          rows: number[][];
        },
    );
    chunks.sort((x, y) => x.chunk_index - y.chunk_index);
    expect(chunks.map((c) => [c.chunk_index, c.chunk_count, c.first_row, c.rows.length])).toEqual([
      [0, 3, 0, 1000],
      [1, 3, 1000, 1000],
      [2, 3, 2000, 501],
    ]);
    expect(chunks.every((c) => c.lease_token === 'lease-op-art' && c.total_rows === 2501)).toBe(
      true,
    );
    expect(chunks[0].columns).toEqual(['i', 'sq']);
    const rows = chunks.flatMap((c) => c.rows);
    expect(rows).toHaveLength(2501);
    rows.forEach((row, k) => expect(row).toEqual([k, k * k]));
    // every upload happened before the completion
    const order = h.backend.requests.filter((r) => ARTIFACT.test(r.path) || COMPLETE.test(r.path));
    expect(COMPLETE.test(order[order.length - 1].path)).toBe(true);
  });

  it('retries a chunk on 5xx with backoff, then completes', async () => {
    let fails = 2;
    const h = await harness({}, (b) =>
      b.on('PUT', ARTIFACT, () =>
        fails-- > 0 ? { status: 503, body: { message: 'busy' } } : undefined,
      ),
    );
    await post(
      `${h.url}/backtests/start`,
      startBody('op-art-retry', { units: 1, unit_ms: 1, artifact_rows: 10 }),
    );
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path), 10_000);
    expect(done.body).toMatchObject({ status: 'completed' });
    expect(h.backend.count('PUT', ARTIFACT)).toBe(3);
    expectBackoffSteps(h.clock.requested, [1000, 2000]);
  });

  it('fails the operation with the reason when the backend refuses a chunk (never a shorter result)', async () => {
    const h = await harness({}, (b) =>
      b.on('PUT', ARTIFACT, () => ({
        status: 400,
        body: { message: 'rows.3 must have 2 numbers' },
      })),
    );
    await post(
      `${h.url}/backtests/start`,
      startBody('op-art-400', { units: 1, unit_ms: 1, artifact_rows: 10 }),
    );
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path), 10_000);
    expect(done.body).toMatchObject({ status: 'failed', result: null });
    expect((done.body as { error_message: string }).error_message).toContain(
      'trades (10 rows) could not be stored by the backend: chunk 1/1 was refused (HTTP 400: rows.3 must have 2 numbers)',
    );
  });

  it('stops uploading on 409 and leaves the verdict to the completion report', async () => {
    const h = await harness({}, (b) =>
      b.on('PUT', ARTIFACT, () => ({ status: 409, body: { message: 'stale lease' } })),
    );
    await post(
      `${h.url}/backtests/start`,
      startBody('op-art-409', { units: 1, unit_ms: 1, artifact_rows: 30, chunk_rows: 10 }),
    );
    await h.backend.waitFor((r) => COMPLETE.test(r.path), 10_000);
    // The chunks already in flight (one per lane), none after the 409.
    const sent = h.backend.matching('PUT', ARTIFACT).map((r) => Number(r.path.split('/').pop()));
    expect(sent.length).toBeLessThanOrEqual(ARTIFACT_UPLOAD_LANES);
    expect(sent.every((c) => c < ARTIFACT_UPLOAD_LANES)).toBe(true);
  });

  it('a cancel while a chunk waits for its retry reports cancelled', async () => {
    let url = '';
    let cancel: Promise<unknown> | null = null;
    const h = await harness({}, (b) =>
      b.on('PUT', ARTIFACT, () => {
        // the first refusal triggers a user cancel, which arrives during the backoff
        cancel ??= signedFetch(`${url}/api/v1/operations/op-art-cancel/cancel`, {
          method: 'DELETE',
        });
        return { status: 503, body: { message: 'busy' } };
      }),
    );
    url = h.url;
    await post(
      `${h.url}/backtests/start`,
      startBody('op-art-cancel', { units: 1, unit_ms: 1, artifact_rows: 5 }),
    );
    const done = await h.backend.waitFor((r) => COMPLETE.test(r.path), 10_000);
    expect(done.body).toMatchObject({ status: 'cancelled' });
    expect(h.backend.count('PUT', ARTIFACT)).toBeLessThan(8);
  });
});

describe('checkpoints on disk', () => {
  it('removes operation directories older than max_age at start', async () => {
    const tmp = tempDir();
    try {
      const old = join(tmp.dir, 'op-old', 'current');
      mkdirSync(old, { recursive: true });
      writeFileSync(join(old, 'state.json'), '{}');
      const fresh = join(tmp.dir, 'op-new', 'current');
      mkdirSync(fresh, { recursive: true });
      writeFileSync(join(fresh, 'state.json'), '{}');
      const past = new Date(Date.now() - 40 * 86_400_000);
      for (const p of [join(old, 'state.json'), old, join(tmp.dir, 'op-old')])
        utimesSync(p, past, past);
      const h = await harness({ checkpoint: { dir: tmp.dir, max_age_ms: 30 * 86_400_000 } });
      await until(
        () => h.logger.lines.some((l) => l.includes('removed 1 checkpoint')),
        5_000,
        'cleanup',
      );
      expect(existsSync(join(tmp.dir, 'op-old'))).toBe(false);
      expect(existsSync(join(tmp.dir, 'op-new'))).toBe(true);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('metrics', () => {
  it('exposes its own registry: operations, durations, busy and registration gauges', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    await post(`${h.url}/backtests/start`, startBody('op-m', { units: 2, unit_ms: 1 }));
    await until(() => h.runtime.jobEnds.length === 1);
    const res = await fetch(`${h.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/ktrdr_worker_operations_total\{[^}]*status="completed"[^}]*\} 1/);
    expect(text).toMatch(
      /ktrdr_worker_operation_duration_seconds_count\{[^}]*status="completed"[^}]*\} 1/,
    );
    expect(text).toMatch(/ktrdr_worker_busy\{[^}]*\} 0/);
    expect(text).toMatch(/ktrdr_worker_registered\{[^}]*\} 1/);
    expect(text).toContain('worker_id="backtesting-worker-test0001"');
    expect(text).toMatch(/ktrdr_worker_busy\{[^}]*worker_type="backtesting"[^}]*\} 0/);
  });

  it('counts refused start requests by reason', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    expect((await post(`${h.url}/backtests/start`, { operation_id: 'x' })).status).toBe(400);
    await post(`${h.url}/backtests/start`, startBody('op-r1', { units: 50, unit_ms: 20 }));
    expect((await post(`${h.url}/backtests/start`, startBody('op-r2'))).status).toBe(503);
    const text = await (await fetch(`${h.url}/metrics`)).text();
    expect(text).toMatch(/ktrdr_worker_start_rejections_total\{[^}]*reason="busy"[^}]*\} 1/);
    expect(text).toMatch(
      /ktrdr_worker_start_rejections_total\{[^}]*reason="invalid_request"[^}]*\} 1/,
    );
    expect(text).toMatch(
      /ktrdr_worker_start_rejections_total\{[^}]*reason="shutting_down"[^}]*\} 0/,
    );
  });

  it('exports the standard process_* and nodejs_* metrics under their usual names', async () => {
    const h = await harness({}, () => {}, true, true);
    const text = await (await fetch(`${h.url}/metrics`)).text();
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).not.toMatch(/^# TYPE ktrdr_worker_(process|nodejs)_/m);
    expect(text).not.toMatch(/^# TYPE \S+_total gauge/m);
  });

  (spawnSync('promtool', ['--version']).status === 0 ? it : it.skip)(
    'GET /metrics passes `promtool check metrics`',
    async () => {
      const h = await harness({}, () => {}, true, true);
      await until(() => h.runtime.registered);
      await post(`${h.url}/backtests/start`, startBody('op-p', { units: 2, unit_ms: 1 }));
      await until(() => h.runtime.jobEnds.length === 1);
      const text = await (await fetch(`${h.url}/metrics`)).text();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({
        status: 0,
        output: '',
      });
    },
  );
});

describe('rejected completion', () => {
  it('reports a completion the backend rejects as too large or invalid as failed once, then stops', async () => {
    const h = await harness({}, (b) =>
      b.on('POST', COMPLETE, (r) =>
        (r.body as { status: string }).status === 'completed'
          ? {
              status: 413,
              body: {
                statusCode: 413,
                error: 'Payload Too Large',
                message: 'request entity too large',
              },
            }
          : undefined,
      ),
    );
    await post(`${h.url}/backtests/start`, startBody('op-big', { units: 2, unit_ms: 1 }));
    await until(() => h.backend.count('POST', COMPLETE) === 2);
    await until(() => h.runtime.outbox.size === 0);
    const [first, second] = h.backend
      .matching('POST', COMPLETE)
      .map((r) => r.body as Record<string, unknown>);
    expect(first.status).toBe('completed');
    expect(second).toMatchObject({
      lease_token: 'lease-op-big',
      status: 'failed',
      result: null,
      error_message: expect.stringContaining('HTTP 413: request entity too large'),
    });
  });
});

describe('signed calls from the backend', () => {
  const unsigned = (url: string, method: string, body?: unknown) =>
    signedFetch(url, { method, body, token: null });

  it('refuses an unsigned dispatch, cancel, shutdown notice and status read with 401; nothing runs or stops', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    const start = await unsigned(`${h.url}/backtests/start`, 'POST', startBody('op-rogue'));
    expect(start.status).toBe(401);
    expect(((await start.json()) as { message: string }).message).toMatch(/^unsigned request/);
    expect(h.runtime.currentOperationId).toBeNull();
    // A real dispatch runs; an unsigned cancel does not stop it.
    expect(
      (await post(`${h.url}/backtests/start`, startBody('op-real', { units: 400, unit_ms: 5 })))
        .status,
    ).toBe(200);
    const cancel = await unsigned(`${h.url}/api/v1/operations/op-real/cancel`, 'DELETE');
    expect(cancel.status).toBe(401);
    expect(h.runtime.currentJob?.aborting).toBe(false);
    const shutdown = await unsigned(`${h.url}/backend-shutdown`, 'POST', {});
    expect(shutdown.status).toBe(401);
    expect(h.runtime.registered).toBe(true);
    // The operation status (parameters, error texts) is for the backend only; health stays open.
    expect((await unsigned(`${h.url}/api/v1/operations/op-real`, 'GET')).status).toBe(401);
    expect((await get(`${h.url}/api/v1/operations/op-real`)).status).toBe(200);
    expect((await fetch(`${h.url}/health`)).status).toBe(200);
    // The signed cancel works.
    expect((await get(`${h.url}/api/v1/operations/op-real/cancel`, 'DELETE')).status).toBe(200);
    await until(() => h.runtime.jobEnds.length === 1);
    expect(h.runtime.jobEnds[0]!.status).toBe('cancelled');
  });

  it('refuses a wrong key, an altered body, another path, a replay and an expired signature', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    const url = `${h.url}/backtests/start`;
    const body = JSON.stringify(startBody('op-sig'));
    const wrongKey = await signedFetch(url, { body, token: 'another-token-0123456789abcdef0123' });
    expect(wrongKey.status).toBe(401);
    const headers = signRequest(TEST_REGISTRATION_TOKEN, {
      method: 'POST',
      path: '/backtests/start',
      body,
    });
    const send = (b: string, path = '/backtests/start', extra: Record<string, string> = {}) =>
      fetch(`${h.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers, ...extra },
        body: b,
      });
    expect((await send(body.replace('op-sig', 'op-evil'))).status).toBe(401);
    expect((await send('{}', '/backend-shutdown')).status).toBe(401);
    expect((await send(body)).status).toBe(200);
    const replay = await send(body);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { message: string }).message).toMatch(/replayed/);
    const old = signRequest(TEST_REGISTRATION_TOKEN, {
      method: 'POST',
      path: '/backend-shutdown',
      now: Date.now() - 31_000,
    });
    const expired = await fetch(`${h.url}/backend-shutdown`, { method: 'POST', headers: old });
    expect(expired.status).toBe(401);
    // Health, readiness and metrics stay open; the operation status needs the signature too.
    expect((await fetch(`${h.url}/health`)).status).toBe(200);
    expect((await fetch(`${h.url}/health/ready`)).status).toBe(200);
    expect((await fetch(`${h.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${h.url}/api/v1/operations/op-sig`)).status).toBe(401);
    expect((await get(`${h.url}/api/v1/operations/op-sig`)).status).toBe(200);
  });

  it('answers malformed JSON with 400 and a body over the limit with 413, in the envelope', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    const bad = await signedFetch(`${h.url}/backtests/start`, { body: '{"operation_id":' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.stringMatching(/^body is not valid JSON/),
    });
    const big = await signedFetch(`${h.url}/backtests/start`, {
      body: { ...startBody('op-big'), pad: 'x'.repeat(JSON_BODY_LIMIT_BYTES) },
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: 'body is too large',
    });
    expect(h.runtime.currentOperationId).toBeNull();
  });

  it('answers 415 to a write that is not JSON, and 400 naming the path to unsafe JSON', async () => {
    const h = await harness();
    await until(() => h.runtime.registered);
    const form = await signedFetch(`${h.url}/backtests/start`, {
      body: 'operation_id=op-f&lease_token=l&attempt=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    expect(await form.json()).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type' });
    const deep = `{"operation_id":"op-d","lease_token":"l","attempt":1,"params":{"units":1,"unit_ms":1},"resume_from":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    const res = await post(`${h.url}/backtests/start`, deep);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^resume_from(\.0)+ is nested too deeply/);
    const ctor = await post(`${h.url}/backtests/start`, { ...startBody('op-c'), constructor: {} });
    expect(ctor.status).toBe(400);
    expect(ctor.body.message).toBe('constructor: the key "constructor" is not allowed');
    const nul = await post(
      `${h.url}/backtests/start`,
      startBody('op-n', { lease_token: 'a\u0000' }),
    );
    expect(nul.status).toBe(400);
    expect(nul.body.message).toMatch(/^lease_token must not contain NUL/);
    expect(h.runtime.currentOperationId).toBeNull();
  });
});

describe('reports the backend refuses or cannot store', () => {
  it('a 400 is reported once as failed with that reason', async () => {
    const h = await harness({}, (b) =>
      b.on('POST', COMPLETE, (r) =>
        (r.body as { status: string }).status === 'completed'
          ? {
              status: 400,
              body: { statusCode: 400, message: 'result.x must not contain NUL characters' },
            }
          : undefined,
      ),
    );
    await post(`${h.url}/backtests/start`, startBody('op-400', { units: 2, unit_ms: 1 }));
    await until(() => h.runtime.outbox.size === 0 && h.backend.count('POST', COMPLETE) === 2);
    await new Promise((r) => setTimeout(r, 50));
    const sent = h.backend.matching('POST', COMPLETE).map((r) => r.body as Record<string, unknown>);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({
      status: 'failed',
      result: null,
      error_message:
        'The worker finished with status completed but the backend rejected its report (HTTP 400: result.x must not contain NUL characters)',
    });
  });

  it('a 500 is retried a bounded number of times, then reported as failed with the true reason', async () => {
    const h = await harness({}, (b) =>
      b.on('POST', COMPLETE, (r) =>
        (r.body as { status: string }).status === 'completed'
          ? { status: 500, body: { statusCode: 500, message: 'Internal server error' } }
          : undefined,
      ),
    );
    await post(`${h.url}/backtests/start`, startBody('op-500', { units: 2, unit_ms: 1 }));
    await until(() => h.runtime.jobEnds.length === 1);
    await until(() => h.runtime.outbox.size === 0, 10_000, 'outbox drained');
    const sent = h.backend.matching('POST', COMPLETE).map((r) => r.body as Record<string, unknown>);
    expect(sent.filter((b) => b.status === 'completed')).toHaveLength(MAX_SERVER_ERRORS);
    expect(sent.at(-1)).toMatchObject({
      status: 'failed',
      error_message: `The worker finished with status completed but the backend could not store its report (HTTP 500: Internal server error, ${MAX_SERVER_ERRORS} tries)`,
    });
  });

  it('a backend that is restarting (503) is retried without that bound, and the result arrives', async () => {
    let unavailable = MAX_SERVER_ERRORS + 3;
    const h = await harness({}, (b) =>
      b.on('POST', COMPLETE, () =>
        unavailable-- > 0 ? { status: 503, body: { message: 'shutting down' } } : undefined,
      ),
    );
    await post(`${h.url}/backtests/start`, startBody('op-503', { units: 2, unit_ms: 1 }));
    await until(() => h.runtime.jobEnds.length === 1);
    await until(() => h.runtime.outbox.size === 0, 10_000, 'delivered');
    const sent = h.backend.matching('POST', COMPLETE).map((r) => r.body as Record<string, unknown>);
    expect(sent).toHaveLength(MAX_SERVER_ERRORS + 4);
    expect(sent.every((b) => b.status === 'completed')).toBe(true);
  });

  it('a registration refused with 400 because of a carried completion is retried without it', async () => {
    const h = await harness({ heartbeat_interval_ms: 20_000 }, (b) =>
      b
        .on('POST', COMPLETE, () => ({ status: 503, body: { message: 'busy' } }))
        .on('POST', REGISTER, (r) =>
          Array.isArray((r.body as { completed_operations?: unknown }).completed_operations)
            ? { status: 400, body: { message: 'completed_operations.0.result.x must not ...' } }
            : undefined,
        ),
    );
    await until(() => h.runtime.registered);
    await post(`${h.url}/backtests/start`, startBody('op-rr', { units: 2, unit_ms: 1 }));
    await until(() => h.runtime.outbox.size === 1);
    h.runtime.registration.reregister('heartbeat_unregistered');
    await until(() => h.runtime.registered, 10_000, 're-registered');
    const regs = h.backend.matching('POST', REGISTER).map((r) => r.body as Record<string, unknown>);
    expect(regs.at(-2)!.completed_operations).toBeDefined();
    expect(regs.at(-1)!.completed_operations).toBeUndefined();
  });
});

describe('artifact buffers crossing the thread boundary', () => {
  it('moves the whole buffers of artifacts marked transfer, never a view or an unmarked artifact', () => {
    const owned = new Float64Array(4);
    const big = new Float64Array(10);
    const view = big.subarray(2, 6);
    const unmarked = new Float64Array(3);
    const buffers = transferableArtifactBuffers([
      { kind: 'a', columns: ['x', 'y', 'z'], data: [owned, view, owned], transfer: true },
      { kind: 'b', columns: ['x'], data: [unmarked] },
      { kind: 'c', columns: ['x'], data: [[1, 2, 3]], transfer: true },
    ]);
    expect(buffers).toEqual([owned.buffer]);
  });
});
