import { spawn, ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childProcessEnv } from '@ktrdr/config';
import { freePort } from '@ktrdr/test-support';
import {
  FakeBackend,
  TEST_REGISTRATION_TOKEN,
  dispatchBody,
  signedFetch,
  tempDir,
} from './support/helpers';

// These tests run the BUILT runtime (dist) in a child process: `pnpm test` builds it first.
const MAIN = join(__dirname, 'fixtures', 'worker-main.js');
const STOPPED_AT_START = join(__dirname, 'fixtures', 'worker-main-stopped-at-start.js');
const DIST = join(__dirname, '..', 'dist', 'index.js');

interface Child {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startWorker(env: Record<string, string | undefined>, main = MAIN): Child {
  const proc = spawn(process.execPath, [main], {
    env: childProcessEnv({
      KTRDR_LOG_LEVEL: 'log',
      NODE_ENV: undefined,
      KTRDR_WORKER_REGISTRATION_TOKEN: TEST_REGISTRATION_TOKEN,
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => stdout.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, stdout, stderr, exited };
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

beforeAll(() => {
  if (!existsSync(DIST)) {
    throw new Error(
      `${DIST} is missing: build the runtime first (pnpm --filter @ktrdr/worker-runtime build)`,
    );
  }
});

describe('worker process', () => {
  it.each(['abc', '-1', '99999'])(
    'exits 1 with a readable message when KTRDR_WORKER_PORT=%s',
    async (port) => {
      const tmp = tempDir();
      try {
        const w = startWorker({ KTRDR_WORKER_PORT: port, KTRDR_DATA_DIR: tmp.dir });
        children.push(w.proc);
        const { code } = await w.exited;
        expect(code).toBe(1);
        const err = w.stderr.join('');
        expect(err).toContain('KTRDR_WORKER_PORT');
        expect(err).not.toMatch(/\n\s+at /); // no stack trace
      } finally {
        tmp.cleanup();
      }
    },
  );

  it.each([
    ['KTRDR_OPS_RETENTION_DAYS', '-1'],
    ['KTRDR_ORPHAN_TIMEOUT_SECONDS', '0'],
    ['KTRDR_DB_PORT', 'abc'],
    ['KTRDR_CHECKPOINT_EPOCH_INTERVAL', '0'],
    ['KTRDR_LOG_LEVEL', 'loud'],
    ['KTRDR_OTEL_ENDPOINT', 'not-a-url'],
    ['KTRDR_WORKER_HEARTBEAT_INTERVAL', '0'],
  ])(
    'validates every settings class a worker uses at start: %s=%s exits 1 naming it',
    async (name, value) => {
      const tmp = tempDir();
      try {
        const w = startWorker({ [name]: value, KTRDR_DATA_DIR: tmp.dir, KTRDR_WORKER_PORT: '0' });
        children.push(w.proc);
        const { code } = await w.exited;
        expect(code).toBe(1);
        const err = w.stderr.join('');
        expect(err).toContain('fake-worker: invalid configuration, the service cannot start.');
        expect(err).toContain(`  ${name}: must be`);
        expect(err).not.toMatch(/\n\s+at /);
      } finally {
        tmp.cleanup();
      }
    },
  );

  it('exits 1 on a broken fleet environment file, naming the YAML path and file', async () => {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, 'workers.yaml');
      writeFileSync(
        file,
        'backend_url: http://127.0.0.1:1/api/v1\nhealth_check:\n  timeout: -5\ndeployment:\n  type: docker-compose\n  compose: {scale: {backtesting: 1, training: 1}}\n',
      );
      const w = startWorker({ KTRDR_FLEET_FILE: file, KTRDR_DATA_DIR: tmp.dir });
      children.push(w.proc);
      const { code } = await w.exited;
      expect(code).toBe(1);
      expect(w.stderr.join('')).toContain(
        `health_check.timeout (${file}, line 3): must be a number between 0.1 and 600 (got -5)`,
      );
    } finally {
      tmp.cleanup();
    }
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const tmp = tempDir();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const w = startWorker({ KTRDR_WORKER_PORT: String(port), KTRDR_DATA_DIR: tmp.dir });
      children.push(w.proc);
      const { code } = await w.exited;
      expect(code).toBe(1);
      const out = w.stdout.join('') + w.stderr.join('');
      expect(out).toContain(`cannot listen on port ${port}: the port is already in use`);
      expect(out).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
      tmp.cleanup();
    }
  });

  it('on SIGTERM aborts the running operation with a shutdown checkpoint, reports it and exits 0', async () => {
    const backend = await new FakeBackend().start();
    const tmp = tempDir();
    try {
      const port = await freePort();
      const w = startWorker({
        KTRDR_WORKER_PORT: String(port),
        KTRDR_WORKER_ID: 'fake-worker-sigterm',
        KTRDR_WORKER_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
        KTRDR_API_CLIENT_BASE_URL: backend.baseUrl,
        KTRDR_DATA_DIR: tmp.dir,
        KTRDR_CHECKPOINT_DIR: join(tmp.dir, 'checkpoints'),
        KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS: '5',
      });
      children.push(w.proc);
      const reg = await backend.waitFor((r) => r.path.endsWith('/workers/register'), 15_000);
      expect(reg.body).toMatchObject({
        worker_id: 'fake-worker-sigterm',
        worker_type: 'backtesting',
        endpoint_url: `http://127.0.0.1:${port}`,
      });
      // Exactly one start-up line naming the worker id, its type and the port.
      const startLines = w.stdout
        .join('')
        .split('\n')
        .filter((l) => l.includes('fake-worker-sigterm') && l.includes('listening on 127.0.0.1:'));
      expect(startLines).toHaveLength(1);
      expect(startLines[0]).toContain(`type backtesting`);
      expect(startLines[0]).toContain(`127.0.0.1:${port}`);

      const res = await signedFetch(`http://127.0.0.1:${port}/backtests/start`, {
        body: dispatchBody({
          operation_id: 'op-term',
          lease_token: 'lease-t',
          attempt: 1,
          units: 100000,
          unit_ms: 2,
        }),
      });
      expect(res.status).toBe(200);
      await backend.waitFor((r) => r.path.endsWith('/operations/op-term/progress'));
      const t0 = Date.now();
      w.proc.kill('SIGTERM');
      const { code, signal } = await w.exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(7_000); // grace 5 s (a late exit would be code 1)
      const done = backend.matching('POST', /\/operations\/op-term\/complete$/);
      expect(done).toHaveLength(1);
      const body = done[0].body as {
        status: string;
        lease_token: string;
        error_message: string;
        checkpoint: { type: string; unit: number };
      };
      expect(body.lease_token).toBe('lease-t');
      expect(body.status).toBe('failed');
      expect(body.error_message).toContain('shut down');
      expect(body.checkpoint.type).toBe('shutdown');
      expect(body.checkpoint.unit).toBeGreaterThan(0);
      expect(existsSync(join(tmp.dir, 'checkpoints', 'op-term', 'current', 'state.json'))).toBe(
        true,
      );
    } finally {
      await backend.stop();
      tmp.cleanup();
    }
  });

  it('a SIGTERM while it starts is kept: it starts, shuts down and exits 0 (not killed by the signal)', async () => {
    const backend = await new FakeBackend().start();
    const tmp = tempDir();
    try {
      const w = startWorker(
        {
          KTRDR_WORKER_PORT: String(await freePort()),
          KTRDR_WORKER_ID: 'fake-worker-early-stop',
          KTRDR_API_CLIENT_BASE_URL: backend.baseUrl,
          KTRDR_DATA_DIR: tmp.dir,
        },
        STOPPED_AT_START,
      );
      children.push(w.proc);
      expect(await w.exited).toEqual({ code: 0, signal: null });
      const out = w.stdout.join('') + w.stderr.join('');
      expect(out).toContain('SIGTERM received: shutting down');
      expect(out).toContain('shutdown complete');
    } finally {
      await backend.stop();
      tmp.cleanup();
    }
  }, 30_000);

  it('exits 0 within the grace period on SIGTERM even when the backend does not acknowledge', async () => {
    const backend = await new FakeBackend().start();
    backend.on('POST', /\/complete$/, () => null); // the backend drops the report
    const tmp = tempDir();
    try {
      const port = await freePort();
      const w = startWorker({
        KTRDR_WORKER_PORT: String(port),
        KTRDR_WORKER_ID: 'fake-worker-grace',
        KTRDR_API_CLIENT_BASE_URL: backend.baseUrl,
        KTRDR_DATA_DIR: tmp.dir,
        KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS: '3',
      });
      children.push(w.proc);
      await backend.waitFor((r) => r.path.endsWith('/workers/register'), 15_000);
      const res = await signedFetch(`http://127.0.0.1:${port}/backtests/start`, {
        body: dispatchBody({
          operation_id: 'op-grace',
          lease_token: 'lease-g',
          attempt: 1,
          units: 100000,
          unit_ms: 2,
        }),
      });
      expect(res.status).toBe(200);
      await backend.waitFor((r) => r.path.endsWith('/operations/op-grace/progress'));
      const t0 = Date.now();
      w.proc.kill('SIGTERM');
      expect(await w.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(5_000); // grace 3 s (a late exit would be code 1)
      expect(backend.count('POST', /\/operations\/op-grace\/complete$/)).toBeGreaterThanOrEqual(1);
      expect(w.stdout.join('') + w.stderr.join('')).toContain(
        'not acknowledged by the backend before exit',
      );
    } finally {
      await backend.stop();
      tmp.cleanup();
    }
  }, 30_000); // start-up, a job and the 3 s grace: more than the default 5 s on a loaded machine
});
