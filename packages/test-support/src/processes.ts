/**
 * The built services as child processes on loopback: free ports, one log file per process, waits
 * that print the logs when they time out, and a stop that sends SIGTERM and then SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { childProcessEnv } from '@ktrdr/config';

/** The built entry points of the three services, resolved from the caller's dependencies. */
export interface BuiltMains {
  backend: string;
  backtest: string;
  training: string;
}

/**
 * `dist/main.js` of the backend and both workers. Pass the caller's `require.resolve`: the suite
 * depends on the services, this package does not (so any package's tests may use it).
 */
export function builtMains(resolve: (id: string) => string): BuiltMains {
  const main = (pkg: string) => join(dirname(resolve(`${pkg}/package.json`)), 'dist', 'main.js');
  return {
    backend: main('@ktrdr/backend'),
    backtest: main('@ktrdr/backtest-worker'),
    training: main('@ktrdr/training-worker'),
  };
}

/** Throws, naming the file, when a built entry point is missing. */
export function requireBuilt(...files: string[]): void {
  for (const f of files) {
    if (!existsSync(f)) throw new Error(`${f} is missing: build first (pnpm exec turbo run build)`);
  }
}

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A TCP port free on 127.0.0.1 a moment ago (the kernel picks it; the listener is closed). */
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

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  /** stdout and stderr of the process, interleaved. */
  logFile: string;
  exited: Promise<Exit>;
}

/** True while the process has neither exited nor been ended by a signal. */
export const isRunning = (p: Proc): boolean =>
  p.child.exitCode === null && p.child.signalCode === null;

/**
 * Starts `node main` with `env` as its whole KTRDR environment (see childProcessEnv), output to
 * `{logDir}/{name}.log`.
 */
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
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { name, child, logFile, exited };
}

/** The last `chars` characters of a process's log ('' before it wrote any). */
export function tail(p: Proc, chars = 4000): string {
  return existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8').slice(-chars) : '';
}

/** The log tails of several processes, each under a `----- name -----` line. */
export function logsOf(procs: readonly Proc[], chars = 3000): string {
  return procs.map((p) => `----- ${p.name} -----\n${tail(p, chars)}`).join('\n');
}

/**
 * Calls `fn` every `intervalMs` until it returns something other than undefined (a throw counts
 * as not yet). On timeout the error names `what`, the last error and, after it, `logs()`.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  logs: () => string = () => '',
  intervalMs = 100,
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
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}\n${logs()}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Stops what is still running: SIGTERM, then SIGKILL to what is left after `graceMs`. */
export async function stopAll(procs: readonly Proc[], graceMs = 10_000): Promise<void> {
  for (const p of procs) if (isRunning(p)) p.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(procs.map((p) => p.exited)),
    new Promise((r) => (timer = setTimeout(r, graceMs))),
  ]);
  clearTimeout(timer);
  const killed = procs.filter(isRunning);
  for (const p of killed) p.child.kill('SIGKILL');
  await Promise.all(killed.map((p) => p.exited));
}
