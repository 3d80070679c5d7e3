/**
 * SIGTERM on the BUILT backend exits 0 within its deadline whatever its clients and workers do, ten
 * times in a row: four registered workers (each its own HTTP server) whose shutdown notice never
 * answers, a keep-alive client with idle connections, a request stuck in flight (headers sent, body
 * never finished) and a live `/api/v1/events` stream that never disconnects.
 */
import { request as httpRequest, Agent, createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { REGISTRATION_TOKEN_HEADER } from '@ktrdr/contracts';
import {
  BACKEND_MAIN,
  freePort,
  launch,
  requireBuilt,
  sha256,
  tail,
  waitFor,
  type Proc,
} from './support/processes';

const TOKEN = 'shutdown-test-registration-token-0123456789';
const KEY = 'shutdown-test-operate-key-0123456789abcdef';
const DEADLINE_S = 4;
const RUNS = 10;

/** Four fake workers, each its own server: healthy, and their POST /backend-shutdown never answers. */
class HangingWorkers {
  readonly servers: Server[] = [];
  readonly ports: number[] = [];
  readonly notices: string[] = [];
  async start(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const server = createServer((req, res) => {
        if (req.url?.endsWith('/backend-shutdown')) {
          this.notices.push(`${i}:${req.url}`);
          return; // never answers
        }
        const id = /^\/w\/([^/]+)/.exec(req.url ?? '')?.[1] ?? 'x';
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            healthy: true,
            service: 'fake',
            worker_id: id,
            worker_status: 'idle',
            current_operation: null,
          }),
        );
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      this.servers.push(server);
      this.ports.push((server.address() as AddressInfo).port);
    }
  }
  async stop(): Promise<void> {
    for (const server of this.servers) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }
}

let root: string;
const workers = new HangingWorkers();

beforeAll(async () => {
  requireBuilt(BACKEND_MAIN);
  root = mkdtempSync(join(tmpdir(), 'ktrdr-shutdown-'));
  mkdirSync(join(root, 'logs'));
  await workers.start(4);
});
afterAll(async () => {
  await workers.stop();
  rmSync(root, { recursive: true, force: true });
});

async function oneRun(run: number): Promise<number> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const backend: Proc = launch(
    `backend-${run}`,
    BACKEND_MAIN,
    {
      KTRDR_ENV: 'test',
      KTRDR_LOG_LEVEL: 'log',
      KTRDR_DATA_DIR: join(root, `data-${run}`),
      KTRDR_DB_DIR: 'memory://',
      KTRDR_API_HOST: '127.0.0.1',
      KTRDR_API_PORT: String(port),
      KTRDR_API_SHUTDOWN_DEADLINE: String(DEADLINE_S),
      // Longer than the deadline on purpose: the deadline must win.
      KTRDR_API_SHUTDOWN_NOTIFY_TIMEOUT: '30',
      KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN,
      KTRDR_API_OPERATE_KEY_SHA256: sha256(KEY),
    },
    join(root, 'logs'),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const stuck = connect(port, '127.0.0.1');
  stuck.on('error', () => undefined);
  const events = new AbortController();
  try {
    await waitFor(
      `backend ${run} health`,
      async () => ((await fetch(`${base}/api/v1/health`)).ok ? true : undefined),
      90_000,
      () => tail(backend),
    );
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${base}/api/v1/workers/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [REGISTRATION_TOKEN_HEADER]: TOKEN },
        body: JSON.stringify({
          worker_id: `hang-${run}-${i}`,
          worker_type: i % 2 ? 'training' : 'backtesting',
          endpoint_url: `http://127.0.0.1:${workers.ports[i]}/w/hang-${run}-${i}`,
        }),
      });
      expect(res.status).toBe(200);
    }
    // Keep-alive client: several idle connections left open.
    await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<void>((resolve, reject) => {
            const req = httpRequest(
              `${base}/api/v1/workers`,
              { agent, headers: { authorization: `Bearer ${KEY}` } },
              (res) => {
                expect(res.statusCode).toBe(200);
                res.resume();
                res.on('end', () => resolve());
              },
            );
            req.on('error', reject);
            req.end();
          }),
      ),
    );
    // A live event stream that stays connected (the server must end it).
    const stream = await fetch(`${base}/api/v1/events`, {
      headers: { authorization: `Bearer ${KEY}`, accept: 'text/event-stream' },
      signal: events.signal,
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const streamEnded = (async () => {
      try {
        while (!(await reader.read()).done);
        return 'ended';
      } catch {
        return 'ended';
      }
    })();
    // A request in flight that never finishes its body.
    stuck.write(
      `POST /api/v1/backtests/start HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"symbol":`,
    );
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    backend.child.kill('SIGTERM');
    const exit = await backend.exited;
    const elapsed = Date.now() - t0;
    expect({ run, exit, log: exit.code === 0 ? '' : tail(backend) }).toEqual({
      run,
      exit: { code: 0, signal: null },
      log: '',
    });
    expect(elapsed).toBeLessThanOrEqual(DEADLINE_S * 1000 + 500);
    expect(tail(backend)).toContain('Shutdown notice sent to 4 worker(s)');
    // The event stream was closed by the server, not left hanging.
    expect(
      await Promise.race([
        streamEnded,
        new Promise((r) => setTimeout(() => r('open'), 2_000).unref()),
      ]),
    ).toBe('ended');
    return elapsed;
  } finally {
    events.abort();
    stuck.destroy();
    agent.destroy();
    if (backend.child.exitCode === null && backend.child.signalCode === null) {
      backend.child.kill('SIGKILL');
    }
  }
}

describe('backend SIGTERM', () => {
  it(
    `exits 0 within the ${DEADLINE_S} s deadline with 4 workers and keep-alive clients, ${RUNS} times in a row`,
    async () => {
      const times: number[] = [];
      for (let run = 1; run <= RUNS; run++) times.push(await oneRun(run));
      console.log(`backend SIGTERM → exit: ${times.map((t) => `${t} ms`).join(', ')}`);
      expect(times).toHaveLength(RUNS);
      // The four workers were notified each time (the notices never got an answer), each on its own server.
      expect(workers.notices.length).toBe(4 * RUNS);
      for (let i = 0; i < 4; i++)
        expect(workers.notices.filter((n) => n.startsWith(`${i}:`))).toHaveLength(RUNS);
    },
    RUNS * 120_000,
  );
});
