/**
 * The real instrumentations in a real Node process (the built package): W3C trace context flows
 * through Node's fetch (undici instrumentation) into an http server (http instrumentation), one
 * traceparent per request, and probes without a parent span are not traced.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { OtlpReceiver } from '../src/testing';

it('propagates one traceparent per hop and builds one trace across client and server spans', async () => {
  const receiver = await new OtlpReceiver().start();
  try {
    const child = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(
        process.execPath,
        [join(__dirname, 'fixtures', 'propagation.js'), receiver.endpoint],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', (code) => resolve({ code, out }));
    });
    expect(child.code).toBe(0);
    const body = JSON.parse(child.out.trim().split('\n').pop()!) as {
      traceparent: string;
      leaf: { traceparent: string };
    };
    // Exactly one W3C header value (no duplicate injection).
    expect(body.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(body.leaf.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await receiver.waitFor('caller and 4 http spans', (s) => s.length >= 5);
    const caller = receiver.find('fixture.caller')[0];
    const spans = receiver.spans.filter((s) => s.traceId === caller.traceId);
    const clients = spans.filter((s) => s.kind === SpanKind.CLIENT + 1);
    const servers = spans.filter((s) => s.kind === SpanKind.SERVER + 1);
    expect(clients).toHaveLength(2);
    expect(servers).toHaveLength(2);
    const hopClient = clients.find((c) => c.parentSpanId === caller.spanId)!;
    const hopServer = servers.find((s) => s.parentSpanId === hopClient.spanId)!;
    const leafClient = clients.find((c) => c.parentSpanId === hopServer.spanId)!;
    const leafServer = servers.find((s) => s.parentSpanId === leafClient.spanId)!;
    expect(leafServer).toBeDefined();
    expect(body.traceparent.split('-')[2]).toBe(hopClient.spanId);
    expect(body.leaf.traceparent.split('-')[2]).toBe(leafClient.spanId);
    // The untraced probe: nothing about /health anywhere.
    expect(receiver.spans.filter((s) => JSON.stringify(s.attributes).includes('/health'))).toEqual(
      [],
    );
    // Decoded from the real OTLP/HTTP JSON export: resource and ids.
    expect(caller.service).toBe('propagation-fixture');
    expect(caller.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(hopServer.endTimeUnixNano).toBeGreaterThan(hopServer.startTimeUnixNano);
    expect(receiver.rejected).toEqual([]);
  } finally {
    await receiver.stop();
  }
}, 30_000);
