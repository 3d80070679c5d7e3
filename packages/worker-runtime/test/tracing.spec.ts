/**
 * The worker's spans with the SDK started in-process (in-memory exporter, no instrumentations, so
 * the runtime injects W3C `traceparent` into its reports itself): the accept span is a child of
 * the dispatch context, the job span of the accept span, the engine's phases of the job span, per
 * unit events on the `run` phase, and the progress and completion reports carry the trace to the
 * backend. Log lines in JSON carry trace_id/span_id while a span is active.
 */
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  ATTR,
  SPAN,
  ServiceLogger,
  shutdownTelemetry,
  startTelemetry,
  withSpan,
  type Span,
} from '@ktrdr/telemetry';
import { WorkerRuntime } from '../src/runtime';
import {
  FakeBackend,
  fakeEngine,
  recordingLogger,
  scaledClock,
  tempDir,
  testRuntimeConfig,
  until,
  dispatchBody,
} from './support/helpers';

const memory = new InMemorySpanExporter();

beforeAll(() => {
  startTelemetry({
    serviceName: 'fake-worker',
    settings: { enabled: true },
    exporter: memory,
    simpleProcessor: true,
    instrumentations: false,
  });
});

afterAll(async () => {
  await shutdownTelemetry();
});

const byName = (name: string): ReadableSpan[] =>
  memory.getFinishedSpans().filter((s) => s.name === name);
const one = (name: string): ReadableSpan => {
  const found = byName(name);
  if (found.length !== 1) {
    throw new Error(
      `${found.length} spans named ${name}: ${memory
        .getFinishedSpans()
        .map((s) => s.name)
        .join(', ')}`,
    );
  }
  return found[0];
};
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

async function withRuntime(
  fn: (rt: WorkerRuntime, backend: FakeBackend) => Promise<void>,
): Promise<void> {
  const backend = await new FakeBackend().start();
  const tmp = tempDir();
  const runtime = new WorkerRuntime(fakeEngine(), testRuntimeConfig(backend.baseUrl, tmp.dir), {
    clock: scaledClock(0.001),
    logger: recordingLogger(),
    defaultMetrics: false,
  });
  try {
    await fn(runtime, backend);
  } finally {
    await runtime.close();
    await backend.stop();
    tmp.cleanup();
  }
}

beforeEach(() => memory.reset());

it('accept → job → phases (with events) and reports join the dispatch trace; reports carry traceparent', async () => {
  await withRuntime(async (runtime, backend) => {
    let dispatch!: Span;
    withSpan('test.dispatch', {}, (span) => {
      dispatch = span;
      runtime.startOperation(
        dispatchBody({
          operation_id: 'op-t1',
          lease_token: 'lease-t1',
          attempt: 2,
          units: 3,
          unit_ms: 5,
        }) as never,
      );
    });
    await until(() => runtime.jobEnds.length === 1, 10_000, 'job end');
    await backend.waitForCount('POST', /\/complete$/, 1);
    await until(() => byName(SPAN.REPORT_COMPLETE).length === 1, 10_000, 'complete report span');

    const traceId = dispatch.spanContext().traceId;
    const accept = one(SPAN.WORKER_ACCEPT);
    const job = one(SPAN.JOB);
    const prepare = one('ktrdr.job.prepare');
    const run = one('ktrdr.job.run');
    const serialise = one('ktrdr.job.serialise_result');
    const complete = one(SPAN.REPORT_COMPLETE);
    const progress = byName(SPAN.REPORT_PROGRESS);
    for (const s of [accept, job, prepare, run, serialise, complete, ...progress]) {
      expect({ name: s.name, trace: s.spanContext().traceId }).toEqual({
        name: s.name,
        trace: traceId,
      });
    }
    expect(parentOf(accept)).toBe(dispatch.spanContext().spanId);
    expect(parentOf(job)).toBe(accept.spanContext().spanId);
    for (const s of [prepare, run, serialise, complete, ...progress]) {
      expect({ name: s.name, parent: parentOf(s) }).toEqual({
        name: s.name,
        parent: job.spanContext().spanId,
      });
    }
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(accept.attributes).toMatchObject({
      [ATTR.OPERATION_ID]: 'op-t1',
      [ATTR.ATTEMPT]: 2,
      [ATTR.WORKER_ID]: 'backtesting-worker-test0001',
      [ATTR.WORKER_TYPE]: 'backtesting',
    });
    expect(job.attributes).toMatchObject({
      [ATTR.OPERATION_ID]: 'op-t1',
      [ATTR.STATUS]: 'completed',
    });
    expect(prepare.attributes).toMatchObject({ units: 3, [ATTR.PHASE]: 'prepare' });
    expect(run.events.map((e) => [e.name, e.attributes?.done])).toEqual([
      ['unit', 1],
      ['unit', 2],
      ['unit', 3],
    ]);
    expect(Number(serialise.attributes[ATTR.RESULT_BYTES])).toBeGreaterThan(10);
    // Phases are ordered in time inside the job span.
    const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;
    expect(ms(prepare.endTime)).toBeLessThanOrEqual(ms(run.startTime) + 1);
    expect(ms(run.endTime)).toBeLessThanOrEqual(ms(serialise.startTime) + 1);
    expect(ms(job.endTime)).toBeGreaterThanOrEqual(ms(serialise.endTime) - 1);

    const reports = backend.requests.filter((r) => /\/(progress|complete)$/.test(r.path));
    expect(reports.length).toBeGreaterThanOrEqual(2);
    for (const r of reports) {
      expect(String(r.headers.traceparent)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    }
    // The completion's traceparent names its report span.
    const completeReq = reports.find((r) => r.path.endsWith('/complete'))!;
    expect(String(completeReq.headers.traceparent).split('-')[2]).toBe(
      complete.spanContext().spanId,
    );
  });
});

it('a failing engine ends its job span and the open phase as errors with the reason', async () => {
  await withRuntime(async (runtime) => {
    runtime.startOperation(
      dispatchBody({
        operation_id: 'op-t2',
        lease_token: 'lease-t2',
        attempt: 1,
        units: 5,
        unit_ms: 1,
        fail_at: 2,
      }) as never,
    );
    await until(() => runtime.jobEnds.length === 1, 10_000, 'job end');
    const job = one(SPAN.JOB);
    const run = one('ktrdr.job.run');
    expect(job.status.code).toBe(2);
    expect(job.attributes[ATTR.ERROR_MESSAGE]).toBe('fake engine failed at unit 2');
    expect(run.status.code).toBe(2);
    expect(parentOf(job)).toBe(one(SPAN.WORKER_ACCEPT).spanContext().spanId);
  });
});

it('a busy worker records the refused start on an errored accept span', async () => {
  await withRuntime(async (runtime) => {
    runtime.startOperation(
      dispatchBody({
        operation_id: 'a',
        lease_token: 'la',
        attempt: 1,
        units: 50,
        unit_ms: 10,
      }) as never,
    );
    expect(() =>
      runtime.startOperation(
        dispatchBody({
          operation_id: 'b',
          lease_token: 'lb',
          attempt: 1,
          units: 1,
          unit_ms: 1,
        }) as never,
      ),
    ).toThrow();
    const refused = byName(SPAN.WORKER_ACCEPT).find(
      (s) => s.attributes[ATTR.OPERATION_ID] === 'b',
    )!;
    expect(refused.status.code).toBe(2);
    expect(String(refused.status.message)).toMatch(/busy/i);
  });
});

it('JSON log lines carry trace_id and span_id inside a span, and none outside', () => {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const logger = new ServiceLogger('log', true);
    logger.log('outside', 'Test');
    withSpan('test.log', {}, (span) => {
      logger.log('inside', 'Test');
      const inside = JSON.parse(lines[1]) as Record<string, unknown>;
      expect(inside).toMatchObject({
        message: 'inside',
        trace_id: span.spanContext().traceId,
        span_id: span.spanContext().spanId,
      });
    });
  } finally {
    process.stdout.write = write;
  }
  const outside = JSON.parse(lines[0]) as Record<string, unknown>;
  expect(outside.message).toBe('outside');
  expect(outside).not.toHaveProperty('trace_id');
});
