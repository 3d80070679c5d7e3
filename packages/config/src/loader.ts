/**
 * Resolves a settings class against its sources: explicit overrides > new name > old (deprecated) names >
 * .env.local > default. Parsing and constraint checks produce one message per problem, each starting with the
 * variable name, never containing a secret's value.
 */
import os from 'node:os';
import nodePath from 'node:path';
import type { EnvMap, EnvSources } from './env';
import {
  envNameOf,
  type AnyField,
  type AnySettingsClass,
  type DefaultContext,
  type DeprecatedValue,
} from './schema';

export type SourceKind =
  'override' | 'env' | 'deprecated' | 'dotenv' | 'file' | 'default' | 'unset';

export interface FieldSource {
  readonly kind: SourceKind;
  /** The variable the value came from (env, deprecated, dotenv), or the YAML path (file). */
  readonly variable?: string;
  /** The fleet environment file (file). */
  readonly file?: string;
}

export interface DeprecatedUse {
  readonly oldName: string;
  readonly newName: string;
}

/** A deprecated enum value that was read (and loaded as its replacement). */
export interface DeprecatedValueUse {
  readonly variable: string;
  readonly value: string;
  readonly replacement: string;
  readonly reason: string;
}

export interface NameConflict {
  readonly newName: string;
  readonly oldName: string;
}

export interface LoadResult {
  readonly values: Readonly<Record<string, unknown>>;
  readonly sources: Readonly<Record<string, FieldSource>>;
  readonly errors: readonly string[];
  readonly deprecatedUsed: readonly DeprecatedUse[];
  readonly deprecatedValuesUsed: readonly DeprecatedValueUse[];
  readonly conflicts: readonly NameConflict[];
}

function present(map: EnvMap, name: string): string | undefined {
  const v = map[name];
  return v === undefined || v.trim() === '' ? undefined : v;
}

/**
 * Hides the credentials of every URL in a text (`postgres://user:secret@db` → `postgres://***@db`), so
 * configuration errors and logs never echo a password embedded in a URL-valued setting.
 */
export function redactUrlCredentials(text: string): string {
  // Greedy up to the last `@` of the authority: a password may itself contain `@`.
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*@/gi, '$1***@');
}

function describeValue(raw: string, f: AnyField): string {
  if (f.secret) return 'value hidden';
  const safe = redactUrlCredentials(raw);
  const shown = safe.length > 60 ? `${safe.slice(0, 57)}...` : safe;
  return `got ${JSON.stringify(shown)}`;
}

/** Human text of a numeric constraint, e.g. "an integer between 1 and 65535". */
export function constraintText(f: AnyField): string {
  const what = f.kind === 'integer' ? 'an integer' : 'a number';
  if (f.kind !== 'integer' && f.kind !== 'number') {
    if (f.kind === 'enum') {
      const aliases = Object.entries(f.aliases ?? {});
      const also =
        aliases.length > 0 ? ` (also ${aliases.map(([a, v]) => `${a} for ${v}`).join(', ')})` : '';
      return `one of ${(f.choices ?? []).join(', ')}${also}`;
    }
    if (f.kind === 'boolean') return 'true or false (also 1/0, yes/no, on/off)';
    if (f.kind === 'url')
      return `an absolute ${(f.protocols ?? ['http', 'https']).join(' or ')} URL with a host`;
    if (f.kind === 'list')
      return f.itemPatternText
        ? `a comma-separated list of ${f.itemPatternText}`
        : 'a comma-separated list';
    if (f.kind === 'path') return 'a filesystem path';
    return 'a string';
  }
  if (f.min !== undefined && f.max !== undefined) return `${what} between ${f.min} and ${f.max}`;
  if (f.gt !== undefined && f.max !== undefined)
    return `${what} greater than ${f.gt} and at most ${f.max}`;
  if (f.gt !== undefined) return `${what} greater than ${f.gt}`;
  if (f.min !== undefined) return `${what} >= ${f.min}`;
  if (f.max !== undefined) return `${what} <= ${f.max}`;
  return what;
}

function inRange(n: number, f: AnyField): boolean {
  if (f.min !== undefined && n < f.min) return false;
  if (f.max !== undefined && n > f.max) return false;
  if (f.gt !== undefined && !(n > f.gt)) return false;
  return true;
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

export function expandPath(raw: string): string {
  if (raw.includes('://')) return raw; // e.g. memory:// for an in-memory embedded store
  let p = raw;
  if (p === '~') p = os.homedir();
  else if (p.startsWith('~/')) p = nodePath.join(os.homedir(), p.slice(2));
  return nodePath.resolve(p);
}

/** Parses one raw string; returns the value or a problem text (without the variable name). */
export function parseRaw(
  raw: string,
  f: AnyField,
): { ok: true; value: unknown } | { ok: false; problem: string } {
  const s = raw.trim();
  const fail = () => ({
    ok: false as const,
    problem: `must be ${constraintText(f)} (${describeValue(raw, f)})`,
  });
  switch (f.kind) {
    case 'string':
      return { ok: true, value: raw };
    case 'path':
      return { ok: true, value: expandPath(s) };
    case 'integer': {
      if (!/^[+-]?\d+$/.test(s)) return fail();
      const n = Number(s);
      return Number.isSafeInteger(n) && inRange(n, f) ? { ok: true, value: n } : fail();
    }
    case 'number': {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return fail();
      const n = Number(s);
      return Number.isFinite(n) && inRange(n, f) ? { ok: true, value: n } : fail();
    }
    case 'boolean': {
      const l = s.toLowerCase();
      if (TRUE.has(l)) return { ok: true, value: true };
      if (FALSE.has(l)) return { ok: true, value: false };
      return fail();
    }
    case 'enum': {
      const l = s.toLowerCase();
      const hit =
        (f.choices ?? []).find((c) => c.toLowerCase() === l) ??
        Object.entries(f.aliases ?? {}).find(([a]) => a.toLowerCase() === l)?.[1] ??
        deprecatedValueOf(s, f)?.[1].value;
      return hit === undefined ? fail() : { ok: true, value: hit };
    }
    case 'list': {
      const items = s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
      if (f.itemPattern && !items.every((x) => f.itemPattern!.test(x))) return fail();
      return { ok: true, value: Object.freeze(items) };
    }
    case 'url': {
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        return fail();
      }
      const protocols = f.protocols ?? ['http', 'https'];
      if (!protocols.includes(u.protocol.replace(/:$/, '')) || u.hostname === '') return fail();
      return { ok: true, value: s.replace(/\/+$/, '') };
    }
  }
}

/** The deprecated enum value `raw` spells, as [old value, replacement], if any. */
function deprecatedValueOf(raw: string, f: AnyField): [string, DeprecatedValue] | undefined {
  const l = raw.trim().toLowerCase();
  return Object.entries(f.deprecatedValues ?? {}).find(([old]) => old.toLowerCase() === l);
}

/** Checks an explicit (already typed) override against the field's constraints. */
function checkOverride(value: unknown, f: AnyField): string | undefined {
  if (value === undefined) return undefined;
  if (f.kind === 'integer' || f.kind === 'number') {
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (f.kind === 'number' || Number.isInteger(value)) &&
      inRange(value, f);
    return ok ? undefined : `must be ${constraintText(f)} (${describeValue(String(value), f)})`;
  }
  if (f.kind === 'enum' && !(f.choices ?? []).includes(String(value)))
    return `must be ${constraintText(f)} (${describeValue(String(value), f)})`;
  return undefined;
}

export interface LoadOptions {
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** Resolves the data directory for computed defaults (from the same sources). */
  readonly dataDir?: () => string;
}

/** Loads one settings class from the sources. Never throws; problems are in `errors`. */
export function loadClass(
  cls: AnySettingsClass,
  sources: EnvSources,
  options: LoadOptions = {},
): LoadResult {
  const values: Record<string, unknown> = {};
  const fieldSources: Record<string, FieldSource> = {};
  const errors: string[] = [];
  const deprecatedUsed: DeprecatedUse[] = [];
  const deprecatedValuesUsed: DeprecatedValueUse[] = [];
  const conflicts: NameConflict[] = [];
  const ctx: DefaultContext = {
    values,
    dataDir: options.dataDir ?? (() => nodePath.join(os.homedir(), '.ktrdr', 'data')),
  };

  for (const [name, f] of Object.entries(cls.fields)) {
    const envName = envNameOf(cls, name);
    const olds = f.deprecated ?? [];
    const newValue = present(sources.env, envName);
    for (const old of olds) {
      const oldValue = present(sources.env, old);
      if (newValue !== undefined && oldValue !== undefined && oldValue !== newValue)
        conflicts.push({ newName: envName, oldName: old });
    }

    if (options.overrides && Object.prototype.hasOwnProperty.call(options.overrides, name)) {
      const v = options.overrides[name];
      const problem = checkOverride(v, f);
      if (problem) errors.push(`${envName} (explicit override): ${problem}`);
      values[name] = v;
      fieldSources[name] = { kind: 'override' };
      continue;
    }

    let raw: string | undefined;
    let source: FieldSource = { kind: 'unset' };
    if (newValue !== undefined) {
      raw = newValue;
      source = { kind: 'env', variable: envName };
    } else {
      for (const old of olds) {
        const v = present(sources.env, old);
        if (v !== undefined) {
          raw = v;
          source = { kind: 'deprecated', variable: old };
          deprecatedUsed.push({ oldName: old, newName: envName });
          break;
        }
      }
    }
    if (raw === undefined) {
      for (const n of [envName, ...olds]) {
        const v = present(sources.dotenv, n);
        if (v !== undefined) {
          raw = v;
          source = { kind: 'dotenv', variable: n };
          if (n !== envName) deprecatedUsed.push({ oldName: n, newName: envName });
          break;
        }
      }
    }

    if (raw === undefined && sources.file) {
      const v = sources.file.values[envName];
      if (v !== undefined) {
        raw = v.raw;
        source = { kind: 'file', variable: v.path, file: sources.file.file };
      }
    }

    if (raw !== undefined) {
      const parsed = parseRaw(raw, f);
      if (parsed.ok) {
        values[name] = parsed.value;
        const old = f.kind === 'enum' ? deprecatedValueOf(raw, f) : undefined;
        if (old) {
          deprecatedValuesUsed.push({
            variable: source.variable ?? envName,
            value: old[0],
            replacement: old[1].value,
            reason: old[1].reason,
          });
        }
      } else {
        const label =
          source.kind === 'deprecated'
            ? `${source.variable} (deprecated name of ${envName})`
            : source.kind === 'dotenv'
              ? `${source.variable} (from .env.local)`
              : source.kind === 'file'
                ? `${source.variable} in ${source.file} (overridden by ${envName})`
                : envName;
        errors.push(`${label}: ${parsed.problem}`);
        values[name] = undefined;
      }
      fieldSources[name] = source;
    } else if (f.default !== undefined) {
      values[name] =
        typeof f.default === 'function'
          ? (f.default as (c: DefaultContext) => unknown)(ctx)
          : f.default;
      fieldSources[name] = { kind: 'default' };
    } else {
      values[name] = undefined;
      fieldSources[name] = { kind: 'unset' };
    }
  }
  return {
    values: Object.freeze(values),
    sources: Object.freeze(fieldSources),
    errors,
    deprecatedUsed,
    deprecatedValuesUsed,
    conflicts,
  };
}

/** Levenshtein distance, for did-you-mean suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] as number;
      prev[j] = Math.min(
        (prev[j] as number) + 1,
        (prev[j - 1] as number) + 1,
        diag + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      diag = tmp;
    }
  }
  return prev[b.length] as number;
}
