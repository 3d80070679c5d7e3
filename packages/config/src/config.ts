/**
 * The public API: cached getters, deprecation and unknown-name warnings, validation per component, the
 * start-up helper, describeSettings() and the test helpers.
 */
import fs from 'node:fs';
import {
  currentSources,
  forgetDotenv,
  getEnvOverride,
  setEnvOverride,
  sourcesFor,
  type EnvMap,
  type EnvSources,
} from './env';
import {
  forgetFleetFiles,
  loadFleet,
  withFleetFile,
  type FleetConfig,
  type LoadFleetOptions,
} from './fleet';
import { constraintText, editDistance, loadClass, type LoadResult } from './loader';
import { envNameOf, type AnySettingsClass, type SettingsClass, type SettingsOf } from './schema';
import {
  ALL_SETTINGS,
  ApiClientSettings,
  ApiSettings,
  CheckpointSettings,
  CliSettings,
  COMPONENT_SETTINGS,
  DatabaseSettings,
  DataSettings,
  FleetSettings,
  ResultsSettings,
  EventsSettings,
  LoggingSettings,
  ObservabilitySettings,
  OperationsSettings,
  OrphanDetectorSettings,
  RuntimeSettings,
  SandboxSettings,
  TestSettings,
  WorkerSettings,
  type CliSettingsValues,
  type Component,
  type TestSettingsValues,
} from './settings';

// ── errors and logging ──────────────────────────────────────────────────────────────────────────

/** Invalid configuration. `details.errors` has one line per problem, each starting with the variable. */
export class ConfigurationError extends Error {
  readonly code = 'CONFIG-ValidationFailed';
  readonly details: { readonly errors: readonly string[] };

  constructor(errors: readonly string[]) {
    super(
      `Invalid configuration (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n` +
        errors.map((e) => `  - ${e}`).join('\n'),
    );
    this.name = 'ConfigurationError';
    this.details = { errors: Object.freeze([...errors]) };
  }
}

export interface ConfigLogger {
  warn(message: string): void;
  error(message: string): void;
  log?(message: string): void;
}

const consoleLogger: ConfigLogger = {
  warn: (m) => console.warn(`[config] WARN ${m}`),
  error: (m) => console.error(`[config] ERROR ${m}`),
  log: (m) => console.log(`[config] ${m}`),
};
let logger: ConfigLogger = consoleLogger;

/** Routes the package's warnings through a service's logger (e.g. a NestJS Logger). */
export function setConfigLogger(next: ConfigLogger | undefined): void {
  logger = next ?? consoleLogger;
}

/** Messages already logged (a deprecated name warns once per process, not on every read). */
const warnedOnce = new Set<string>();
function warnOnce(key: string, message: string): void {
  if (warnedOnce.has(key)) return;
  warnedOnce.add(key);
  logger.warn(message);
}

// ── loading and caching ─────────────────────────────────────────────────────────────────────────

function dataDirFrom(sources: EnvSources): () => string {
  let memo: string | undefined;
  return () => {
    if (memo === undefined) {
      const r = loadClass(DataSettings, sources);
      memo = String(r.values.dir);
    }
    return memo;
  };
}

function load(cls: AnySettingsClass, sources: EnvSources, overrides?: Record<string, unknown>) {
  return loadClass(cls, sources, { overrides, dataDir: dataDirFrom(sources) });
}

function reportLoadWarnings(r: LoadResult): void {
  for (const d of r.deprecatedUsed)
    warnOnce(
      `deprecated:${d.oldName}`,
      `${d.oldName} is deprecated; use ${d.newName} instead (the old name still works for now).`,
    );
  for (const d of r.deprecatedValuesUsed)
    warnOnce(
      `deprecated-value:${d.variable}=${d.value}`,
      `${d.variable}=${d.value} is deprecated (${d.reason}); using ${d.replacement}.`,
    );
  for (const c of r.conflicts)
    warnOnce(
      `conflict:${c.oldName}`,
      `Both ${c.newName} and its deprecated name ${c.oldName} are set, to different values; ${c.newName} wins.`,
    );
}

const cache = new Map<AnySettingsClass, Readonly<Record<string, unknown>>>();

/**
 * The sources for an explicit env map (tests: no .env.local, and a fleet file only when the map names
 * one) or the current ones (process.env, ./.env.local, and the fleet file of KTRDR_ENV).
 */
function resolveSources(env?: EnvMap): EnvSources {
  const implicit = env === undefined && getEnvOverride() === undefined;
  return withFleetFile(sourcesFor(env), implicit);
}

/**
 * Loads a class without the cache. `overrides` (snake_case field names) win over every other source.
 * Throws ConfigurationError listing every problem of the class.
 */
export function loadSettings<C extends AnySettingsClass>(
  cls: C,
  options: { env?: EnvMap; overrides?: Partial<Record<keyof C['fields'], unknown>> } = {},
): SettingsOf<C> {
  const sources = resolveSources(options.env);
  const r = load(cls, sources, options.overrides as Record<string, unknown> | undefined);
  reportLoadWarnings(r);
  if (r.errors.length > 0) throw new ConfigurationError(r.errors);
  return r.values as SettingsOf<C>;
}

function cached<C extends AnySettingsClass>(cls: C): SettingsOf<C> {
  let v = cache.get(cls);
  if (!v) {
    v = loadSettings(cls);
    cache.set(cls, v);
  }
  return v as SettingsOf<C>;
}

/** Forgets every cached settings object (and the .env.local file and the once-only warnings). */
export function clearSettingsCache(): void {
  cache.clear();
  fleetCache = undefined;
  warnedOnce.clear();
  forgetDotenv();
  forgetFleetFiles();
}

export const getRuntimeSettings = () => cached(RuntimeSettings);
export const getApiSettings = () => cached(ApiSettings);
export const getApiClientSettings = () => cached(ApiClientSettings);
export const getWorkerSettings = () => cached(WorkerSettings);
export const getDataSettings = () => cached(DataSettings);
export const getResultsSettings = () => cached(ResultsSettings);
export const getCheckpointSettings = () => cached(CheckpointSettings);
export const getOrphanDetectorSettings = () => cached(OrphanDetectorSettings);
export const getOperationsSettings = () => cached(OperationsSettings);
export const getEventsSettings = () => cached(EventsSettings);
export const getDatabaseSettings = () => cached(DatabaseSettings);
export const getLoggingSettings = () => cached(LoggingSettings);
export const getObservabilitySettings = () => cached(ObservabilitySettings);
export const getSandboxSettings = () => cached(SandboxSettings);
export const getFleetSettings = () => cached(FleetSettings);

/**
 * Loads and validates a fleet environment file (`config/workers.<env>.yaml`). The environment is
 * `options.environment` (`dev`/`prod` accepted) or KTRDR_ENV; the file is `options.file`, else
 * KTRDR_FLEET_FILE, else `{KTRDR_FLEET_DIR}/workers.{dev|prod}.yaml`. Variables override the file's
 * backend URL and health-check values. Throws one ConfigurationError listing every problem, each
 * naming the YAML path, the file and the line.
 */
export function loadFleetConfig(options: LoadFleetOptions = {}): FleetConfig {
  const r = loadFleet(sourcesFor(options.env), options);
  if (!r.config) throw new ConfigurationError(r.errors);
  return r.config;
}

let fleetCache: FleetConfig | undefined;
/** The fleet file of KTRDR_ENV (cached until clearSettingsCache()). */
export function getFleetConfig(): FleetConfig {
  fleetCache ??= loadFleetConfig();
  return fleetCache;
}

const testCache = new WeakMap<object, TestSettingsValues>();
export function getTestSettings(): TestSettingsValues {
  const base = cached(TestSettings);
  let v = testCache.get(base);
  if (!v) {
    const dockerAvailable = base.docker_host !== undefined || fs.existsSync('/var/run/docker.sock');
    v = Object.freeze({ ...base, docker_available: dockerAvailable });
    testCache.set(base, v);
  }
  return v;
}

const cliCache = new WeakMap<object, CliSettingsValues>();
export function getCliSettings(): CliSettingsValues {
  const base = cached(CliSettings);
  let v = cliCache.get(base);
  if (!v) {
    v = Object.freeze({
      no_color: base.no_color !== undefined && base.no_color !== '',
      force_color: base.force_color !== undefined && base.force_color !== '0',
    });
    cliCache.set(base, v);
  }
  return v;
}

// ── test helpers ────────────────────────────────────────────────────────────────────────────────

/**
 * Runs `fn` with `env` as the whole environment (no .env.local unless `dotenv` is given), with the
 * caches cleared before and after. Works for async functions (the environment stays until the promise
 * settles). Tests use it instead of mutating process.env.
 */
export function withEnv<T>(env: EnvMap, fn: () => T, dotenv: EnvMap = {}): T {
  const previous = getEnvOverride();
  setEnvOverride({ env, dotenv });
  clearSettingsCache();
  const restore = () => {
    setEnvOverride(previous);
    clearSettingsCache();
  };
  let result: T;
  try {
    result = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(restore) as T;
  }
  restore();
  return result;
}

// ── deprecation, unknown names, insecure defaults ───────────────────────────────────────────────

function buildDeprecatedNames(): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const cls of ALL_SETTINGS)
    for (const [name, f] of Object.entries(cls.fields))
      for (const old of f.deprecated ?? []) out[old] = envNameOf(cls, name);
  return Object.freeze(out);
}

/** Every deprecated variable name and the name that replaces it (derived from the declarations). */
export const DEPRECATED_NAMES: Readonly<Record<string, string>> = buildDeprecatedNames();

function present(env: EnvMap, name: string): boolean {
  const v = env[name];
  return v !== undefined && v.trim() !== '';
}

/**
 * Logs one warning per deprecated name that is set (once per process), naming the new name, and one
 * when both names are set to different values. Returns the old names found.
 */
export function warnDeprecatedEnvVars(env?: EnvMap): string[] {
  const { env: e } = sourcesFor(env);
  const found: string[] = [];
  for (const [oldName, newName] of Object.entries(DEPRECATED_NAMES)) {
    if (!present(e, oldName)) continue;
    found.push(oldName);
    warnOnce(
      `deprecated:${oldName}`,
      `${oldName} is deprecated; use ${newName} instead (the old name still works for now).`,
    );
    if (present(e, newName) && e[newName] !== e[oldName])
      warnOnce(
        `conflict:${oldName}`,
        `Both ${newName} and its deprecated name ${oldName} are set, to different values; ${newName} wins.`,
      );
  }
  return found;
}

function knownNames(): Set<string> {
  const names = new Set<string>(Object.keys(DEPRECATED_NAMES));
  for (const cls of ALL_SETTINGS)
    for (const name of Object.keys(cls.fields)) names.add(envNameOf(cls, name));
  return names;
}

/** `KTRDR_*` variables that no setting declares, each with the closest known name when there is one. */
export function findUnknownEnvVars(env?: EnvMap): { name: string; suggestion?: string }[] {
  const { env: e } = sourcesFor(env);
  const known = knownNames();
  const candidates = [...known].filter((n) => n.startsWith('KTRDR_'));
  const out: { name: string; suggestion?: string }[] = [];
  for (const name of Object.keys(e).sort()) {
    if (!name.startsWith('KTRDR_') || known.has(name)) continue;
    let best: string | undefined;
    let bestD = Infinity;
    for (const c of candidates) {
      // A name that is a whole-word prefix of the other (KTRDR_ORPHAN_TIMEOUT) is a near miss too.
      const d = c.startsWith(`${name}_`) || name.startsWith(`${c}_`) ? 1 : editDistance(name, c);
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    const limit = Math.max(2, Math.floor(name.length / 5));
    out.push(bestD <= limit && best ? { name, suggestion: best } : { name });
  }
  return out;
}

/** Settings that were declared once and removed, with why (they are ignored, with this warning). */
export const REMOVED_SETTINGS: Readonly<Record<string, string>> = {
  KTRDR_OPS_CACHE_TTL: 'removed in 0.2.0: the backend never had an operation cache to tune',
  OPERATIONS_CACHE_TTL: 'removed in 0.2.0: the backend never had an operation cache to tune',
  KTRDR_OPS_MAX_OPERATIONS:
    'removed in 0.2.0: the backend keeps operations in its database, bounded by KTRDR_OPS_RETENTION_DAYS',
};

/** Logs a warning per unknown `KTRDR_*` variable (with a did-you-mean). Returns their names. */
export function warnUnknownEnvVars(env?: EnvMap): string[] {
  const { env: e } = sourcesFor(env);
  const removed = Object.keys(REMOVED_SETTINGS).filter((name) => e[name] !== undefined);
  for (const name of removed) {
    warnOnce(`unknown:${name}`, `${name} is ignored: ${REMOVED_SETTINGS[name]}.`);
  }
  const unknown = findUnknownEnvVars(env).filter(({ name }) => !(name in REMOVED_SETTINGS));
  return [
    ...removed,
    ...unknown.map(({ name, suggestion }) => {
      warnOnce(
        `unknown:${name}`,
        `${name} is not a known KTRDR setting and is ignored${suggestion ? ` (did you mean ${suggestion}?)` : ''}. See docs/configuration.md.`,
      );
      return name;
    }),
  ];
}

interface InsecureFinding {
  variable: string;
  reason: string;
}

/** Unsafe defaults in effect; `withDevSecrets: false` leaves out those a development secret covers. */
function insecureDefaults(
  classes: readonly AnySettingsClass[],
  sources: EnvSources,
  withDevSecrets = true,
): InsecureFinding[] {
  const out: InsecureFinding[] = [];
  for (const cls of classes) {
    const r = load(cls, sources);
    for (const [name, f] of Object.entries(cls.fields)) {
      if (!f.insecureDefault || (f.devSecret && !withDevSecrets)) continue;
      const src = r.sources[name]?.kind;
      if (src !== 'default' && src !== 'unset') continue;
      const applies =
        typeof f.insecureDefault === 'function' ? f.insecureDefault(r.values) : f.insecureDefault;
      if (applies)
        out.push({
          variable: envNameOf(cls, name),
          reason: f.insecureReason ?? 'its default is not safe in production',
        });
    }
  }
  return out;
}

/** Set values shorter than their `productionMinLength` (secrets: the value is never shown). */
function tooShortForProduction(
  classes: readonly AnySettingsClass[],
  sources: EnvSources,
): string[] {
  const out: string[] = [];
  for (const cls of classes) {
    const r = load(cls, sources);
    for (const [name, f] of Object.entries(cls.fields)) {
      const min = f.productionMinLength;
      const v = r.values[name];
      if (min === undefined || typeof v !== 'string') continue;
      if (v.length < min)
        out.push(
          `${envNameOf(cls, name)}: must be at least ${min} characters when KTRDR_ENV=production (got ${v.length}${f.secret ? ', value hidden' : ''})`,
        );
    }
  }
  return out;
}

function collectErrors(component: Component, sources: EnvSources): string[] {
  const errors: string[] = [];
  for (const cls of COMPONENT_SETTINGS[component]) errors.push(...load(cls, sources).errors);
  // A broken fleet environment file stops the service too (each line names the YAML path and file).
  if (COMPONENT_SETTINGS[component].includes(FleetSettings))
    errors.push(...(sources.file?.errors ?? []));
  const runtime = load(RuntimeSettings, sources).values;
  if (runtime.environment === 'production') {
    for (const f of insecureDefaults(COMPONENT_SETTINGS[component], sources))
      errors.push(`${f.variable}: must be set explicitly when KTRDR_ENV=production (${f.reason})`);
    errors.push(...tooShortForProduction(COMPONENT_SETTINGS[component], sources));
  }
  return errors;
}

/**
 * Validates every settings class the component needs and throws one ConfigurationError with all the
 * problems (each line starts with the variable name). Under KTRDR_ENV=production, insecure defaults are
 * problems too.
 */
export function validateAll(component: Component, env?: EnvMap): void {
  const errors = collectErrors(component, resolveSources(env));
  if (errors.length > 0) throw new ConfigurationError(errors);
}

/**
 * Outside production: a warning per insecure default, unless KTRDR_ACKNOWLEDGE_INSECURE_DEFAULTS=true.
 * Defaults a generated development secret covers (API keys, registration token) are not warned about
 * here: the backend reports those secrets once at start.
 */
export function warnInsecureDefaults(component: Component, env?: EnvMap): string[] {
  const sources = resolveSources(env);
  const runtime = load(RuntimeSettings, sources).values;
  if (runtime.environment === 'production' || runtime.acknowledge_insecure_defaults) return [];
  return insecureDefaults(COMPONENT_SETTINGS[component], sources, false).map((f) => {
    warnOnce(
      `insecure:${f.variable}`,
      `${f.variable} is not set: ${f.reason}. Fine for development; KTRDR_ENV=production refuses it. Set KTRDR_ACKNOWLEDGE_INSECURE_DEFAULTS=true to silence this.`,
    );
    return f.variable;
  });
}

/**
 * What every service calls first: deprecated and unknown names are warned about, then the component's
 * settings are validated. On invalid configuration prints a readable block to stderr and exits with 1.
 */
export function loadSettingsOrExit(
  component: Exclude<Component, 'all'>,
  serviceName: string,
  exit: (code: number) => never = (code) => process.exit(code),
): void {
  warnDeprecatedEnvVars();
  warnUnknownEnvVars();
  try {
    validateAll(component);
  } catch (e) {
    if (!(e instanceof ConfigurationError)) throw e;
    const lines = [
      `${serviceName}: invalid configuration, the service cannot start.`,
      ...e.details.errors.map((l) => `  ${l}`),
      'Every variable is described in docs/configuration.md.',
    ];
    console.error(lines.join('\n'));
    exit(1);
  }
  warnInsecureDefaults(component);
}

/** Reads the current sources (exported for diagnostics). */
export function currentEnvironment(): EnvMap {
  return currentSources().env;
}

// ── describeSettings ────────────────────────────────────────────────────────────────────────────

export interface FieldDescription {
  readonly field: string;
  readonly env: string;
  readonly deprecated: readonly string[];
  readonly type: string;
  /** The default as shown in docs, or undefined when the setting has none. */
  readonly default: string | undefined;
  readonly constraints: string | undefined;
  readonly description: string;
  readonly secret: boolean;
  readonly insecureDefault: boolean;
}

function showDefault(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.join(',');
  return String(v);
}

/** Each field of a class: env name, old names, type, default, constraints, description, secret flag. */
export function describeSettings(cls: SettingsClass): FieldDescription[] {
  return Object.entries(cls.fields).map(([name, f]) => {
    const hasBounds = f.min !== undefined || f.max !== undefined || f.gt !== undefined;
    const base =
      f.kind === 'enum' || f.kind === 'url' || hasBounds || f.itemPattern
        ? constraintText(f)
        : undefined;
    const prod =
      f.productionMinLength !== undefined
        ? `at least ${f.productionMinLength} characters when KTRDR_ENV=production`
        : undefined;
    const constraints = base && prod ? `${base}; ${prod}` : (base ?? prod);
    return {
      field: name,
      env: envNameOf(cls, name),
      deprecated: [...(f.deprecated ?? [])],
      type: f.kind,
      default:
        f.defaultDoc ?? (typeof f.default === 'function' ? undefined : showDefault(f.default)),
      constraints,
      description: f.description,
      secret: f.secret === true,
      insecureDefault: f.insecureDefault !== undefined && f.insecureDefault !== false,
    };
  });
}
