/**
 * The real system on loopback for the CLI tests: the BUILT backend (in-memory SQLite in a temp data
 * dir) and built backtest and training workers as child processes on free ports, short health timings.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { childProcessEnv } from '@ktrdr/config';

export function distMain(pkg: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'dist', 'main.js');
}

export const BACKEND_MAIN = distMain('@ktrdr/backend');
export const BACKTEST_MAIN = distMain('@ktrdr/backtest-worker');
export const TRAINING_MAIN = distMain('@ktrdr/training-worker');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<void>;
}

export class Stack {
  readonly procs: Proc[] = [];
  root = '';
  api = '';
  dataDir = '';
  env: Record<string, string> = {};

  async start(workers: { backtest: string[]; training: string[] }): Promise<void> {
    for (const m of [BACKEND_MAIN, BACKTEST_MAIN, TRAINING_MAIN]) {
      if (!existsSync(m)) throw new Error(`${m} is missing: build first (turbo run build)`);
    }
    this.root = mkdtempSync(join(tmpdir(), 'ktrdr-cli-'));
    mkdirSync(join(this.root, 'logs'));
    this.dataDir = join(this.root, 'data');
    const port = await freePort();
    this.api = `http://127.0.0.1:${port}/api/v1`;
    this.env = {
      KTRDR_ENV: 'test',
      KTRDR_ACKNOWLEDGE_INSECURE_DEFAULTS: 'true',
      KTRDR_LOG_LEVEL: 'log',
      KTRDR_DATA_DIR: this.dataDir,
      KTRDR_DB_DIR: 'memory://',
      KTRDR_API_HOST: '127.0.0.1',
      KTRDR_API_PORT: String(port),
      KTRDR_API_CLIENT_BASE_URL: this.api,
      KTRDR_WORKER_HEARTBEAT_INTERVAL: '0.5',
      KTRDR_WORKER_HEALTH_CHECK_INTERVAL: '0.5',
      KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '1',
      KTRDR_WORKER_HEALTH_CHECK_FAILURES: '2',
      KTRDR_WORKER_PROGRESS_INTERVAL_MS: '100',
      KTRDR_CHECKPOINT_EPOCH_INTERVAL: '1',
      KTRDR_EVENTS_HEARTBEAT_INTERVAL: '1',
    };
    this.launch('backend', BACKEND_MAIN, {});
    await this.waitFor('backend health', async () => {
      const res = await fetch(`${this.api}/health`);
      return res.status === 200 ? true : undefined;
    });
    for (const id of workers.backtest) await this.startWorker('backtest', id);
    for (const id of workers.training) await this.startWorker('training', id);
    for (const id of [...workers.backtest, ...workers.training]) await this.registered(id);
  }

  launch(name: string, main: string, env: Record<string, string>): Proc {
    const logFile = join(this.root, 'logs', `${name}.log`);
    const child = spawn(process.execPath, [main], {
      env: childProcessEnv({ ...this.env, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = createWriteStream(logFile);
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const p = { name, child, logFile, exited };
    this.procs.push(p);
    return p;
  }

  async startWorker(kind: 'backtest' | 'training', id: string): Promise<void> {
    const port = await freePort();
    this.launch(id, kind === 'backtest' ? BACKTEST_MAIN : TRAINING_MAIN, {
      KTRDR_WORKER_ID: id,
      KTRDR_WORKER_PORT: String(port),
      KTRDR_WORKER_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    });
  }

  async registered(id: string): Promise<void> {
    await this.waitFor(`worker ${id} available`, async () => {
      const res = await fetch(`${this.api}/workers/${id}`, { headers: this.authHeaders() });
      if (res.status !== 200) return undefined;
      const body = (await res.json()) as { status: string };
      return body.status === 'available' ? true : undefined;
    });
  }

  logs(): string {
    return this.procs
      .map(
        (p) =>
          `----- ${p.name} -----\n${existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8').slice(-3000) : ''}`,
      )
      .join('\n');
  }

  async waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}${last ? ` (${String(last)})` : ''}\n${this.logs()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  // The body is whatever the backend answered; tests read the fields they assert on.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async get(path: string): Promise<any> {
    const res = await fetch(`${this.api}${path}`, { headers: this.authHeaders() });
    return res.json();
  }

  /** The development operate key the backend wrote to the data dir (as the CLI itself reads it). */
  authHeaders(): Record<string, string> {
    const file = join(this.dataDir, 'dev-api-key');
    return existsSync(file) ? { authorization: `Bearer ${readFileSync(file, 'utf8').trim()}` } : {};
  }

  async stop(): Promise<void> {
    for (const p of this.procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.procs.map((p) => p.exited)),
      new Promise((r) => (timer = setTimeout(r, 10_000))),
    ]);
    clearTimeout(timer);
    for (const p of this.procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    if (this.root) rmSync(this.root, { recursive: true, force: true });
  }
}
