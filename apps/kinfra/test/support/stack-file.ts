/**
 * The stack definition as compose sees it for a given environment: infra/compose/docker-compose.yml
 * parsed (merge keys resolved) and interpolated like compose does (${VAR}, ${VAR:-default},
 * ${VAR-default}, $$). Lets the tests check a slot's stack without the docker-compose binary.
 */
import * as fs from 'node:fs';
import { parse } from 'yaml';
import { STACK_FILE_OF_REPO } from './helpers';

export interface StackService {
  image: string;
  scale?: number | string;
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: unknown;
  volumes?: string[];
  healthcheck?: { test: string[] };
}
export interface StackDoc {
  services: Record<string, StackService>;
  volumes: Record<string, unknown>;
}

const REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

export function stackText(file = STACK_FILE_OF_REPO): string {
  return fs.readFileSync(file, 'utf8');
}

/** Names of every variable the stack file interpolates. */
export function interpolatedVariables(text = stackText()): string[] {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('#')) continue;
    for (const m of line.matchAll(REF)) {
      const name = m[1] ?? m[4];
      if (name) names.add(name);
    }
  }
  return [...names].sort();
}

function interpolateString(value: string, env: Readonly<Record<string, string>>): string {
  return value.replace(REF, (all, braced?: string, op?: string, def?: string, bare?: string) => {
    if (all === '$$') return '$';
    const name = (braced ?? bare) as string;
    const v = env[name];
    if (op === ':-') return v ? v : (def ?? '');
    if (op === '-') return v !== undefined ? v : (def ?? '');
    return v ?? '';
  });
}

function interpolate(value: unknown, env: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') return interpolateString(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  }
  return value;
}

/** The stack for `env` (a slot's .env.sandbox, or {} for the defaults production uses). */
export function stackFor(env: Readonly<Record<string, string>>, text = stackText()): StackDoc {
  const doc = parse(text, { merge: true }) as Record<string, unknown>;
  const out = interpolate(doc, env) as Record<string, unknown>;
  for (const k of Object.keys(out)) if (k.startsWith('x-')) delete out[k];
  return out as unknown as StackDoc;
}
