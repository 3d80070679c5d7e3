/** Runs the BUILT `ktrdr` (dist/main.js) as a child process and captures what it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { childProcessEnv } from '@ktrdr/config';

export const KTRDR_MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr (or stdout) matches; rejects when the process ends first or on timeout. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<string>;
  done: Promise<RunResult>;
}

/** Starts ktrdr with `env` as its whole KTRDR environment (nothing inherited but PATH/HOME). */
export function start(args: string[], env: Record<string, string>): Running {
  const t0 = Date.now();
  const child = spawn(process.execPath, [KTRDR_MAIN, ...args], {
    // A clean environment: no KTRDR_*, NO_COLOR or FORCE_COLOR from the test runner.
    env: {
      PATH: childProcessEnv().PATH ?? '',
      HOME: childProcessEnv().HOME ?? '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    wake();
  });
  let ended = false;
  const done = new Promise<RunResult>((resolve) =>
    child.on('close', (code, signal) => {
      ended = true;
      wake();
      resolve({ code, signal, stdout: out, stderr: err, ms: Date.now() - t0 });
    }),
  );
  const waitForOutput = async (re: RegExp, timeoutMs = 60_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(err) ?? re.exec(out);
      if (m) return m[0];
      if (ended) throw new Error(`ktrdr ${args.join(' ')} ended before ${re}:\n${out}\n${err}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}:\n${out}\n${err}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  };
  return { child, stdout: () => out, stderr: () => err, waitForOutput, done };
}

export function ktrdr(args: string[], env: Record<string, string>): Promise<RunResult> {
  return start(args, env).done;
}

// eslint-disable-next-line no-control-regex
export const ANSI = /\u001b\[/;
