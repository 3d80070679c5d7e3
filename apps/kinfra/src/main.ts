#!/usr/bin/env node
/** Entry point of the `kinfra` command. */
import { childProcessEnv, getCliSettings, getSandboxSettings } from '@ktrdr/config';
import { errorText } from '@ktrdr/contracts/constants';
import { runCli } from './cli';
import { Context, findRepoRoot, findStackFile } from './commands';
import { createExec } from './exec';
import { Output, coloursEnabled } from './output';
import { createPortChecker } from './ports';
import { defaultHttpDeps } from './stack-health';

export function defaultContext(): Context {
  const exec = createExec(childProcessEnv());
  const noColor = getCliSettings().no_color;
  return {
    sandboxesDir: getSandboxSettings().dir,
    cwd: process.cwd(),
    out: new Output(process.stdout, process.stderr, coloursEnabled(process.stdout.isTTY, noColor)),
    exec,
    checkPort: createPortChecker(exec),
    http: defaultHttpDeps,
    now: () => new Date(),
    repoRoot: findRepoRoot(),
    stackFile: findStackFile(),
  };
}

/** Runs the command line of this process (bin/kinfra.js, or this file run directly). */
export function runMain(): void {
  // `kinfra fleet plan | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  runCli(process.argv.slice(2), defaultContext()).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`kinfra: ${errorText(err)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) runMain();
