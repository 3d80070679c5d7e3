import { QueryClient } from '@tanstack/react-query';
import { applyEffect, effectOf } from '../src/live/events';
import { runEventStream, type LiveEvent, type LiveMode } from '../src/live/stream';
import type { FetchLike } from '../src/api/client';
import type {
  OperationDto,
  OperationListResponseDto,
  WorkerDto,
  WorkerListResponseDto,
} from '../src/api/types';

function sseResponse(chunks: string[], status = 200): Response {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      const enc = new TextEncoder();
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
  return new Response(body, { status, headers: { 'content-type': 'text/event-stream' } });
}

function frame(id: number, type: string, payload: unknown): string {
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({ id, type, time: '2026-01-01T00:00:00Z', payload })}\n\n`;
}

describe('runEventStream', () => {
  it('parses frames split across chunks, then reconnects with Last-Event-ID', async () => {
    const ac = new AbortController();
    const events: LiveEvent[] = [];
    const modes: LiveMode[] = [];
    const calls: Array<Record<string, string>> = [];
    const f1 = frame(1, 'operation.progress', { operation_id: 'op1' });
    const f2 = frame(2, 'worker.registered', { worker: { worker_id: 'w1' } });
    const fetchImpl: FetchLike = async (_url, init) => {
      calls.push({ ...(init?.headers as Record<string, string>) });
      if (calls.length === 1)
        return sseResponse([
          ': heartbeat\n\n',
          f1.slice(0, 10),
          f1.slice(10) + f2.slice(0, 5),
          f2.slice(5),
        ]);
      ac.abort();
      return sseResponse([]);
    };
    await runEventStream({
      url: '/api/v1/events',
      signal: ac.signal,
      fetch: fetchImpl,
      onEvent: (e) => events.push(e),
      onMode: (m) => modes.push(m),
      sleep: async () => undefined,
    });
    expect(events.map((e) => [e.id, e.type])).toEqual([
      ['1', 'operation.progress'],
      ['2', 'worker.registered'],
    ]);
    expect((events[0]!.data as { payload: { operation_id: string } }).payload.operation_id).toBe(
      'op1',
    );
    expect(calls[0]!['last-event-id']).toBeUndefined();
    expect(calls[0]!.accept).toBe('text/event-stream');
    expect(calls[1]!['last-event-id']).toBe('2');
    expect(modes.slice(0, 3)).toEqual(['connecting', 'live', 'polling']);
  });

  it('falls back to polling on 404 and retries after the long wait', async () => {
    const ac = new AbortController();
    const modes: Array<[LiveMode, string]> = [];
    const waits: number[] = [];
    let n = 0;
    await runEventStream({
      url: '/api/v1/events',
      signal: ac.signal,
      fetch: async () => {
        n += 1;
        return new Response('{"statusCode":404}', { status: 404 });
      },
      onEvent: () => undefined,
      onMode: (m, d) => modes.push([m, d]),
      notFoundRetryMs: 12345,
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length === 2) ac.abort();
      },
    });
    expect(n).toBe(2);
    expect(waits).toEqual([12345, 12345]);
    expect(modes[1]).toEqual(['polling', 'the backend has no event stream: polling']);
  });

  it('a network error means polling, then another try', async () => {
    const ac = new AbortController();
    const modes: LiveMode[] = [];
    let n = 0;
    await runEventStream({
      url: '/x',
      signal: ac.signal,
      fetch: async () => {
        n += 1;
        if (n === 2) ac.abort();
        throw new TypeError('fetch failed');
      },
      onEvent: () => undefined,
      onMode: (m) => modes.push(m),
      sleep: async () => undefined,
    });
    expect(n).toBe(2);
    expect(modes).toEqual(['connecting', 'polling', 'connecting']);
  });
});

const worker = (over: Partial<WorkerDto> = {}): WorkerDto =>
  ({
    worker_id: 'w1',
    worker_type: 'backtesting',
    endpoint_url: 'http://127.0.0.1:1',
    status: 'available',
    current_operation_id: null,
    capabilities: {},
    last_health_check: null,
    last_healthy_at: null,
    health_check_failures: 0,
    registered_at: '2026-01-01T00:00:00Z',
    metadata: {},
    ...over,
  }) as WorkerDto;

const operation = (over: Partial<OperationDto> = {}): OperationDto =>
  ({
    operation_id: 'op1',
    operation_type: 'backtesting',
    status: 'running',
    worker_id: 'w1',
    attempt: 1,
    created_at: '2026-01-01T00:00:00Z',
    started_at: '2026-01-01T00:00:01Z',
    completed_at: null,
    progress: { percentage: 10 },
    params: { symbol: 'SYNTH-A' },
    result: null,
    error_message: null,
    checkpoint: null,
    ...over,
  }) as OperationDto;

function ev(type: string, payload: unknown): LiveEvent {
  return { id: '1', type, data: { id: 1, type, time: '', payload } };
}

describe('events into the cache', () => {
  it('progress patches the operation everywhere, keeps params, needs no refetch', () => {
    const qc = new QueryClient();
    qc.setQueryData(['operation', 'op1'], operation());
    const list: OperationListResponseDto = {
      success: true,
      data: [operation()],
      total_count: 1,
      active_count: 1,
    };
    qc.setQueryData(['operations', { status: 'running', limit: 200, offset: 0 }], list);
    const effect = effectOf(
      ev('operation.progress', {
        operation_id: 'op1',
        status: 'running',
        progress: { percentage: 55 },
      }),
    );
    expect(applyEffect(qc, effect)).toEqual([]);
    expect(qc.getQueryData<OperationDto>(['operation', 'op1'])!.progress.percentage).toBe(55);
    expect(qc.getQueryData<OperationDto>(['operation', 'op1'])!.params).toEqual({
      symbol: 'SYNTH-A',
    });
    const l = qc.getQueryData<OperationListResponseDto>([
      'operations',
      { status: 'running', limit: 200, offset: 0 },
    ]);
    expect(l!.data[0]!.progress.percentage).toBe(55);
  });

  it('lifecycle steps ask for the lists again', () => {
    expect(
      effectOf(ev('operation.completed', { operation_id: 'op1', status: 'completed' })).refetch,
    ).toEqual(['operations', 'workers']);
    expect(effectOf(ev('operation.queued', { operation_id: 'op2' })).refetch).toContain(
      'operations',
    );
  });

  it('worker events patch, add (refetch) or remove workers', () => {
    const qc = new QueryClient();
    const data: WorkerListResponseDto = { total: 1, workers: [worker()] };
    qc.setQueryData(['workers'], data);
    expect(
      applyEffect(
        qc,
        effectOf(
          ev('worker.status_changed', {
            worker: worker({ status: 'busy' as WorkerDto['status'] }),
            previous_status: 'available',
          }),
        ),
      ),
    ).toEqual([]);
    expect(qc.getQueryData<WorkerListResponseDto>(['workers'])!.workers[0]!.status).toBe('busy');
    expect(
      applyEffect(
        qc,
        effectOf(
          ev('worker.registered', { worker: worker({ worker_id: 'w2' }), previous_status: null }),
        ),
      ),
    ).toEqual(['workers']);
    applyEffect(qc, effectOf(ev('worker.removed', { worker: worker(), previous_status: 'busy' })));
    expect(qc.getQueryData<WorkerListResponseDto>(['workers'])).toEqual({ total: 0, workers: [] });
  });

  it('a lifecycle event brings the attempt history along', () => {
    const qc = new QueryClient();
    qc.setQueryData(['operation', 'op1'], operation({ attempts: [] }));
    const attempts = [
      {
        attempt: 1,
        worker_id: 'w1',
        dispatched_at: '2026-01-01T00:00:01.000Z',
        started_at: null,
        ended_at: null,
        outcome: null,
        reason: null,
        resumed_from: null,
      },
    ];
    applyEffect(
      qc,
      effectOf(ev('operation.dispatched', { operation_id: 'op1', status: 'dispatched', attempts })),
    );
    expect(qc.getQueryData<OperationDto>(['operation', 'op1'])).toMatchObject({
      status: 'dispatched',
      attempts,
      params: { symbol: 'SYNTH-A' },
    });
  });

  it('an event type the contracts do not have, or a frame without payload, re-reads everything', () => {
    expect(effectOf(ev('operation.archived', { operation_id: 'op1' })).refetch).toEqual(['all']);
    expect(effectOf(ev('operation.progress', null)).refetch).toEqual(['all']);
    expect(effectOf({ id: '1', type: 'message', data: 'not json' }).refetch).toEqual(['all']);
  });

  it('a gap re-reads everything; a dropped stream does nothing by itself', () => {
    expect(effectOf(ev('stream.gap', { last_event_id: 3 })).refetch).toEqual(['all']);
    expect(effectOf(ev('stream.dropped', { reason: 'slow_client' })).refetch).toEqual([]);
  });
});
