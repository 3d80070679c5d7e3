/**
 * The backend's spans of an operation (SDK started in-process with an in-memory exporter and no
 * instrumentations; the cross-process trace with the real instrumentations is @ktrdr/system-tests'
 * observability suite): submit → attempt → queued → worker selection → dispatch, the start request
 * carrying the attempt's W3C trace context, progress/complete spans, and a re-dispatch after a worker
 * shutdown as a new attempt span in a new trace linked to the first.
 */
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import request from 'supertest';
import { ATTR, SPAN, shutdownTelemetry, startTelemetry } from '@ktrdr/telemetry';
import { DispatchService } from '../src/operations/dispatch.service';
import { WorkerRegistry } from '../src/workers/worker-registry';
import { FakeWorkers } from './support/fake-worker';
import { BACKTEST_PARAMS } from './support/harness';
import { authed, createTestApp, type TestApp } from './support/test-app';

type Server = Parameters<typeof request>[0];

const memory = new InMemorySpanExporter();
const fake = new FakeWorkers();
let t: TestApp;
let http: Server;

beforeAll(async () => {
  startTelemetry({
    serviceName: 'backend',
    settings: { enabled: true },
    exporter: memory,
    simpleProcessor: true,
    instrumentations: false,
  });
  await fake.start();
  t = await createTestApp();
  http = t.app.getHttpServer() as Server;
}, 60_000);

afterAll(async () => {
  await t?.close();
  await fake.stop();
  await shutdownTelemetry();
});

const spans = (name: string, opId?: string): ReadableSpan[] =>
  memory
    .getFinishedSpans()
    .filter((s) => s.name === name && (!opId || s.attributes[ATTR.OPERATION_ID] === opId));
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan): string => s.spanContext().spanId;
const traceOf = (s: ReadableSpan): string => s.spanContext().traceId;

/** Lets the dispatcher finish (and retry what a refused try put back in the queue). */
async function settle(): Promise<void> {
  const dispatcher = t.app.get(DispatchService);
  for (let i = 0; i < 3; i++) {
    await dispatcher.settle();
    await dispatcher.dispatchAll();
  }
  await dispatcher.settle();
}

it('one trace per attempt: submit → attempt → queued, selection, dispatch; reports; a re-dispatch links to the first attempt', async () => {
  const registry = t.app.get(WorkerRegistry);
  for (const name of ['bw1', 'bw2']) {
    await authed(http)
      .post('/api/v1/workers/register')
      .send({ worker_id: name, worker_type: 'backtesting', endpoint_url: fake.url(name) })
      .expect(200);
  }
  fake.set('bw1', { startStatus: 503 });
  const start = await authed(http).post('/api/v1/backtests/start').send(BACKTEST_PARAMS);
  expect(start.status).toBe(202);
  const id = start.body.operation_id as string;
  await settle();
  // bw1 answered 503 (busy) or was not chosen; the operation ends up on bw2.
  const op = (await authed(http).get(`/api/v1/operations/${id}`).expect(200)).body.data;
  expect(op.worker_id).toBe('bw2');
  const startReq = fake.requestsTo('bw2', '/backtests/start').at(-1)!;
  const lease = (startReq.body as { lease_token: string }).lease_token;

  await authed(http)
    .post(`/api/v1/operations/${id}/progress`)
    .send({ lease_token: lease, progress: { percentage: 50 } })
    .expect(200);
  // The worker is stopped by SIGTERM: interrupted → queued again → a new attempt.
  await authed(http)
    .post(`/api/v1/operations/${id}/complete`)
    .send({ lease_token: lease, status: 'failed', error_message: 'SIGTERM', interrupted: true })
    .expect(200);
  registry.release('bw2', id);
  await settle();
  const op2 = (await authed(http).get(`/api/v1/operations/${id}`).expect(200)).body.data;
  expect(op2.attempt).toBe(2);
  const start2 = fake.requests.filter((r) => r.path === '/backtests/start').at(-1)!;
  const lease2 = (start2.body as { lease_token: string }).lease_token;
  await authed(http)
    .post(`/api/v1/operations/${id}/complete`)
    .send({ lease_token: lease2, status: 'completed', result: { ok: true } })
    .expect(200);

  const [submit] = spans(SPAN.SUBMIT, id);
  const attempts = spans(SPAN.ATTEMPT, id);
  expect(attempts).toHaveLength(2);
  const a1 = attempts.find((s) => s.attributes[ATTR.ATTEMPT] === 1)!;
  const a2 = attempts.find((s) => s.attributes[ATTR.ATTEMPT] === 2)!;
  expect(submit.attributes).toMatchObject({ [ATTR.OPERATION_TYPE]: 'backtesting' });
  // The queue position the answer gave (none when a worker claimed it before the answer).
  expect(submit.attributes[ATTR.QUEUE_POSITION]).toBe(start.body.queue_position ?? undefined);
  expect(parentOf(a1)).toBe(idOf(submit));
  expect(traceOf(a1)).toBe(traceOf(submit));
  expect(a1.attributes).toMatchObject({
    [ATTR.STATUS]: 'requeued',
    'ktrdr.requeue.reason': 'worker_shutdown',
  });

  // Attempt 2: its own trace, linked to the first, ended by the completion.
  expect(traceOf(a2)).not.toBe(traceOf(a1));
  expect(parentOf(a2)).toBeUndefined();
  expect(a2.links.map((l) => l.context.spanId)).toEqual([idOf(a1)]);
  expect(a2.attributes).toMatchObject({
    [ATTR.REDISPATCH_REASON]: 'worker_shutdown',
    [ATTR.STATUS]: 'completed',
  });

  const queued = spans(SPAN.QUEUED, id);
  // Attempt 1 waited once more after bw1's 503 (same attempt, a `requeued` event), attempt 2 once.
  expect(queued.filter((q) => parentOf(q) === idOf(a2))).toHaveLength(1);
  const q1 = queued.filter((q) => parentOf(q) === idOf(a1));
  expect(q1.length).toBe(1 + fake.requestsTo('bw1', '/backtests/start').length);
  expect(queued).toHaveLength(q1.length + 1);
  const selects = spans(SPAN.SELECT, id);
  const dispatches = spans(SPAN.DISPATCH, id);
  for (const s of [...selects, ...dispatches]) {
    expect([idOf(a1), idOf(a2)]).toContain(parentOf(s));
  }
  const accepted = dispatches.filter((d) => d.attributes[ATTR.DISPATCH_OUTCOME] === 'accepted');
  expect(accepted).toHaveLength(2);
  const first = accepted.find((d) => parentOf(d) === idOf(a1))!;
  expect(first.attributes).toMatchObject({ [ATTR.WORKER_ID]: 'bw2', [ATTR.ATTEMPT]: 1 });
  const refused = dispatches.filter((d) => d.attributes[ATTR.DISPATCH_OUTCOME] === 'busy');
  for (const r of refused) {
    expect(r.attributes[ATTR.WORKER_ID]).toBe('bw1');
    expect(r.status.code).toBe(0); // a refused try is not an error of the dispatch span itself
  }
  const sel = selects.find(
    (s) => s.attributes[ATTR.SELECTION_CHOSEN] === 'bw2' && parentOf(s) === idOf(a1),
  )!;
  expect(sel.attributes).toMatchObject({
    [ATTR.SELECTION_REASON]: 'least_recently_selected',
    [ATTR.WORKER_TYPE]: 'backtesting',
  });
  expect(Number(sel.attributes[ATTR.SELECTION_CANDIDATES])).toBeGreaterThanOrEqual(1);
  expect(sel.attributes[ATTR.SELECTION_CANDIDATE_IDS]).toEqual(expect.arrayContaining(['bw2']));

  // The start request carried the dispatch span's context (W3C traceparent).
  expect(String(startReq.headers.traceparent)).toBe(`00-${traceOf(first)}-${idOf(first)}-01`);
  expect(String(start2.headers.traceparent).split('-')[1]).toBe(traceOf(a2));

  expect(spans(SPAN.PROGRESS, id)).toHaveLength(1);
  const completes = spans(SPAN.COMPLETE, id);
  expect(completes.map((c) => c.attributes[ATTR.STATUS]).sort()).toEqual(['completed', 'pending']);

  // ktrdr_dispatch_tries_total saw the accepted tries (and the 503, when bw1 was tried).
  const metrics = (await authed(http).get('/metrics').expect(200)).text;
  expect(metrics).toMatch(
    /ktrdr_dispatch_tries_total\{operation_type="backtesting",outcome="accepted"\} 2/,
  );
  expect(metrics).toMatch(
    new RegExp(
      `ktrdr_dispatch_tries_total\\{operation_type="backtesting",outcome="busy"\\} ${refused.length}`,
    ),
  );
});

it('a cancelled pending operation ends its attempt span (cancelled) and its queued span', async () => {
  const res = await authed(http)
    .post('/api/v1/backtests/start')
    .send({ ...BACKTEST_PARAMS, priority: -5 });
  const id = res.body.operation_id as string;
  // No free worker of the type (both fake workers are gone or busy): it waits; cancel it.
  t.app
    .get(WorkerRegistry)
    .all()
    .forEach((w) => t.app.get(WorkerRegistry).remove(w.worker_id));
  await authed(http).delete(`/api/v1/operations/${id}`).expect(200);
  const [attempt] = spans(SPAN.ATTEMPT, id);
  expect(attempt.attributes[ATTR.STATUS]).toBe('cancelled');
  const [queued] = spans(SPAN.QUEUED, id);
  expect(parentOf(queued)).toBe(idOf(attempt));
  expect(queued.attributes[ATTR.PRIORITY]).toBe(-5);
});
