/**
 * An in-process OTLP/HTTP trace receiver for tests: a node `http` server on 127.0.0.1 (ephemeral
 * port) accepting `POST /v1/traces` in the OTLP JSON encoding (what @opentelemetry/exporter-trace-
 * otlp-http sends by default) and keeping every span, flattened with its resource attributes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorText } from '@ktrdr/contracts/constants';

export type AttributeValue = string | number | boolean | null | AttributeValue[];

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
  resource: Record<string, AttributeValue>;
  status: { code: number; message?: string };
  events: { name: string; timeUnixNano: bigint; attributes: Record<string, AttributeValue> }[];
  links: { traceId: string; spanId: string; attributes: Record<string, AttributeValue> }[];
  /** `resource['service.name']`. */
  service: string;
}

interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: string;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}

function value(v: AnyValue | undefined): AttributeValue {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(value);
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null;
}

export function attributes(kvs: KeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of kvs ?? []) out[kv.key] = value(kv.value);
  return out;
}

function nanos(v: unknown): bigint {
  if (typeof v === 'string' || typeof v === 'number') return BigInt(v);
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const { low, high } = v as { low: number; high: number };
    return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  }
  return 0n;
}

/** Flattens one OTLP JSON `ExportTraceServiceRequest`. */
export function decodeTraceRequest(body: unknown): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  const req = body as {
    resourceSpans?: {
      resource?: { attributes?: KeyValue[] };
      scopeSpans?: { spans?: Record<string, unknown>[] }[];
    }[];
  };
  for (const rs of req.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const parent = typeof s.parentSpanId === 'string' && s.parentSpanId ? s.parentSpanId : null;
        out.push({
          traceId: String(s.traceId),
          spanId: String(s.spanId),
          parentSpanId: parent,
          name: String(s.name),
          kind: Number(s.kind ?? 0),
          startTimeUnixNano: nanos(s.startTimeUnixNano),
          endTimeUnixNano: nanos(s.endTimeUnixNano),
          attributes: attributes(s.attributes as KeyValue[] | undefined),
          resource,
          status: (s.status as { code: number; message?: string } | undefined) ?? { code: 0 },
          events: ((s.events as Record<string, unknown>[] | undefined) ?? []).map((e) => ({
            name: String(e.name),
            timeUnixNano: nanos(e.timeUnixNano),
            attributes: attributes(e.attributes as KeyValue[] | undefined),
          })),
          links: ((s.links as Record<string, unknown>[] | undefined) ?? []).map((l) => ({
            traceId: String(l.traceId),
            spanId: String(l.spanId),
            attributes: attributes(l.attributes as KeyValue[] | undefined),
          })),
          service: String(resource['service.name'] ?? ''),
        });
      }
    }
  }
  return out;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Requests that could not be decoded (content type, JSON), with the reason. */
  readonly rejected: string[] = [];
  requests = 0;
  private server: Server | null = null;
  private port = 0;

  /** `http://127.0.0.1:{port}` — the value for KTRDR_OTEL_ENDPOINT. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    this.requests += 1;
    const type = String(req.headers['content-type'] ?? '');
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      this.rejected.push(`${req.method} ${req.url}`);
      res.writeHead(404).end();
      return;
    }
    if (!type.includes('json')) {
      this.rejected.push(`content-type ${type}`);
      res.writeHead(415).end();
      return;
    }
    try {
      this.spans.push(...decodeTraceRequest(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    } catch (err) {
      this.rejected.push(`invalid body: ${errorText(err)}`);
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  /** Spans matching every given attribute value (and the name, when given). */
  find(name?: string, attrs: Record<string, AttributeValue> = {}): ReceivedSpan[] {
    return this.spans.filter(
      (s) =>
        (name === undefined || s.name === name) &&
        Object.entries(attrs).every(([k, v]) => s.attributes[k] === v),
    );
  }

  /** Waits until `predicate(spans)` is true (polling every 50 ms), or throws after `timeoutMs`. */
  async waitFor(
    what: string,
    predicate: (spans: ReceivedSpan[]) => boolean,
    timeoutMs = 15_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.spans)) {
      if (Date.now() > deadline) {
        const names = [...new Set(this.spans.map((s) => `${s.service}:${s.name}`))].join(', ');
        throw new Error(
          `timed out waiting for ${what}; ${this.spans.length} spans received (${names})${this.rejected.length ? `; rejected: ${this.rejected.join('; ')}` : ''}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
