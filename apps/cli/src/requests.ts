/**
 * Start requests from flags and files. The CLI does not re-validate what the backend validates: a
 * missing or invalid field comes back as the backend's 400 message naming it (exit 2).
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { errorText } from '@ktrdr/contracts/constants';
import { UsageError } from './errors';

export type Json = Record<string, unknown>;

/** `--fast 10`: a finite number. */
export function numberArg(name: string): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) {
      throw new InvalidArgumentError(`${name} must be a number (got '${raw}')`);
    }
    return n;
  };
}

/** `--epochs 50`: an integer. */
export function intArg(name: string): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`${name} must be an integer (got '${raw}')`);
    }
    return n;
  };
}

/** `a,b,c` → ['a','b','c'] */
export function listArg(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A value typed on the command line: JSON when it parses (numbers, true, [1,2]), else a string. */
export function parseValue(raw: string): unknown {
  const t = raw.trim();
  if (t === '') return '';
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return raw;
  }
}

/** `key=value` (repeatable) → [key, parsed value]. */
export function keyValueArg(raw: string, previous: [string, unknown][] = []): [string, unknown][] {
  const i = raw.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`expected key=value (got '${raw}')`);
  return [...previous, [raw.slice(0, i).trim(), parseValue(raw.slice(i + 1))]];
}

/** `key=v1,v2,v3` (repeatable) → [key, [values]]; a JSON array is accepted too (`key=[1,2]`). */
export function gridArg(raw: string, previous: [string, unknown[]][] = []): [string, unknown[]][] {
  const i = raw.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`expected name=v1,v2,... (got '${raw}')`);
  const key = raw.slice(0, i).trim();
  const rest = raw.slice(i + 1).trim();
  let values: unknown[];
  if (rest.startsWith('[')) {
    const parsed = parseValue(rest);
    if (!Array.isArray(parsed)) throw new InvalidArgumentError(`${key}: not a JSON array: ${rest}`);
    values = parsed;
  } else {
    values = listArg(rest).map(parseValue);
  }
  if (values.length === 0) throw new InvalidArgumentError(`${key}: give at least one value`);
  return [...previous, [key, values]];
}

export function readJsonFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `Cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorText(err)}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${errorText(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`${path} must contain a JSON object`);
  }
  return value as Json;
}

/** Sets `a.b.c` in `target`, creating objects on the way. */
export function setPath(target: Json, path: string, value: unknown): void {
  const parts = path.split('.').filter((p) => p !== '');
  if (parts.length === 0) throw new UsageError(`Empty field name in '${path}'`);
  let obj = target;
  for (const p of parts.slice(0, -1)) {
    if (p === '__proto__' || p === 'constructor' || p === 'prototype')
      throw new UsageError(`Invalid field name '${path}'`);
    const next = obj[p];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) obj[p] = {};
    obj = obj[p] as Json;
  }
  const last = parts[parts.length - 1]!;
  if (last === '__proto__' || last === 'constructor' || last === 'prototype')
    throw new UsageError(`Invalid field name '${path}'`);
  obj[last] = value;
}

const put = (target: Json, key: string, value: unknown): void => {
  if (value !== undefined) target[key] = value;
};

export interface MarketFlags {
  file?: string;
  symbol?: string;
  timeframe?: string;
  start?: string;
  end?: string;
  priority?: number;
  set?: [string, unknown][];
}

export interface BacktestFlags extends MarketFlags {
  strategy?: string;
  fast?: number;
  slow?: number;
  period?: number;
  oversold?: number;
  overbought?: number;
  model?: string;
  threshold?: number;
  param?: [string, unknown][];
  capital?: number;
  commission?: number;
  slippage?: number;
}

export interface TrainFlags extends MarketFlags {
  features?: string[];
  hidden?: string[];
  epochs?: number;
  learningRate?: number;
  batchSize?: number;
  validationSplit?: number;
  patience?: number;
  minDelta?: number;
  seed?: number;
  modelName?: string;
}

function market(flags: MarketFlags, base: Json): Json {
  const body: Json = { ...base };
  put(body, 'symbol', flags.symbol);
  put(body, 'timeframe', flags.timeframe);
  put(body, 'start_date', flags.start);
  put(body, 'end_date', flags.end);
  put(body, 'priority', flags.priority);
  return body;
}

function applySets(body: Json, sets: [string, unknown][] | undefined): Json {
  for (const [k, v] of sets ?? []) setPath(body, k, v);
  return body;
}

/** The body of POST /backtests/start: the file (if any), then the flags, then --set. */
export function backtestRequest(flags: BacktestFlags, base?: Json): Json {
  const body = market(flags, base ?? (flags.file ? readJsonFile(flags.file) : {}));
  const strategy: Json =
    typeof body.strategy === 'object' && body.strategy !== null
      ? { ...(body.strategy as Json) }
      : {};
  put(strategy, 'type', flags.strategy);
  put(strategy, 'fast_period', flags.fast);
  put(strategy, 'slow_period', flags.slow);
  put(strategy, 'period', flags.period);
  put(strategy, 'oversold', flags.oversold);
  put(strategy, 'overbought', flags.overbought);
  put(strategy, 'model_name', flags.model);
  put(strategy, 'threshold', flags.threshold);
  for (const [k, v] of flags.param ?? []) setPath(strategy, k, v);
  if (Object.keys(strategy).length > 0) body.strategy = strategy;
  put(body, 'initial_capital', flags.capital);
  put(body, 'commission', flags.commission);
  put(body, 'slippage', flags.slippage);
  return applySets(body, flags.set);
}

/** The body of POST /trainings/start. */
export function trainingRequest(flags: TrainFlags, base?: Json): Json {
  const body = market(flags, base ?? (flags.file ? readJsonFile(flags.file) : {}));
  put(body, 'features', flags.features);
  if (flags.hidden) {
    const layers = flags.hidden.map((h) => Number(h));
    if (layers.some((n) => !Number.isInteger(n)))
      throw new UsageError(
        `--hidden must be integers separated by commas (got '${flags.hidden.join(',')}')`,
      );
    body.model = { ...((body.model as Json) ?? {}), hidden_layers: layers };
  }
  put(body, 'epochs', flags.epochs);
  put(body, 'learning_rate', flags.learningRate);
  put(body, 'batch_size', flags.batchSize);
  put(body, 'validation_split', flags.validationSplit);
  if (flags.patience !== undefined || flags.minDelta !== undefined) {
    const es: Json = { ...((body.early_stopping as Json) ?? {}) };
    put(es, 'patience', flags.patience);
    put(es, 'min_delta', flags.minDelta);
    body.early_stopping = es;
  }
  put(body, 'seed', flags.seed);
  put(body, 'model_name', flags.modelName);
  return applySets(body, flags.set);
}

/**
 * The request field a `--grid` name stands for when it is one of this CLI's flag names (`fast` as
 * in `--fast`, `learning-rate` as in `--learning-rate`); any other name goes to the backend as it
 * is (a request field, a strategy parameter or a dotted path).
 */
const GRID_FLAG_FIELDS: Record<'backtest' | 'train', Readonly<Record<string, string>>> = {
  backtest: {
    fast: 'fast_period',
    slow: 'slow_period',
    model: 'model_name',
    capital: 'initial_capital',
  },
  train: {
    hidden: 'model.hidden_layers',
    'learning-rate': 'learning_rate',
    'batch-size': 'batch_size',
    'validation-split': 'validation_split',
    patience: 'early_stopping.patience',
    'min-delta': 'early_stopping.min_delta',
    'model-name': 'model_name',
  },
};

export function gridField(kind: 'backtest' | 'train', name: string): string {
  return GRID_FLAG_FIELDS[kind][name] ?? name;
}

export interface SweepRequest {
  base: Json;
  grid: Record<string, unknown[]>;
  priority?: number;
}

/**
 * The body of POST /{backtests,trainings}/sweep. A file holds either `{ base, grid, priority? }` or
 * just the base request; flags refine the base and `--grid` entries add to (or replace) the grid.
 */
export function sweepRequest(
  kind: 'backtest' | 'train',
  flags: (BacktestFlags & TrainFlags) & { grid?: [string, unknown[]][] },
): SweepRequest {
  const file = flags.file ? readJsonFile(flags.file) : null;
  const isSweepFile = file !== null && typeof file.base === 'object' && file.base !== null;
  const baseIn = isSweepFile ? (file!.base as Json) : (file ?? {});
  const { file: _file, priority, ...rest } = flags;
  const base = kind === 'backtest' ? backtestRequest(rest, baseIn) : trainingRequest(rest, baseIn);
  const grid: Record<string, unknown[]> = {};
  if (isSweepFile && typeof file!.grid === 'object' && file!.grid !== null) {
    for (const [k, v] of Object.entries(file!.grid as Json)) {
      if (!Array.isArray(v))
        throw new UsageError(`grid.${k} in ${flags.file} must be an array of values`);
      grid[k] = v;
    }
  }
  for (const [k, v] of flags.grid ?? []) grid[gridField(kind, k)] = v;
  if (Object.keys(grid).length === 0) {
    throw new UsageError('A sweep needs a grid: --grid name=v1,v2,... or "grid" in --file');
  }
  const out: SweepRequest = { base, grid };
  const p =
    priority ?? (isSweepFile && typeof file!.priority === 'number' ? file!.priority : undefined);
  if (p !== undefined) out.priority = p;
  delete base.priority;
  return out;
}
