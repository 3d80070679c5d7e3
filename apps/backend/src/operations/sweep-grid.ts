import { getMetadataStorage } from 'class-validator';
import {
  BacktestStartRequestDto,
  OperationType,
  TrainingStartRequestDto,
  validatePayload,
} from '@ktrdr/contracts';

/** One child of a sweep before it is stored: its start request and the grid values it got. */
export interface SweepChild {
  params: Record<string, unknown>;
  grid_values: Record<string, unknown>;
}

export type GridExpansion = { ok: true; children: SweepChild[] } | { ok: false; errors: string[] };

const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);
/** Grid key whose values are `{start_date, end_date}` objects. */
export const DATE_RANGE_KEY = 'date_range';
/** At most this many errors are listed (the rest are counted). */
const MAX_ERRORS = 10;

const REQUEST_CLASS: Record<OperationType, new () => object> = {
  [OperationType.BACKTESTING]: BacktestStartRequestDto,
  [OperationType.TRAINING]: TrainingStartRequestDto,
};

const topLevelFields = new Map<OperationType, Set<string>>();

/** The top-level fields of a start request, from its validation metadata. */
function fieldsOf(type: OperationType): Set<string> {
  let fields = topLevelFields.get(type);
  if (!fields) {
    const metas = getMetadataStorage().getTargetValidationMetadatas(
      REQUEST_CLASS[type],
      '',
      true,
      false,
    );
    fields = new Set(metas.map((m) => m.propertyName));
    topLevelFields.set(type, fields);
  }
  return fields;
}

/** The dotted path a grid key sets: a bare strategy parameter of a backtest means strategy.<name>. */
export function resolveGridKey(type: OperationType, key: string): string {
  if (key.includes('.') || key === DATE_RANGE_KEY) return key;
  if (type === OperationType.BACKTESTING && !fieldsOf(type).has(key)) return `strategy.${key}`;
  return key;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function describe(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
}

/**
 * Expands a sweep (a base request and a grid of values) into one validated start request per
 * combination, in grid order (the last key varies fastest). Every child is validated against the
 * same contract as `POST /…/start` before anything is stored; `maxChildren` bounds the expansion.
 */
export function expandGrid(
  type: OperationType,
  base: Record<string, unknown>,
  grid: Record<string, unknown>,
  maxChildren: number,
): GridExpansion {
  const errors: string[] = [];
  const keys = Object.keys(grid);
  if (keys.length === 0) errors.push('grid must have at least one parameter');
  for (const key of keys) {
    const values = grid[key];
    if (!KEY_PATTERN.test(key) || key.split('.').some((p) => FORBIDDEN_SEGMENTS.has(p))) {
      errors.push(
        `grid[${JSON.stringify(key)}]: not a parameter path (letters, digits, "_" and "." only)`,
      );
    } else if (!Array.isArray(values) || values.length === 0) {
      errors.push(`grid.${key} must be a non-empty array of values`);
    } else if (key === DATE_RANGE_KEY) {
      values.forEach((v, i) => {
        const ok =
          v !== null &&
          typeof v === 'object' &&
          !Array.isArray(v) &&
          Object.keys(v).every((k) => k === 'start_date' || k === 'end_date');
        if (!ok) errors.push(`grid.${key}.${i} must be an object with start_date and end_date`);
      });
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  const sizes = keys.map((k) => (grid[k] as unknown[]).length);
  const total = sizes.reduce((a, b) => a * b, 1);
  if (total > maxChildren) {
    return {
      ok: false,
      errors: [
        `grid: expands to ${total} child operations; at most ${maxChildren} are allowed per sweep (KTRDR_OPS_MAX_SWEEP_CHILDREN)`,
      ],
    };
  }

  const children: SweepChild[] = [];
  const index = keys.map(() => 0);
  let problems = 0;
  // One line per distinct problem (most grids break every child the same way), with the first
  // child it was found in and how many have it.
  const found = new Map<string, { child: number; values: string; count: number }>();
  let dropped = false;
  for (let n = 0; n < total; n++) {
    const params = structuredClone(base);
    const gridValues: Record<string, unknown> = {};
    keys.forEach((key, i) => {
      const value = (grid[key] as unknown[])[index[i]];
      gridValues[key] = value;
      if (key === DATE_RANGE_KEY) Object.assign(params, value as object);
      else setPath(params, resolveGridKey(type, key), structuredClone(value));
    });
    const check = validatePayload(REQUEST_CLASS[type], params);
    if (!check.ok) {
      problems += 1;
      // Each line names the field of the child request (base + this child's grid values).
      for (const line of check.errors) {
        const text = `base${line.startsWith('[') ? '' : '.'}${line}`;
        const seen = found.get(text);
        if (seen) seen.count += 1;
        else if (found.size < MAX_ERRORS) {
          found.set(text, { child: n + 1, values: describe(gridValues), count: 1 });
        } else dropped = true;
      }
    } else {
      children.push({ params, grid_values: gridValues });
    }
    // Odometer: the last key varies fastest.
    for (let i = keys.length - 1; i >= 0; i--) {
      index[i] += 1;
      if (index[i] < sizes[i]) break;
      index[i] = 0;
    }
  }
  if (problems > 0) {
    for (const [text, f] of found) {
      const where = `child ${f.child}: ${f.values}`;
      if (f.count === 1) errors.push(`${text} (${where})`);
      else if (f.count === total) errors.push(`${text} (all ${total} children, e.g. ${where})`);
      else errors.push(`${text} (${f.count} of ${total} children, first ${where})`);
    }
    if (dropped) errors.push(`… and more problems (${problems} of ${total} children are invalid)`);
    return { ok: false, errors };
  }
  return { ok: true, children };
}
