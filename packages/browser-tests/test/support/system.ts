/**
 * The real system on loopback for the browser tests: the BUILT backend (in-memory SQLite, temp data
 * dir) serving the BUILT dashboard, and a built backtest worker, as child processes on free ports.
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

function packageDir(pkg: string): string {
  return dirname(require.resolve(`${pkg}/package.json`));
}

export const BACKEND_MAIN = join(packageDir('@ktrdr/backend'), 'dist', 'main.js');
export const BACKTEST_MAIN = join(packageDir('@ktrdr/backtest-worker'), 'dist', 'main.js');
export const TRAINING_MAIN = join(packageDir('@ktrdr/training-worker'), 'dist', 'main.js');
export const DASHBOARD_INDEX = join(packageDir('@ktrdr/dashboard'), 'dist', 'index.html');

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
  exited: Promise<unknown>;
}

export interface ApiAnswer {
  status: number;
  // The body is whatever JSON the backend answered; tests read the fields they assert on.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export class System {
  readonly root = mkdtempSync(join(tmpdir(), 'ktrdr-browser-'));
  private readonly procs: Proc[] = [];
  private env: Record<string, string> = {};
  apiPort = 0;
  /**
   * The API key the backend wants (its development key, `{data dir}/dev-api-key`), or null when
   * the backend asks for none.
   */
  apiKey: string | null = null;

  get origin(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  get api(): string {
    return `${this.origin}/api/v1`;
  }

  /** Backend, then the workers (`training-*` ids run the training worker), each registered. */
  async start(workers: string[]): Promise<void> {
    for (const m of [BACKEND_MAIN, BACKTEST_MAIN, DASHBOARD_INDEX]) {
      if (!existsSync(m))
        throw new Error(`${m} is missing: build first (pnpm exec turbo run build)`);
    }
    mkdirSync(join(this.root, 'logs'));
    this.apiPort = await freePort();
    this.env = {
      KTRDR_ENV: 'test',
      KTRDR_LOG_LEVEL: 'log',
      KTRDR_DATA_DIR: join(this.root, 'data'),
      KTRDR_DB_DIR: 'memory://',
      KTRDR_API_HOST: '127.0.0.1',
      KTRDR_API_PORT: String(this.apiPort),
      KTRDR_API_CLIENT_BASE_URL: this.api,
      KTRDR_WORKER_HEARTBEAT_INTERVAL: '0.5',
      KTRDR_WORKER_HEALTH_CHECK_INTERVAL: '0.5',
      KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '2',
      KTRDR_WORKER_HEALTH_CHECK_FAILURES: '3',
      KTRDR_WORKER_PROGRESS_INTERVAL_MS: '50',
      KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS: '5',
    };
    this.launch('backend', BACKEND_MAIN, {});
    await this.waitFor('backend health', async () =>
      (await this.call('GET', '/health')).status === 200 ? true : undefined,
    );
    if ((await this.call('GET', '/workers')).status === 401) {
      const file = join(this.root, 'data', 'dev-api-key');
      if (!existsSync(file)) throw new Error(`the backend wants an API key but ${file} is missing`);
      this.apiKey = readFileSync(file, 'utf8').trim();
      const check = await this.call('GET', '/workers');
      if (check.status !== 200) throw new Error(`the development key is refused: ${check.status}`);
    }
    for (const id of workers) await this.startWorker(id);
    for (const id of workers) {
      await this.waitFor(`worker ${id} registered`, async () => {
        const r = await this.call('GET', `/workers/${id}`);
        return r.status === 200 && r.body.status === 'available' ? true : undefined;
      });
    }
  }

  async startWorker(id: string): Promise<void> {
    const port = await freePort();
    const training = id.startsWith('training');
    this.launch(id, training ? TRAINING_MAIN : BACKTEST_MAIN, {
      // A checkpoint every epoch, so a cancelled training can be resumed (backtests keep the
      // default: a checkpoint per thousand bars would slow a long one down).
      ...(training ? { KTRDR_CHECKPOINT_EPOCH_INTERVAL: '1' } : {}),
      KTRDR_WORKER_ID: id,
      KTRDR_WORKER_PORT: String(port),
      KTRDR_WORKER_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    });
  }

  private launch(name: string, main: string, env: Record<string, string>): void {
    const logFile = join(this.root, 'logs', `${name}.log`);
    const child = spawn(process.execPath, [main], {
      env: childProcessEnv({ ...this.env, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = createWriteStream(logFile);
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    this.procs.push({ name, child, logFile, exited });
  }

  logs(): string {
    return this.procs
      .map(
        (p) =>
          `----- ${p.name} -----\n${existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8').slice(-3000) : ''}`,
      )
      .join('\n');
  }

  async call(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    const res = await fetch(`${this.api}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  }

  async waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
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
          `timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}\n${this.logs()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
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
    rmSync(this.root, { recursive: true, force: true });
  }
}
