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

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    now: () => Date.now(),
    onInterrupt: (fn) => {
      let count = 0;
      const handler = (): void => {
        count += 1;
        // A second Ctrl-C leaves at once.
        if (count > 1) process.exit(EXIT.INTERRUPTED);
        fn();
      };
      process.on('SIGINT', handler);
      return () => process.off('SIGINT', handler);
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

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`ktrdr: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
