/**
 * The built backend and workers as child processes on loopback, for the observability suite: free
 * ports, one log file per process (tails printed when a wait times out), JSON calls to the API.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BACKEND_MAIN,
  BACKTEST_MAIN,
  TRAINING_MAIN,
  freePort,
  launch,
  requireBuilt,
  type Proc as BaseProc,
} from './processes';

export { BACKEND_MAIN, freePort };

export interface Proc extends BaseProc {
  port: number;
}

export class Stack {
  readonly procs: Proc[] = [];
  readonly root = mkdtempSync(join(tmpdir(), 'ktrdr-obs-'));
  apiPort = 0;
  env: Record<string, string> = {};

  constructor() {
    mkdirSync(join(this.root, 'logs'));
  }

  get api(): string {
    return `http://127.0.0.1:${this.apiPort}/api/v1`;
  }

  launch(name: string, main: string, port: number, env: Record<string, string>): Proc {
    requireBuilt(main);
    const p = { ...launch(name, main, { ...this.env, ...env }, join(this.root, 'logs')), port };
    this.procs.push(p);
    return p;
  }

  async startWorker(kind: 'backtest' | 'training', id: string): Promise<Proc> {
    const port = await freePort();
    return this.launch(id, kind === 'backtest' ? BACKTEST_MAIN : TRAINING_MAIN, port, {
      KTRDR_WORKER_ID: id,
      KTRDR_WORKER_PORT: String(port),
      KTRDR_WORKER_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    });
  }

  proc(name: string): Proc {
    const p = this.procs.find((x) => x.name === name);
    if (!p) throw new Error(`no process ${name}`);
    return p;
  }

  /** The JSON log lines of a process (non-JSON lines are skipped). */
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

  logs(): string {
    return this.procs
      .map(
        (p) =>
          `----- ${p.name} -----\n${existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8').slice(-3000) : ''}`,
      )
      .join('\n');
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

  // The body is whatever JSON the backend answered; tests read the fields they assert on.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const key = this.apiKey();
    if (key) headers.authorization = `Bearer ${key}`;
    const res = await fetch(`${this.api}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /**
   * No key is configured, so the backend generated the development operate key in its data directory
   * (as under `npm run dev`); the suite reads it from there once it exists.
   */
  private apiKey(): string | undefined {
    if (this.key) return this.key;
    const dir = this.env.KTRDR_DATA_DIR;
    const file = dir ? join(dir, 'dev-api-key') : undefined;
    if (file && existsSync(file)) this.key = readFileSync(file, 'utf8').trim();
    return this.key;
  }

  private key: string | undefined;

  async registered(id: string): Promise<void> {
    await this.waitFor(`worker ${id} registered`, async () => {
      const res = await this.call('GET', `/workers/${id}`);
      return res.status === 200 && res.body.status === 'available' ? true : undefined;
    });
  }

  /** SIGTERM to every live process, SIGKILL to what is left after `graceMs`. */
  async stopAll(graceMs = 10_000): Promise<void> {
    const live = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;
    for (const p of this.procs) if (live(p)) p.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.procs.map((p) => p.exited)),
      new Promise((r) => (timer = setTimeout(r, graceMs))),
    ]);
    clearTimeout(timer);
    for (const p of this.procs) if (live(p)) p.child.kill('SIGKILL');
  }
}
