/** Running external programs (docker, ss) with the environment from @ktrdr/config's childProcessEnv(). */
import { spawn } from 'node:child_process';

export interface ExecResult {
  /** Exit code; 127 when the program does not exist. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Forward output as it arrives (e.g. compose progress); it is captured as well. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  cwd?: string;
  /**
   * Variables removed from the child's environment. Compose lets the shell override --env-file, so
   * kinfra drops the keys of a slot's .env.sandbox: a KTRDR_API_PORT exported in the developer's
   * terminal must not move a slot's port.
   */
  unsetEnv?: readonly string[];
}

export type Exec = (
  command: string,
  args: readonly string[],
  options?: ExecOptions,
) => Promise<ExecResult>;

/** An Exec that spawns real processes with the given environment (no shell). */
export function createExec(env: Record<string, string>): Exec {
  return (command, args, options = {}) =>
    new Promise<ExecResult>((resolve) => {
      let stdout = '';
      let stderr = '';
      let settled = false;
      const done = (r: ExecResult): void => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      let childEnv = env;
      if (options.unsetEnv && options.unsetEnv.length > 0) {
        const drop = new Set(options.unsetEnv);
        childEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !drop.has(k)));
      }
      const child = spawn(command, [...args], {
        env: childEnv,
        cwd: options.cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (c: string) => {
        stdout += c;
        options.onStdout?.(c);
      });
      child.stderr.on('data', (c: string) => {
        stderr += c;
        options.onStderr?.(c);
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        done({ code: err.code === 'ENOENT' ? 127 : 126, stdout, stderr: stderr + err.message });
      });
      child.on('close', (code, signal) => {
        done({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
}
