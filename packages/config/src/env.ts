/**
 * The sources settings are read from. This is the only module in the repository that touches process.env.
 */
import fs from 'node:fs';
import nodePath from 'node:path';

export type EnvMap = Readonly<Record<string, string | undefined>>;

/** One value taken from the fleet environment file, keyed by the variable it stands for. */
export interface FileValue {
  /** The raw value as a string (parsed like the variable). */
  readonly raw: string;
  /** Its YAML path, e.g. `health_check.interval`. */
  readonly path: string;
}

/** Setting values from the fleet environment file (config/workers.<env>.yaml). */
export interface FileSource {
  readonly file: string;
  /** Valid values only, by variable name; invalid ones are in `errors`. */
  readonly values: Readonly<Record<string, FileValue>>;
  /** Problems of the file, each naming its YAML path and the file. */
  readonly errors: readonly string[];
}

/**
 * Where values come from, in precedence order after explicit overrides: env, then the .env.local
 * file, then the fleet environment file (when one applies).
 */
export interface EnvSources {
  readonly env: EnvMap;
  readonly dotenv: EnvMap;
  readonly file?: FileSource;
}

let override: EnvSources | undefined;
let dotenvCache: { file: string; values: EnvMap } | undefined;

/** Parses `KEY=VALUE` lines (comments, blank lines, `export `, single or double quotes). */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2] ?? '';
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out[m[1] as string] = value;
  }
  return out;
}

function readDotenvFile(): EnvMap {
  const file = nodePath.resolve(process.cwd(), '.env.local');
  if (dotenvCache?.file === file) return dotenvCache.values;
  let values: EnvMap = {};
  try {
    values = Object.freeze(parseDotenv(fs.readFileSync(file, 'utf8')));
  } catch {
    values = {};
  }
  dotenvCache = { file, values };
  return values;
}

/** The current sources: a test override when one is active, else process.env and ./.env.local. */
export function currentSources(): EnvSources {
  if (override) return override;
  return { env: process.env, dotenv: readDotenvFile() };
}

/** Sources for an explicit env map (as passed to validateAll(component, env)): no .env.local. */
export function sourcesFor(env: EnvMap | undefined): EnvSources {
  return env ? { env, dotenv: {} } : currentSources();
}

export function setEnvOverride(sources: EnvSources | undefined): void {
  override = sources;
}

export function getEnvOverride(): EnvSources | undefined {
  return override;
}

export function forgetDotenv(): void {
  dotenvCache = undefined;
}

/**
 * A copy of the real environment plus overrides (an `undefined` value deletes the key), for
 * `child_process.spawn(cmd, args, { env })`. Inside withEnv() the base is the replacement environment.
 */
export function childProcessEnv(
  overrides: Record<string, string | undefined> = {},
): Record<string, string> {
  const base = override ? override.env : process.env;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) out[k] = v;
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}
