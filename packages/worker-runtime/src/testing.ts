/**
 * Test helpers for worker apps and system tests (import from `@ktrdr/worker-runtime/testing`):
 * a fake backend on an ephemeral loopback port, a fast clock, a recording logger and a
 * RuntimeConfig that needs no environment.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ARTIFACT_CHUNK_MEDIA_TYPE,
  artifactRows,
  LEASE_TOKEN_HEADER,
  mediaTypeOf,
  signRequest,
  viewArtifactChunk,
} from '@ktrdr/contracts';
import { sleepOnTimers, type Clock, type TimerHandle } from '@ktrdr/config';
import type { RuntimeConfig } from './config';
import type { RuntimeLogger } from './logger';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  at: number;
}

export interface FakeReply {
  status: number;
  body?: unknown;
}

/** `null` from a handler destroys the connection (the backend looks down). */
export type Handler = (req: RecordedRequest) => FakeReply | null | undefined;

/**
 * A small fake backend on an ephemeral loopback port. Default replies follow the protocol
 * (register → worker record + stop_operations [], heartbeat → registered:true, progress,
 * complete and artifact chunks → acknowledged); tests override routes with `on(method, pathRegex, handler)`.
 */
export class FakeBackend {
  readonly requests: RecordedRequest[] = [];
  private server: Server | null = null;
  private handlers: { method: string; path: RegExp; handler: Handler }[] = [];
  private waiters: {
    pred: (r: RecordedRequest) => boolean;
    resolve: (r: RecordedRequest) => void;
  }[] = [];
  port = 0;

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/api/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** The latest handler registered for a route wins. */
  on(method: string, path: RegExp, handler: Handler): this {
    this.handlers.unshift({ method, path, handler });
    return this;
  }

  reset(): void {
    this.handlers = [];
  }

  count(method: string, path: RegExp): number {
    return this.matching(method, path).length;
  }

  matching(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  /** Resolves with the first recorded request (past or future) matching `pred`. */
  waitFor(pred: (r: RecordedRequest) => boolean, timeoutMs = 10_000): Promise<RecordedRequest> {
    const found = this.requests.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching request within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  /** Resolves when at least `n` requests match. */
  async waitForCount(method: string, path: RegExp, n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.count(method, path) < n) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${n} × ${method} ${path}, got ${this.count(method, path)}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const [path, query] = (req.url ?? '/').split('?') as [string, string | undefined];
      const binary = mediaTypeOf(req.headers['content-type']) === ARTIFACT_CHUNK_MEDIA_TYPE;
      const text = binary ? '' : raw.toString('utf8');
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path,
        headers: req.headers,
        body: binary
          ? decodeChunk(path, new URLSearchParams(query), req.headers, raw)
          : text
            ? (JSON.parse(text) as unknown)
            : null,
        at: Date.now(),
      };
      this.requests.push(rec);
      this.waiters = this.waiters.filter((w) => {
        if (w.pred(rec)) {
          w.resolve(rec);
          return false;
        }
        return true;
      });
      const custom = this.handlers.find((h) => h.method === rec.method && h.path.test(rec.path));
      const reply = custom ? custom.handler(rec) : this.defaultReply(rec);
      if (reply === null) {
        req.socket.destroy();
        return;
      }
      const r = reply ?? this.defaultReply(rec);
      res.statusCode = r.status;
      res.setHeader('content-type', 'application/json');
      res.end(r.body === undefined ? '' : JSON.stringify(r.body));
    });
  }

  private defaultReply(rec: RecordedRequest): FakeReply {
    if (rec.method === 'POST' && /\/workers\/register$/.test(rec.path)) {
      const b = rec.body as Record<string, unknown>;
      return {
        status: 200,
        body: {
          worker_id: b.worker_id,
          worker_type: b.worker_type,
          endpoint_url: b.endpoint_url,
          status: 'available',
          current_operation_id: b.current_operation_id ?? null,
          capabilities: b.capabilities ?? {},
          last_health_check: null,
          last_healthy_at: null,
          health_check_failures: 0,
          registered_at: new Date().toISOString(),
          draining: false,
          metadata: b.metadata ?? {},
          stop_operations: [],
        },
      };
    }
    if (rec.method === 'POST' && /\/heartbeat$/.test(rec.path)) {
      return { status: 200, body: { registered: true, cancel_operations: [] } };
    }
    if (rec.method === 'GET' && /\/workers\/[^/]+$/.test(rec.path)) {
      return { status: 200, body: { worker_id: rec.path.split('/').pop() } };
    }
    if (rec.method === 'POST' && /\/operations\/[^/]+\/(progress|complete)$/.test(rec.path)) {
      return { status: 200, body: { acknowledged: true, status: 'running' } };
    }
    const artifact = /\/operations\/[^/]+\/artifacts\/([^/]+)\/chunks\/\d+$/.exec(rec.path);
    if (rec.method === 'PUT' && artifact) {
      const b = rec.body as { chunk_index?: number; first_row?: number; rows?: unknown[] } | null;
      return {
        status: 200,
        body: {
          acknowledged: true,
          kind: artifact[1],
          chunk_index: b?.chunk_index ?? 0,
          rows_stored: (b?.first_row ?? 0) + (b?.rows?.length ?? 0),
        },
      };
    }
    return { status: 404, body: { statusCode: 404, error: 'Not Found', message: 'no route' } };
  }
}

/**
 * A binary artifact chunk as the logical chunk it carries (the fields of the JSON form), so tests
 * read uploads as rows: `{ lease_token, chunk_index, chunk_count, first_row, total_rows, columns, rows }`.
 */
function decodeChunk(
  path: string,
  query: URLSearchParams,
  headers: IncomingMessage['headers'],
  raw: Buffer,
): Record<string, unknown> {
  const columns = (query.get('columns') ?? '').split(',');
  return {
    lease_token: headers[LEASE_TOKEN_HEADER],
    chunk_index: Number(path.split('/').pop()),
    chunk_count: Number(query.get('chunk_count')),
    first_row: Number(query.get('first_row')),
    total_rows: Number(query.get('total_rows')),
    columns,
    rows: artifactRows(viewArtifactChunk(raw, columns.length)),
  };
}

/**
 * A clock running `scale` times faster than real time: `sleep(1000)` and `setTimeout(fn, 1000)`
 * wait 1000·scale ms and `now()` advances accordingly, so backoff sequences are checked without long
 * sleeps. Every requested delay is recorded (a sleep's even when its signal has already aborted).
 */
export function scaledClock(scale = 0.001): Clock & { requested: number[] } {
  const t0 = Date.now();
  const requested: number[] = [];
  const scaled: Pick<Clock, 'setTimeout' | 'clearTimeout'> = {
    setTimeout(fn, ms) {
      const timer = setTimeout(fn, ms * scale);
      timer.unref();
      return timer as unknown as TimerHandle;
    },
    clearTimeout(handle) {
      clearTimeout(handle as unknown as NodeJS.Timeout);
    },
  };
  return {
    requested,
    now: () => t0 + (Date.now() - t0) / scale,
    setTimeout(fn, ms) {
      requested.push(ms);
      return scaled.setTimeout(fn, ms);
    },
    clearTimeout: (handle) => scaled.clearTimeout(handle),
    sleep(ms, signal) {
      requested.push(ms);
      return sleepOnTimers(scaled, ms, signal);
    },
  };
}

export function recordingLogger(): RuntimeLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log: (m) => lines.push(`log ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

export function tempDir(prefix = 'ktrdr-wr-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Registration token of testRuntimeConfig() (tests only). */
export const TEST_REGISTRATION_TOKEN = 'test-registration-token-0123456789abcdef';

/**
 * fetch() to a worker as its backend does it: JSON body, signed with the registration token. `path` is
 * taken from the URL. Pass `token: null` for an unsigned call.
 */
export function signedFetch(
  url: string,
  init: {
    method?: string;
    body?: unknown;
    token?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<Response> {
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
  const text =
    init.body === undefined
      ? undefined
      : typeof init.body === 'string'
        ? init.body
        : JSON.stringify(init.body);
  const token = init.token === undefined ? TEST_REGISTRATION_TOKEN : init.token;
  const headers: Record<string, string> = { ...init.headers };
  if (text !== undefined) headers['content-type'] ??= 'application/json';
  if (token)
    Object.assign(headers, signRequest(token, { method, path: new URL(url).pathname, body: text }));
  return fetch(url, { method, headers, body: text });
}

export type TestConfigOverrides = Omit<Partial<RuntimeConfig>, 'checkpoint'> & {
  checkpoint?: Partial<RuntimeConfig['checkpoint']>;
};

export function testRuntimeConfig(
  backendUrl: string,
  checkpointDir: string,
  over: TestConfigOverrides = {},
): RuntimeConfig {
  const { checkpoint, ...rest } = over;
  return {
    worker_id: 'backtesting-worker-test0001',
    port: 0,
    host: '127.0.0.1',
    public_base_url: undefined,
    endpoint_url: 'http://127.0.0.1:1',
    backend_url: backendUrl,
    release: undefined,
    request_timeout_ms: 2_000,
    registration_token: TEST_REGISTRATION_TOKEN,
    signature_window_ms: 30_000,
    heartbeat_interval_ms: 5_000,
    progress_interval_ms: 0,
    shutdown_grace_ms: 20_000,
    backoff_initial_ms: 250,
    backoff_max_ms: 30_000,
    shutdown_poll_ms: 2_000,
    verify_every_heartbeats: 0,
    checkpoint_cleanup_interval_ms: 3_600_000,
    ...rest,
    checkpoint: {
      dir: checkpointDir,
      every_units: 1_000_000,
      every_ms: 3_600_000,
      max_age_ms: 30 * 86_400_000,
      ...checkpoint,
    },
  };
}

export async function until(
  pred: () => boolean,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const DISPATCH_KEYS = new Set(['operation_id', 'lease_token', 'attempt', 'resume_from']);

/**
 * A worker start body in the dispatch shape from one flat object: the dispatch fields
 * (operation_id, lease_token, attempt, resume_from) at the top, everything else in `params`.
 */
export function dispatchBody(fields: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) (DISPATCH_KEYS.has(k) ? body : params)[k] = v;
  return { ...body, params };
}
