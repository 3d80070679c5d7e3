/**
 * A local stack for the suites: the built backend (in-memory SQLite, a temporary data directory)
 * and workers as child processes on free loopback ports, with the API called as a client would
 * (JSON, the development key the backend wrote to its data directory).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpExchange } from '@ktrdr/contracts/constants';
import {
  freePort,
  launch,
  logsOf,
  requireBuilt,
  stopAll,
  waitFor,
  type BuiltMains,
  type Proc,
} from './processes';

export interface StackProc extends Proc {
  /** The port the process listens on (0 when the caller did not say). */
  port: number;
}

export interface ApiAnswer {
  status: number;
  // The body is whatever the backend answered (JSON, or the text when it is not JSON); tests read
  // the fields they assert on.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** An API call without an answer this long fails (none of the suites' calls takes near this). */
const CALL_TIMEOUT_MS = 60_000;

/** Settings every stack shares: loopback, in-memory database, quick heartbeats and health checks. */
function baseEnv(root: string, apiPort: number, api: string): Record<string, string> {
  return {
    KTRDR_ENV: 'test',
    KTRDR_LOG_LEVEL: 'log',
    KTRDR_DATA_DIR: join(root, 'data'),
    KTRDR_DB_DIR: 'memory://',
    KTRDR_API_HOST: '127.0.0.1',
    KTRDR_API_PORT: String(apiPort),
    KTRDR_API_CLIENT_BASE_URL: api,
    KTRDR_WORKER_HEARTBEAT_INTERVAL: '0.5',
    KTRDR_WORKER_HEALTH_CHECK_INTERVAL: '0.5',
  };
}

export class LocalStack {
  readonly root: string;
  readonly procs: StackProc[] = [];
  /** The environment of every process launched (each launch may add to it). */
  env: Record<string, string> = {};
  apiPort = 0;
  private key: string | undefined;

  /** `prefix` names the temporary directory (`{tmp}/{prefix}XXXXXX`, with `logs/` and `data/`). */
  constructor(
    prefix: string,
    readonly mains: BuiltMains,
  ) {
    this.root = mkdtempSync(join(tmpdir(), prefix));
    mkdirSync(join(this.root, 'logs'));
  }

  get origin(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  get api(): string {
    return `${this.origin}/api/v1`;
  }

  get dataDir(): string {
    return join(this.root, 'data');
  }

  /** Picks the API port and sets the shared settings, `overrides` on top. */
  async configure(overrides: Record<string, string> = {}): Promise<void> {
    this.apiPort = await freePort();
    this.env = { ...baseEnv(this.root, this.apiPort, this.api), ...overrides };
  }

  /** Starts a process with the stack's environment and `env` on top. */
  launch(name: string, main: string, env: Record<string, string> = {}, port = 0): StackProc {
    requireBuilt(main);
    const p = { ...launch(name, main, { ...this.env, ...env }, join(this.root, 'logs')), port };
    this.procs.push(p);
    return p;
  }

  /** The backend, once `/health` answers 200. */
  async startBackend(env: Record<string, string> = {}): Promise<StackProc> {
    const p = this.launch('backend', this.mains.backend, env, this.apiPort);
    await this.waitFor('backend health', async () =>
      (await this.call('GET', '/health')).status === 200 ? true : undefined,
    );
    return p;
  }

  /** A worker on a free port (not waited for: see `registered`). */
  async startWorker(
    kind: 'backtest' | 'training',
    id: string,
    env: Record<string, string> = {},
  ): Promise<StackProc> {
    const port = await freePort();
    const main = kind === 'backtest' ? this.mains.backtest : this.mains.training;
    const workerEnv = {
      KTRDR_WORKER_ID: id,
      KTRDR_WORKER_PORT: String(port),
      KTRDR_WORKER_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      ...env,
    };
    return this.launch(id, main, workerEnv, port);
  }

  /** Until the backend lists worker `id` as available. */
  async registered(id: string, timeoutMs = 60_000): Promise<void> {
    await this.waitFor(
      `worker ${id} registered`,
      async () => {
        const r = await this.call('GET', `/workers/${id}`);
        return r.status === 200 && r.body.status === 'available' ? true : undefined;
      },
      timeoutMs,
    );
  }

  proc(name: string): StackProc {
    const p = this.procs.find((x) => x.name === name);
    if (!p) throw new Error(`no process ${name}`);
    return p;
  }

  /** The JSON log lines of a process (other lines are skipped). */
  jsonLogs(name: string): Record<string, unknown>[] {
    return readFileSync(this.proc(name).logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  }

  logs(chars = 3000): string {
    return logsOf(this.procs, chars);
  }

  /** `waitFor` with this stack's logs in the timeout error. */
  waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    return waitFor(what, fn, timeoutMs, () => this.logs(), 200);
  }

  /**
   * The development operate key the backend wrote to its data directory (no key is configured,
   * as under `npm run dev`), once it exists; undefined before.
   */
  devKey(): string | undefined {
    if (this.key) return this.key;
    const file = join(this.env.KTRDR_DATA_DIR ?? this.dataDir, 'dev-api-key');
    if (existsSync(file)) this.key = readFileSync(file, 'utf8').trim();
    return this.key;
  }

  authHeaders(): Record<string, string> {
    const key = this.devKey();
    return key ? { authorization: `Bearer ${key}` } : {};
  }

  /**
   * An API call (`path` under /api/v1) with the development key once there is one: the contracts'
   * exchange, the body parsed as JSON or kept as text. No answer throws, naming why.
   */
  async call(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    const headers = this.authHeaders();
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await httpExchange(`${this.api}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: CALL_TIMEOUT_MS,
    });
    if (res.kind === 'unreachable') throw new Error(`${method} ${path}: ${res.detail}`);
    return { status: res.status, body: res.json === undefined ? res.text : res.json };
  }

  /** Stops every process (SIGTERM, then SIGKILL after `graceMs`). */
  stopAll(graceMs = 10_000): Promise<void> {
    return stopAll(this.procs, graceMs);
  }

  /** Stops every process and deletes the temporary directory. */
  async stop(graceMs = 10_000): Promise<void> {
    await this.stopAll(graceMs);
    rmSync(this.root, { recursive: true, force: true });
  }
}
