/** What every command needs: settings, the API client, output, time and Ctrl-C. */
import { readFileSync } from 'node:fs';
import { devApiKeyPath } from '@ktrdr/config';
import { ApiClient } from './api';
import { Output, coloursEnabled, type Stream } from './output';

/** The CLI's settings as read from @ktrdr/config (main.ts) or given by tests. */
export interface CliEnvironment {
  /** KTRDR_API_CLIENT_BASE_URL */
  baseUrl: string;
  /** KTRDR_API_KEY */
  apiKey: string | undefined;
  /** KTRDR_API_CLIENT_TIMEOUT, seconds */
  timeout: number;
  /** KTRDR_API_CLIENT_RETRIES */
  retries: number;
  /** KTRDR_DATA_DIR (where the backend writes dev-api-key in development) */
  dataDir: string;
  noColor: boolean;
  forceColor: boolean;
}

export interface Io {
  stdout: Stream;
  stderr: Stream;
  now: () => number;
  /** Registers a Ctrl-C handler; returns its remover. */
  onInterrupt: (fn: () => void) => () => void;
}

export interface GlobalOptions {
  apiUrl?: string;
  apiKey?: string;
  json?: boolean;
  color?: boolean;
}

export interface Session {
  api: ApiClient;
  out: Output;
  now: () => number;
  onInterrupt: Io['onInterrupt'];
}

/**
 * --api-key, else KTRDR_API_KEY, else the development key a development backend leaves in
 * `{data dir}/dev-api-key` (@ktrdr/config's devApiKeyPath) when that file exists.
 */
export function resolveApiKey(flag: string | undefined, env: CliEnvironment): string | undefined {
  if (flag) return flag;
  if (env.apiKey) return env.apiKey;
  try {
    const key = readFileSync(devApiKeyPath(env.dataDir), 'utf8').trim();
    if (key) return key;
  } catch {
    // Missing, or unreadable (permissions): go without a key; the backend says 401 if it needs one.
  }
  return undefined;
}

export function createSession(env: CliEnvironment, io: Io, g: GlobalOptions): Session {
  const flags = { no_color: env.noColor, force_color: env.forceColor };
  const colours = {
    stdout: coloursEnabled(io.stdout.isTTY, flags, g.color),
    stderr: coloursEnabled(io.stderr.isTTY, flags, g.color),
  };
  const out = new Output(io.stdout, io.stderr, colours, g.json === true);
  const api = new ApiClient({
    baseUrl: g.apiUrl ?? env.baseUrl,
    apiKey: resolveApiKey(g.apiKey, env),
    timeoutMs: env.timeout * 1000,
    retries: env.retries,
  });
  return { api, out, now: io.now, onInterrupt: io.onInterrupt };
}
