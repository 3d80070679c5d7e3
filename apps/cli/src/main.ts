#!/usr/bin/env node
/** Entry point of the `ktrdr` command: settings from @ktrdr/config, then runCli. */
import {
  ConfigurationError,
  getApiClientSettings,
  getCliSettings,
  getDataSettings,
  setConfigLogger,
  validateAll,
  warnDeprecatedEnvVars,
} from '@ktrdr/config';
import { errorText } from '@ktrdr/contracts/constants';
import { runCli } from './cli';
import type { CliEnvironment, Io } from './context';
import { EXIT } from './errors';

/** Reads and validates the CLI's settings; an invalid one is a usage error (exit 2). */
export function loadEnvironment(): CliEnvironment {
  // Config warnings (deprecated names) are messages: stderr.
  setConfigLogger({
    warn: (m) => process.stderr.write(`ktrdr: ${m}\n`),
    error: (m) => process.stderr.write(`ktrdr: ${m}\n`),
    log: (m) => process.stderr.write(`ktrdr: ${m}\n`),
  });
  warnDeprecatedEnvVars();
  validateAll('cli');
  const api = getApiClientSettings();
  const cli = getCliSettings();
  return {
    baseUrl: api.base_url,
    apiKey: api.api_key,
    timeout: api.timeout,
    retries: api.retries,
    dataDir: getDataSettings().dir,
    noColor: cli.no_color,
    forceColor: cli.force_color,
  };
}

/**
 * One process-wide Ctrl-C handler: while an operation is followed, its handler decides (detach or
 * cancel); otherwise, or on a second Ctrl-C, the CLI leaves at once with 130.
 */
export function processIo(): Io {
  const handlers: (() => void)[] = [];
  let count = 0;
  process.on('SIGINT', () => {
    count += 1;
    const top = handlers[handlers.length - 1];
    if (!top || count > 1) process.exit(EXIT.INTERRUPTED);
    top();
  });
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    now: () => Date.now(),
    onInterrupt: (fn) => {
      handlers.push(fn);
      return () => {
        const i = handlers.lastIndexOf(fn);
        if (i >= 0) handlers.splice(i, 1);
      };
    },
  };
}

async function main(): Promise<number> {
  let env: CliEnvironment;
  try {
    env = loadEnvironment();
  } catch (err) {
    if (err instanceof ConfigurationError) {
      process.stderr.write(
        `ktrdr: invalid configuration:\n${err.details.errors.map((l) => `  ${l}`).join('\n')}\n`,
      );
      return EXIT.USAGE;
    }
    throw err;
  }
  return runCli(process.argv.slice(2), env, processIo());
}

/** Runs the command line of this process and exits with its code (bin/ktrdr.js, or this file run directly). */
export function runMain(): void {
  // Should the event loop ever drain before the command finished, that is not a success.
  process.exitCode = EXIT.FAILED;
  process.once('beforeExit', () => {
    process.stderr.write('Error: ktrdr stopped before the command finished (no answer pending)\n');
  });
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`ktrdr: ${errorText(err)}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) runMain();
