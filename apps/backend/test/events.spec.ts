/**
 * GET /api/v1/events against a real Nest app listening on loopback, read with a real HTTP client:
 * ordering, filters, Last-Event-ID resume, gaps, heartbeats, progress coalescing, a client that stops
 * reading (dropped with a final event while another client keeps every event), and shutdown.
 */
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { OperationStatus, OperationType } from '@ktrdr/contracts';
import { AppModule } from '../src/app.module';
import { configureApp } from '../src/app.setup';
import type { BackendSettings } from '../src/config/settings';
import { EventsService } from '../src/events/events.service';
import { LifecycleEvents } from '../src/operations/lifecycle-events';
import { memoryStore } from './support/memory-store';
import type { OperationRecord } from '../src/persistence/operations.repository';
import { DispatchService } from '../src/operations/dispatch.service';
import { FakeWorkers } from './support/fake-worker';
import { BACKTEST_PARAMS } from './support/harness';
import { TEST_AUTH_HEADERS, testSettings } from './support/settings';
import { SseClient } from './support/sse-client';

interface Running {
  app: INestApplication;
  base: string;
  lifecycle: LifecycleEvents;
  events: EventsService;
}

async function listen(settings: BackendSettings): Promise<Running> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot({
        settings,
        backgroundTasks: false,
        repository: memoryStore(),
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  configureApp(app);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return {
    app,
    base: `http://127.0.0.1:${port}/api/v1`,
    lifecycle: app.get(LifecycleEvents),
    events: app.get(EventsService),
  };
}

let seq = 0;
function record(over: Partial<OperationRecord> = {}): OperationRecord {
  seq += 1;
  return {
    operation_id: `op_backtesting_20260101_${String(seq).padStart(12, '0')}`,
    operation_type: OperationType.BACKTESTING,
    status: OperationStatus.RUNNING,
    worker_id: 'bw-1',
    attempt: 1,
    lease_token: 'lease',
    created_at: new Date('2026-01-01T00:00:00Z'),
    started_at: new Date('2026-01-01T00:00:01Z'),
    completed_at: null,
    updated_at: new Date('2026-01-01T00:00:01Z'),
    progress: { percentage: 0 },
    params: { symbol: 'SYNTH-DEMO' },
    result: null,
    error_message: null,
    checkpoint: null,
    priority: 0,
    queued_at: new Date('2026-01-01T00:00:00Z'),
    sweep_id: null,
    resume_from: null,
    attempt_base: 0,
    attempts: [
      {
        attempt: 1,
        worker_id: 'bw-1',
        dispatched_at: '2026-01-01T00:00:01.000Z',
        started_at: '2026-01-01T00:00:01.000Z',
        ended_at: null,
        outcome: null,
        reason: null,
        resumed_from: null,
      },
    ],
    ...over,
  } as OperationRecord;
}

const clients: SseClient[] = [];
async function connect(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = new SseClient(url, { ...TEST_AUTH_HEADERS, ...headers });
  clients.push(c);
  return c.open();
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('GET /api/v1/events', () => {
  let r: Running;

  beforeAll(async () => {
    r = await listen(testSettings({ events: { replay_buffer_size: 50, heartbeat_interval: 0.2 } }));
  });

  afterAll(async () => {
    await r?.app.close();
  });

  it('streams operation and worker events in id order, with type, time and payload', async () => {
    const c = await connect(`${r.base}/events`);
    expect(c.status).toBe(200);
    const first = r.events.latestId + 1;
    const op = record();
    r.lifecycle.operation('created', { ...op, status: OperationStatus.PENDING });
    r.lifecycle.operation('running', op);
    r.lifecycle.operation('progress', {
      ...op,
      progress: { percentage: 50, current_step: 'bars' },
    });
    // A real worker registration through the API emits worker.registered.
    const reg = await fetch(`${r.base}/workers/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...TEST_AUTH_HEADERS },
      body: JSON.stringify({
        worker_id: 'ev-worker',
        worker_type: 'backtesting',
        endpoint_url: 'http://127.0.0.1:1/ev',
      }),
    });
    expect(reg.status).toBe(200);
    r.lifecycle.operation('completed', { ...op, status: OperationStatus.COMPLETED });
    await c.waitFor((x) => x.frames.length >= 5, '5 events');
    expect(c.types()).toEqual([
      'operation.created',
      'operation.running',
      'operation.progress',
      'worker.registered',
      'operation.completed',
    ]);
    expect(c.ids()).toEqual([first, first + 1, first + 2, first + 3, first + 4]);
    for (const f of c.frames) {
      expect(f.data.id).toBe(Number(f.id));
      expect(f.data.type).toBe(f.event);
      expect(new Date(f.data.time).toISOString()).toBe(f.data.time);
    }
    expect(c.frames[2]!.data.payload).toMatchObject({
      operation_id: op.operation_id,
      operation_type: 'backtesting',
      status: 'running',
      worker_id: 'bw-1',
      sweep_id: null,
      progress: { percentage: 50, current_step: 'bars' },
      attempts: [{ attempt: 1, worker_id: 'bw-1', outcome: null }],
    });
    // Params and results stay out of events.
    expect(c.frames[2]!.data.payload).not.toHaveProperty('params');
    expect(c.frames[2]!.data.payload).not.toHaveProperty('result');
    expect(c.frames[3]!.data.payload).toMatchObject({
      worker: { worker_id: 'ev-worker', worker_type: 'backtesting', status: 'available' },
      previous_status: null,
    });
  });

  it('emits worker.status_changed from heartbeats and worker.removed', async () => {
    const c = await connect(`${r.base}/events?worker_type=backtesting`);
    const post = (path: string, body: object) =>
      fetch(`${r.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...TEST_AUTH_HEADERS },
        body: JSON.stringify(body),
      });
    await post('/workers/register', {
      worker_id: 'hb-worker',
      worker_type: 'backtesting',
      endpoint_url: 'http://127.0.0.1:1/hb',
    });
    await post('/workers/hb-worker/heartbeat', {
      status: 'busy',
      current_operation_id: 'op_backtesting_20260101_aaaaaaaaaaaa',
    });
    // Same state again: no event.
    await post('/workers/hb-worker/heartbeat', {
      status: 'busy',
      current_operation_id: 'op_backtesting_20260101_aaaaaaaaaaaa',
    });
    await post('/workers/hb-worker/heartbeat', { status: 'available', current_operation_id: null });
    // Another worker id on the same endpoint replaces (removes) the first.
    await post('/workers/register', {
      worker_id: 'hb-worker-2',
      worker_type: 'backtesting',
      endpoint_url: 'http://127.0.0.1:1/hb',
    });
    await c.waitFor((x) => x.frames.length >= 5, 'five worker events');
    expect(c.types()).toEqual([
      'worker.registered',
      'worker.status_changed',
      'worker.status_changed',
      'worker.removed',
      'worker.registered',
    ]);
    expect(c.frames[3]!.data.payload.worker.worker_id).toBe('hb-worker');
    expect(c.frames[4]!.data.payload.worker.worker_id).toBe('hb-worker-2');
    expect(c.frames[1]!.data.payload).toMatchObject({
      worker: { status: 'busy', current_operation_id: 'op_backtesting_20260101_aaaaaaaaaaaa' },
      previous_status: 'available',
    });
    expect(c.frames[2]!.data.payload).toMatchObject({
      worker: { status: 'available', current_operation_id: null },
      previous_status: 'busy',
    });
  });

  it('carries the lifecycle of a real operation: created, queued, dispatched, running, progress, completed', async () => {
    const fake = new FakeWorkers();
    await fake.start();
    try {
      const post = (path: string, body: object) =>
        fetch(`${r.base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...TEST_AUTH_HEADERS },
          body: JSON.stringify(body),
        });
      await post('/workers/register', {
        worker_id: 'life-bw',
        worker_type: 'backtesting',
        endpoint_url: fake.url('life-bw'),
      });
      const started = await post('/backtests/start', BACKTEST_PARAMS);
      expect(started.status).toBe(202);
      const { operation_id: id } = (await started.json()) as { operation_id: string };
      const c = await connect(`${r.base}/events?operation_id=${id}`, { 'last-event-id': '0' });
      await r.app.get(DispatchService).settle();
      const dispatched = fake.requestsTo('life-bw', '/backtests/start')[0]!;
      const lease = (dispatched.body as { lease_token: string }).lease_token;
      await post(`/operations/${id}/progress`, {
        lease_token: lease,
        progress: { percentage: 40 },
      });
      await post(`/operations/${id}/progress`, {
        lease_token: lease,
        progress: { percentage: 80 },
      });
      await post(`/operations/${id}/complete`, {
        lease_token: lease,
        status: 'completed',
        result: { total_return: 0.1 },
      });
      await c.waitFor((x) => x.types().includes('operation.completed'), 'the completion');
      const types = c.types();
      // The replay (from id 0) keeps only the latest progress; live ones all arrive.
      expect(types[0]).toBe('operation.created');
      expect(types).toEqual(expect.arrayContaining(['operation.queued', 'operation.dispatched']));
      expect(types[types.length - 1]).toBe('operation.completed');
      expect(types.indexOf('operation.dispatched')).toBeLessThan(
        types.indexOf('operation.completed'),
      );
      const last = c.frames[c.frames.length - 1]!.data.payload;
      expect(last).toMatchObject({ operation_id: id, status: 'completed', worker_id: 'life-bw' });
      const progress = c.frames.filter((f) => f.event === 'operation.progress');
      expect(progress.length).toBeGreaterThanOrEqual(1);
      expect(progress[progress.length - 1]!.data.payload.progress.percentage).toBe(80);
      const ids = c.ids();
      for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
    } finally {
      await fake.stop();
    }
  });

  it('filters by operation_id, sweep_id and worker_type', async () => {
    const a = record();
    const b = record({ sweep_id: 'sweep_1' });
    const t = record({ operation_type: OperationType.TRAINING, sweep_id: 'sweep_1' });
    const byOp = await connect(`${r.base}/events?operation_id=${a.operation_id}`);
    const bySweep = await connect(`${r.base}/events?sweep_id=sweep_1`);
    const training = await connect(`${r.base}/events?worker_type=training`);
    const cpuAlias = await connect(`${r.base}/events?worker_type=cpu_training`);
    const sweepBacktests = await connect(
      `${r.base}/events?sweep_id=sweep_1&worker_type=backtesting`,
    );
    r.lifecycle.operation('running', a);
    r.lifecycle.operation('running', b);
    r.lifecycle.operation('running', t);
    r.lifecycle.worker('registered', {
      worker_id: 'tw',
      worker_type: 'training',
      endpoint_url: 'http://127.0.0.1:1/tw',
      status: 'available',
      current_operation_id: null,
      capabilities: {},
      last_health_check: null,
      last_healthy_at: null,
      health_check_failures: 0,
      registered_at: '2026-01-01T00:00:00.000Z',
      metadata: {},
    } as never);
    r.lifecycle.operation('completed', { ...a, status: OperationStatus.COMPLETED });
    await byOp.waitFor((x) => x.frames.length >= 2, 'op events');
    await bySweep.waitFor((x) => x.frames.length >= 2, 'sweep events');
    await training.waitFor((x) => x.frames.length >= 2, 'training events');
    await cpuAlias.waitFor((x) => x.frames.length >= 2, 'training events (alias)');
    await sweepBacktests.waitFor((x) => x.frames.length >= 1, 'sweep backtests');
    // One more event everyone would see if unfiltered, to be sure nothing else was on its way.
    const marker = record();
    r.lifecycle.operation('running', marker);
    await new Promise((res) => setTimeout(res, 100));
    const ops = (c: SseClient) =>
      c.frames.map((f) => f.data.payload.operation_id ?? f.data.payload.worker.worker_id);
    expect(ops(byOp)).toEqual([a.operation_id, a.operation_id]);
    expect(ops(bySweep)).toEqual([b.operation_id, t.operation_id]);
    expect(ops(training)).toEqual([t.operation_id, 'tw']);
    expect(ops(cpuAlias)).toEqual([t.operation_id, 'tw']);
    expect(ops(sweepBacktests)).toEqual([b.operation_id]);
  });

  it('answers 400 naming the field for a bad filter or Last-Event-ID', async () => {
    const bad = await connect(`${r.base}/events?worker_type=quantum`);
    expect(bad.status).toBe(400);
    await bad.waitForEnd();
    expect(JSON.parse(bad.body)).toMatchObject({
      statusCode: 400,
      message: expect.stringMatching(/^worker_type/),
    });
    const badId = await connect(`${r.base}/events`, { 'last-event-id': 'abc' });
    expect(badId.status).toBe(400);
    await badId.waitForEnd();
    expect(JSON.parse(badId.body).message).toMatch(/^Last-Event-ID must be a non-negative integer/);
    const badQuery = await connect(`${r.base}/events?last_event_id=-3`);
    expect(badQuery.status).toBe(400);
    await badQuery.waitForEnd();
    expect(JSON.parse(badQuery.body).message).toMatch(/^last_event_id/);
  });

  it('replays the events after Last-Event-ID on reconnect, then continues live', async () => {
    const c = await connect(`${r.base}/events`);
    const op = record();
    for (let i = 1; i <= 6; i++) r.lifecycle.operation('running', { ...op, attempt: i });
    await c.waitFor((x) => x.frames.length >= 6, 'six events');
    const third = c.ids()[2]!;
    c.close();
    // Missed while disconnected.
    r.lifecycle.operation('failed', { ...op, status: OperationStatus.FAILED });
    const again = await connect(`${r.base}/events`, { 'last-event-id': String(third) });
    await again.waitFor((x) => x.frames.length >= 4, 'replay');
    expect(again.ids()).toEqual([third + 1, third + 2, third + 3, third + 4]);
    expect(again.frames.map((f) => f.data.payload.attempt).slice(0, 3)).toEqual([4, 5, 6]);
    expect(again.frames[3]!.event).toBe('operation.failed');
    r.lifecycle.operation('running', record());
    await again.waitFor((x) => x.frames.length >= 5, 'a live event after the replay');
    expect(again.ids()[4]).toBe(third + 5);
    // The query parameter does the same for clients that cannot set headers.
    const viaQuery = await connect(`${r.base}/events?last_event_id=${third + 3}`);
    await viaQuery.waitFor((x) => x.frames.length >= 2, 'replay via query');
    expect(viaQuery.ids()).toEqual([third + 4, third + 5]);
  });

  it('replays only the latest progress of an operation', async () => {
    const before = r.events.latestId;
    const op = record();
    for (let p = 10; p <= 90; p += 10)
      r.lifecycle.operation('progress', { ...op, progress: { percentage: p } });
    r.lifecycle.operation('completed', { ...op, status: OperationStatus.COMPLETED });
    const c = await connect(`${r.base}/events`, { 'last-event-id': String(before) });
    await c.waitFor((x) => x.frames.length >= 2, 'replay');
    expect(c.types()).toEqual(['operation.progress', 'operation.completed']);
    expect(c.frames[0]!.data.payload.progress.percentage).toBe(90);
  });

  it('sends stream.gap first when the requested id is older than the buffer, or unknown', async () => {
    const op = record();
    for (let i = 0; i < 70; i++) r.lifecycle.operation('running', { ...op, attempt: i });
    const latest = r.events.latestId;
    const oldest = latest - 49; // buffer of 50
    const c = await connect(`${r.base}/events`, { 'last-event-id': String(oldest - 10) });
    await c.waitFor((x) => x.frames.length >= 51, 'gap and the buffer');
    expect(c.frames[0]!.event).toBe('stream.gap');
    expect(c.frames[0]!.data).toMatchObject({
      id: oldest - 1,
      type: 'stream.gap',
      payload: { last_event_id: oldest - 10, oldest_available_id: oldest, reason: 'evicted' },
    });
    expect(c.frames[0]!.data.payload.message).toMatch(/no longer buffered/);
    expect(c.ids().slice(1)).toEqual(Array.from({ length: 50 }, (_, i) => oldest + i));
    // Exactly at the edge: nothing was missed, no gap.
    const edge = await connect(`${r.base}/events`, { 'last-event-id': String(oldest - 1) });
    await edge.waitFor((x) => x.frames.length >= 50, 'the buffer');
    expect(edge.frames[0]!.event).toBe('operation.running');
    // An id from a previous backend process.
    const unknown = await connect(`${r.base}/events`, { 'last-event-id': String(latest + 1000) });
    await unknown.waitFor((x) => x.frames.length >= 51, 'gap and the buffer');
    expect(unknown.frames[0]!.data.payload).toMatchObject({
      reason: 'unknown_id',
      last_event_id: latest + 1000,
    });
    expect(unknown.ids()[1]).toBe(oldest);
  });

  it('sends heartbeat comments on an idle stream', async () => {
    const c = await connect(`${r.base}/events`);
    await c.waitFor((x) => x.comments.some((m) => m.startsWith('heartbeat')), 'a heartbeat', 3000);
    expect(c.comments[0]).toMatch(/^connected, latest event id \d+$/);
  });
});

describe('GET /api/v1/events with a client that stops reading', () => {
  let r: Running;

  beforeAll(async () => {
    r = await listen(
      testSettings({
        events: { client_buffer_size: 100, client_stall_timeout: 60, heartbeat_interval: 60 },
      }),
    );
  });

  afterAll(async () => {
    await r?.app.close();
  });

  const filler = 'x'.repeat(1500);

  /** Emits filler events until `stop()` holds; bounded. Yields so sockets make progress. */
  async function emitUntil(stop: () => boolean, max = 40_000): Promise<number> {
    let n = 0;
    while (!stop() && n < max) {
      for (let i = 0; i < 20 && !stop(); i++, n++) {
        r.lifecycle.operation('running', record({ error_message: filler }));
      }
      await new Promise((res) => setImmediate(res));
    }
    return n;
  }

  it('coalesces progress per operation for a paused client', async () => {
    const slow = await connect(`${r.base}/events`);
    const client = r.events.openClients().at(-1);
    slow.pause();
    const start = r.events.latestId;
    const filled = await emitUntil(() => client!.paused);
    expect(client!.paused).toBe(true);
    const op = record();
    for (let p = 1; p <= 60; p++)
      r.lifecycle.operation('progress', { ...op, progress: { percentage: p } });
    r.lifecycle.operation('completed', { ...op, status: OperationStatus.COMPLETED });
    expect(client!.queued).toBeLessThanOrEqual(2 + 1);
    expect(client!.coalesced).toBe(59);
    slow.resume();
    await slow.waitFor(
      (x) => x.frames.some((f) => f.event === 'operation.completed'),
      'the completion',
      20_000,
    );
    const mine = slow.frames.filter((f) => f.data.payload?.operation_id === op.operation_id);
    expect(mine.map((f) => f.event)).toEqual(['operation.progress', 'operation.completed']);
    expect(mine[0]!.data.payload.progress.percentage).toBe(60);
    // Every filler event arrived, in order, none lost.
    const ids = slow.ids();
    expect(ids.length).toBe(filled + 2);
    expect(ids.slice(0, filled)).toEqual(Array.from({ length: filled }, (_, i) => start + 1 + i));
    for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
  }, 60_000);

  it('drops a client that stops reading with a final event, while another client gets every event', async () => {
    const fast = await connect(`${r.base}/events`);
    const slow = await connect(`${r.base}/events`);
    const slowClient = r.events.openClients().at(-1);
    slow.pause();
    const start = r.events.latestId;
    const t0 = Date.now();
    const dropped = () => !r.events.openClients().includes(slowClient!);
    const emitted = await emitUntil(dropped);
    const elapsed = Date.now() - t0;
    expect(dropped()).toBe(true);
    // Still connected: the fast client.
    expect(r.events.openClients().at(-1)).not.toBe(slowClient);
    // The paused client read its buffered events and then the final frame, before the grace ran out.
    slow.resume();
    await slow.waitForEnd(10_000);
    const last = slow.frames[slow.frames.length - 1]!;
    expect(last.event).toBe('stream.dropped');
    expect(last.data.payload).toMatchObject({ reason: 'slow_client' });
    const received = slow.ids().slice(0, -1);
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThan(emitted);
    expect(received).toEqual(Array.from({ length: received.length }, (_, i) => start + 1 + i));
    expect(last.data.payload.last_event_id).toBe(received[received.length - 1]);
    expect(last.data.payload.message).toMatch(/reconnect with Last-Event-ID/);
    // The fast client keeps going and gets every event in order.
    r.lifecycle.operation('completed', record({ status: OperationStatus.COMPLETED }));
    await fast.waitFor((x) => x.frames.length >= emitted + 1, 'every event', 20_000);
    expect(fast.ids()).toEqual(Array.from({ length: emitted + 1 }, (_, i) => start + 1 + i));
    expect(fast.ended).toBe(false);
    // Publishing never waited for the slow client (generous bound for a loaded machine).
    expect(elapsed).toBeLessThan(30_000);
  }, 60_000);

  it('drops a client whose connection stays full past the stall timeout', async () => {
    const stalled = await listen(
      testSettings({
        events: { client_buffer_size: 100000, client_stall_timeout: 0.5, heartbeat_interval: 60 },
      }),
    );
    try {
      const c = new SseClient(`${stalled.base}/events`, { ...TEST_AUTH_HEADERS });
      clients.push(c);
      await c.open();
      const [client] = stalled.events.openClients();
      c.pause();
      let n = 0;
      while (!client!.paused && n < 40_000) {
        for (let i = 0; i < 20; i++, n++)
          stalled.lifecycle.operation('running', record({ error_message: filler }));
        await new Promise((res) => setImmediate(res));
      }
      expect(client!.paused).toBe(true);
      const deadline = Date.now() + 5000;
      while (stalled.events.openClients().length > 0 && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(stalled.events.openClients()).toHaveLength(0);
      c.resume();
      await c.waitForEnd(10_000);
      const last = c.frames[c.frames.length - 1]!;
      expect(last.event).toBe('stream.dropped');
      expect(last.data.payload.reason).toBe('stalled');
    } finally {
      await stalled.app.close();
    }
  }, 60_000);
});

describe('GET /api/v1/events on shutdown', () => {
  it('ends open streams with stream.dropped (shutdown) so the app closes promptly', async () => {
    const r = await listen(testSettings());
    const c = await connect(`${r.base}/events`);
    r.lifecycle.operation('running', record());
    await c.waitFor((x) => x.frames.length >= 1, 'one event');
    const t0 = Date.now();
    await r.app.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    await c.waitForEnd();
    const last = c.frames[c.frames.length - 1]!;
    expect(last.event).toBe('stream.dropped');
    expect(last.data.payload).toMatchObject({ reason: 'shutdown', last_event_id: c.ids()[0] });
  });

  it('answers 503 when the open stream limit is reached', async () => {
    const r = await listen(testSettings({ events: { max_clients: 1 } }));
    try {
      const one = await connect(`${r.base}/events`);
      expect(one.status).toBe(200);
      const two = await connect(`${r.base}/events`);
      expect(two.status).toBe(503);
      await two.waitForEnd();
      expect(JSON.parse(two.body).message).toMatch(/KTRDR_EVENTS_MAX_CLIENTS/);
    } finally {
      for (const c of clients.splice(0)) c.close();
      await r.app.close();
    }
  });
});
