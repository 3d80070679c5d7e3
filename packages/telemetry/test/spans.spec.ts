import { SpanStatusCode } from '@opentelemetry/api';
import {
  ATTR,
  AttemptContexts,
  SPAN,
  shutdownTelemetry,
  startTelemetry,
  flushTelemetry,
  traceFields,
  traceHeaders,
  tracingEnabled,
  withSpan,
  startSpan,
  contextWithSpan,
  runInContext,
} from '../src';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ReceivedSpan } from '../src/testing';

/**
 * In-process spans go to an in-memory exporter: under Jest the OTLP exporter cannot run (it loads
 * `http` with a dynamic import, which Jest's VM refuses). The OTLP/HTTP path itself is tested in a
 * real process (propagation.spec.ts) and by @ktrdr/system-tests.
 */
const memory = new InMemorySpanExporter();
const diagLines: string[] = [];

function received(s: ReadableSpan): ReceivedSpan {
  const resource = { ...s.resource.attributes } as ReceivedSpan['resource'];
  return {
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId ?? null,
    name: s.name,
    kind: s.kind + 1,
    startTimeUnixNano: 0n,
    endTimeUnixNano: BigInt(s.endTime[0]) * 1_000_000_000n + BigInt(s.endTime[1]),
    attributes: { ...s.attributes } as ReceivedSpan['attributes'],
    resource,
    status: { code: s.status.code, message: s.status.message },
    events: s.events.map((e) => ({
      name: e.name,
      timeUnixNano: 0n,
      attributes: { ...e.attributes } as ReceivedSpan['attributes'],
    })),
    links: s.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      attributes: { ...l.attributes } as ReceivedSpan['attributes'],
    })),
    service: String(resource['service.name']),
  };
}

const receiver = {
  get spans(): ReceivedSpan[] {
    return memory.getFinishedSpans().map(received);
  },
  find(name: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.name === name);
  },
  async waitFor(what: string, pred: (s: ReceivedSpan[]) => boolean): Promise<void> {
    if (!pred(this.spans)) throw new Error(`not exported: ${what}`);
  },
};

beforeAll(async () => {
  const handle = startTelemetry({
    serviceName: 'unit-service',
    version: '9.9.9',
    workerId: 'w-1',
    workerType: 'backtesting',
    settings: { enabled: true, endpoint: 'http://127.0.0.1:1' },
    exporter: memory,
    simpleProcessor: true,
    instrumentations: false,
    diagLogger: {
      error: (m) => diagLines.push(m),
      warn: (m) => diagLines.push(m),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
  });
  expect(handle?.serviceName).toBe('unit-service');
});

afterAll(async () => {
  await shutdownTelemetry();
  expect(diagLines).toEqual([]);
});

async function exported(name: string, n = 1): Promise<ReceivedSpan[]> {
  await flushTelemetry();
  await receiver.waitFor(`${n} × ${name}`, (s) => s.filter((x) => x.name === name).length >= n);
  return receiver.find(name);
}

describe('startTelemetry (spans to an in-memory exporter)', () => {
  it('exports spans with the service resource (name, version, worker id and type)', async () => {
    expect(tracingEnabled()).toBe(true);
    withSpan('unit.resource', {}, () => undefined);
    const [s] = await exported('unit.resource');
    expect(s.resource).toMatchObject({
      'service.name': 'unit-service',
      'service.version': '9.9.9',
      'service.instance.id': 'w-1',
      [ATTR.WORKER_ID]: 'w-1',
      [ATTR.WORKER_TYPE]: 'backtesting',
    });
  });

  it('withSpan nests children, ends async spans when the promise settles and records errors', async () => {
    await withSpan('unit.parent', { attributes: { a: 1 } }, async () => {
      withSpan('unit.child', {}, () => {
        expect(traceFields().trace_id).toMatch(/^[0-9a-f]{32}$/);
      });
      await new Promise((r) => setTimeout(r, 5));
      await expect(
        withSpan('unit.failing', {}, async () => {
          throw new Error('engine blew up');
        }),
      ).rejects.toThrow('engine blew up');
    });
    const [parent] = await exported('unit.parent');
    const [child] = await exported('unit.child');
    const [failing] = await exported('unit.failing');
    expect(child.parentSpanId).toBe(parent.spanId);
    expect(failing.parentSpanId).toBe(parent.spanId);
    expect(child.traceId).toBe(parent.traceId);
    expect(parent.attributes.a).toBe(1);
    expect(failing.status.code).toBe(SpanStatusCode.ERROR);
    expect(failing.attributes[ATTR.ERROR_MESSAGE]).toBe('engine blew up');
    expect(failing.events.map((e) => e.name)).toContain('exception');
    // The async parent ended when its promise settled, after the 5 ms wait inside it. (One span's
    // start and end come from one clock; comparing two spans' times mixes clock anchors that can
    // differ by a fraction of a millisecond.)
    expect(parent.endTimeUnixNano - parent.startTimeUnixNano).toBeGreaterThanOrEqual(4_000_000n);
  });

  it('traceFields is empty outside a span; traceHeaders carries W3C traceparent of the given context', () => {
    expect(traceFields()).toEqual({});
    const span = startSpan('unit.headers');
    const headers = traceHeaders(contextWithSpan(span));
    const { traceId, spanId } = span.spanContext();
    expect(headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    runInContext(contextWithSpan(span), () =>
      expect(traceFields()).toEqual({ trace_id: traceId, span_id: spanId }),
    );
    span.end();
  });
});

describe('AttemptContexts', () => {
  it('attempt 1 is a child of the submit span; a re-dispatch is a new trace linked to the first attempt', async () => {
    const store = new AttemptContexts();
    await withSpan(SPAN.SUBMIT, {}, async () => {
      store.begin('op-1', 1, { attributes: { [ATTR.OPERATION_TYPE]: 'backtesting' } });
    });
    runInContext(store.context('op-1'), () => withSpan(SPAN.QUEUED, {}, () => undefined));
    expect(store.context('op-1', 2)).toBeUndefined();
    store.begin('op-1', 2, { reason: 'orphan' });
    expect(store.attempt('op-1')).toBe(2);
    runInContext(store.context('op-1'), () => withSpan(SPAN.DISPATCH, {}, () => undefined));
    store.end('op-1', 'failed', 'Worker lost: gone');
    store.end('op-1', 'failed', 'twice is a no-op');

    const [submit] = await exported(SPAN.SUBMIT);
    const attempts = await exported(SPAN.ATTEMPT, 2);
    const a1 = attempts.find((s) => s.attributes[ATTR.ATTEMPT] === 1)!;
    const a2 = attempts.find((s) => s.attributes[ATTR.ATTEMPT] === 2)!;
    const [queued] = await exported(SPAN.QUEUED);
    const [dispatch] = await exported(SPAN.DISPATCH);
    expect(a1.parentSpanId).toBe(submit.spanId);
    expect(a1.traceId).toBe(submit.traceId);
    expect(a1.attributes).toMatchObject({
      [ATTR.OPERATION_ID]: 'op-1',
      [ATTR.OPERATION_TYPE]: 'backtesting',
      [ATTR.STATUS]: 'superseded',
    });
    expect(queued.parentSpanId).toBe(a1.spanId);
    expect(a2.traceId).not.toBe(a1.traceId);
    expect(a2.parentSpanId).toBeNull();
    expect(a2.links).toEqual([expect.objectContaining({ traceId: a1.traceId, spanId: a1.spanId })]);
    expect(a2.attributes).toMatchObject({
      [ATTR.REDISPATCH_REASON]: 'orphan',
      [ATTR.STATUS]: 'failed',
      [ATTR.ERROR_MESSAGE]: 'Worker lost: gone',
    });
    expect(a2.status.code).toBe(SpanStatusCode.ERROR);
    expect(dispatch.parentSpanId).toBe(a2.spanId);
    expect(store.size).toBe(0);
  });

  it('is bounded: the oldest open attempt span is ended when full', async () => {
    const store = new AttemptContexts(2);
    for (const id of ['e1', 'e2', 'e3']) store.begin(id, 1);
    expect(store.size).toBe(2);
    expect(store.context('e1')).toBeUndefined();
    await flushTelemetry();
    await receiver.waitFor('evicted e1', (s) =>
      s.some(
        (x) => x.attributes[ATTR.OPERATION_ID] === 'e1' && x.attributes[ATTR.STATUS] === 'evicted',
      ),
    );
    store.forget('e2');
    store.forget('e3');
  });
});
