/** Built services as child processes on loopback, for the system suites. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { childProcessEnv } from '@ktrdr/config';

export function distMain(pkg: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'dist', 'main.js');
}

export const BACKEND_MAIN = distMain('@ktrdr/backend');
export const BACKTEST_MAIN = distMain('@ktrdr/backtest-worker');
export const TRAINING_MAIN = distMain('@ktrdr/training-worker');

export function requireBuilt(...mains: string[]): void {
  for (const m of mains) if (!existsSync(m)) throw new Error(`${m} is missing: build first`);
}

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

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

export interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function launch(
  name: string,
  main: string,
  env: Record<string, string>,
  logDir: string,
): Proc {
  const logFile = join(logDir, `${name}.log`);
  const child = spawn(process.execPath, [main], {
    env: childProcessEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = createWriteStream(logFile);
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { name, child, logFile, exited };
}

export function tail(p: Proc, chars = 4000): string {
  return existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8').slice(-chars) : '';
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  logs: () => string = () => '',
): Promise<T> {
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
        `timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}\n${logs()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops what is still running: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopAll(procs: Proc[], graceMs = 10_000): Promise<void> {
  for (const p of procs)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(procs.map((p) => p.exited)),
    new Promise((r) => (timer = setTimeout(r, graceMs))),
  ]);
  clearTimeout(timer);
  for (const p of procs)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
}
