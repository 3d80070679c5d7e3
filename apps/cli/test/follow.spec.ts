/**
 * The follower in-process against a scripted backend on loopback: progress reaches the view from the
 * event stream alone (polling slowed to a minute), and a dropped stream is resumed with Last-Event-ID.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient } from '../src/api';
import { follow } from '../src/follow';
import { Output } from '../src/output';

const ID = 'op_backtesting_20260101_aaaaaaaaaaaa';

function op(status: string, percentage: number) {
  return {
    operation_id: ID,
    operation_type: 'backtesting',
    status,
    worker_id: 'bw-1',
    attempt: 1,
    created_at: '2026-01-01T00:00:00.000Z',
    started_at: '2026-01-01T00:00:01.000Z',
    completed_at: status === 'completed' ? '2026-01-01T00:00:09.000Z' : null,
    progress: { percentage, current_step: `bar ${percentage}/100` },
    params: {},
    metrics: status === 'completed' ? { total_return: 0.5 } : null,
    error_message: null,
    checkpoint: null,
    priority: 0,
    queue_position: null,
    wait_reason: null,
    sweep_id: null,
  };
}

function frame(id: number, type: string, status: string, percentage: number): string {
  const { params: _p, metrics: _m, ...payload } = op(status, percentage);
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({ id, type, time: new Date().toISOString(), payload })}\n\n`;
}

class ScriptedBackend {
  server: Server | null = null;
  base = '';
  completed = false;
  /** Last-Event-ID header of each /events connection. */
  readonly eventConnections: (string | undefined)[] = [];
  gets = 0;
  onEvents: (res: ServerResponse, connection: number) => void = () => undefined;
  /** Runs once after the follower's first read of the operation. */
  afterFirstGet: (() => void) | null = null;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v1`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url?.startsWith('/api/v1/events')) {
      this.eventConnections.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
      this.onEvents(res, this.eventConnections.length);
      return;
    }
    if (req.url === `/api/v1/operations/${ID}`) {
      this.gets += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ success: true, data: op(this.completed ? 'completed' : 'running', 0) }),
      );
      if (this.gets === 1 && this.afterFirstGet) setTimeout(this.afterFirstGet, 20);
      return;
    }
    res.writeHead(404).end();
  }
}

function session(base: string) {
  const err: string[] = [];
  const out = new Output(
    { write: () => true, isTTY: false },
    { write: (t: string) => err.push(t), isTTY: false },
    { stdout: false, stderr: false },
    false,
  );
  const api = new ApiClient({ baseUrl: base, timeoutMs: 5000, retries: 0 });
  return { api, out, err, now: () => Date.now(), onInterrupt: () => () => undefined };
}

const slowPolls = { cancelOnInterrupt: false, pendingPollMs: 60_000, runningPollMs: 60_000 };

describe('follow', () => {
  const backend = new ScriptedBackend();
  beforeAll(() => backend.start());
  afterAll(() => backend.stop());
  beforeEach(() => {
    backend.completed = false;
    backend.eventConnections.length = 0;
    backend.gets = 0;
    backend.afterFirstGet = null;
  });

  it('feeds the progress view from the event stream and finishes on the terminal event', async () => {
    backend.onEvents = (res) => {
      // Progress only after the follower has read the starting state.
      backend.afterFirstGet = () => {
        res.write(frame(1, 'operation.progress', 'running', 30));
        setTimeout(() => res.write(frame(2, 'operation.progress', 'running', 60)), 50);
        setTimeout(() => {
          backend.completed = true;
          res.write(frame(3, 'operation.completed', 'completed', 100));
        }, 100);
      };
    };
    const s = session(backend.base);
    const t0 = Date.now();
    const final = await follow(s, ID, slowPolls);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(final.status).toBe('completed');
    expect(final.metrics).toEqual({ total_return: 0.5 });
    const lines = s.err.join('');
    expect(lines).toMatch(/\[ {2}0%\] running on bw-1/);
    expect(lines).toMatch(/\[ 30%\] running on bw-1 · bar 30\/100/);
    expect(lines).toMatch(/\[ 60%\] running on bw-1 · bar 60\/100/);
    // One read before the stream, one final read: no polling in between.
    expect(backend.gets).toBe(2);
  }, 15_000);

  it('resumes a dropped stream with Last-Event-ID and still finishes', async () => {
    backend.onEvents = (res, n) => {
      if (n === 1) {
        res.write(frame(7, 'operation.progress', 'running', 40));
        // The backend drops this client (as a slow client would be).
        setTimeout(() => {
          res.write(
            `id: 7\nevent: stream.dropped\ndata: ${JSON.stringify({ id: 7, type: 'stream.dropped', payload: { reason: 'slow_client', last_event_id: 7 } })}\n\n`,
          );
          res.end();
        }, 50);
      } else {
        backend.completed = true;
        res.write(frame(8, 'operation.completed', 'completed', 100));
      }
    };
    const s = session(backend.base);
    const final = await follow(s, ID, slowPolls);
    expect(final.status).toBe('completed');
    expect(backend.eventConnections).toEqual([undefined, '7']);
    expect(s.err.join('')).toMatch(/\[ 40%\] running on bw-1/);
  }, 20_000);

  it('follows by polling when the backend has no event stream', async () => {
    backend.onEvents = (res) => {
      res.destroy();
    };
    const s = session(backend.base);
    setTimeout(() => (backend.completed = true), 300);
    const final = await follow(s, ID, {
      cancelOnInterrupt: false,
      pendingPollMs: 100,
      runningPollMs: 100,
    });
    expect(final.status).toBe('completed');
    expect(backend.gets).toBeGreaterThan(2);
  });
});
