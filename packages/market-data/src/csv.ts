import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allocBars, Bars, filterBarsByTime } from './bars';
import { isSynthSymbol, synthBars, type AbortFlag } from './synth';
import { parseTimeframe } from './timeframe';
import { parseTimestamp, TimeLike, toEpochMs } from './time';

/** Error raised for unreadable or invalid market data; `line` is 1-based when known. */
export class MarketDataError extends Error {
  constructor(
    message: string,
    readonly path?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'MarketDataError';
  }
}

const REQUIRED_COLUMNS = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;
type Column = (typeof REQUIRED_COLUMNS)[number];

const NUMBER_PATTERN = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseNumber(text: string): number {
  const s = text.trim();
  return NUMBER_PATTERN.test(s) ? Number(s) : NaN;
}

/**
 * Parses CSV text in the documented format (see README). `source` names the file in errors.
 * Rows are validated (line numbers in errors) and returned sorted by time.
 */
export function parseBarsCsv(
  text: string,
  symbol: string,
  timeframe: string,
  source = '<csv>',
): Bars {
  parseTimeframe(timeframe);
  const fail = (line: number, msg: string): never => {
    throw new MarketDataError(`${source}:${line}: ${msg}`, source, line);
  };
  let body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (!body.endsWith('\n')) body += '\n';

  // Header: first non-empty line.
  let pos = 0;
  let lineNo = 0;
  let header: string | undefined;
  while (pos < body.length) {
    const nl = body.indexOf('\n', pos);
    const raw = body.slice(pos, nl).replace(/\r$/, '');
    pos = nl + 1;
    lineNo++;
    if (raw.trim() !== '') {
      header = raw;
      break;
    }
  }
  if (header === undefined) {
    throw new MarketDataError(
      `${source}: file is empty (expected header ${REQUIRED_COLUMNS.join(',')})`,
      source,
    );
  }
  const names = header.split(',').map((h) => h.trim().toLowerCase());
  const index = {} as Record<Column, number>;
  for (const col of REQUIRED_COLUMNS) {
    const i = names.indexOf(col);
    if (i < 0) {
      fail(
        lineNo,
        `header is missing column "${col}" (expected ${REQUIRED_COLUMNS.join(',')}, got ${header.trim()})`,
      );
    }
    if (names.indexOf(col, i + 1) >= 0) fail(lineNo, `header has column "${col}" twice`);
    index[col] = i;
  }
  const nCols = names.length;

  // Upper bound on rows for allocation.
  let maxRows = 0;
  for (let p = pos; p < body.length; p = body.indexOf('\n', p) + 1) maxRows++;
  const out = allocBars(symbol, timeframe, maxRows);
  const lines = new Float64Array(maxRows);
  let n = 0;
  let sorted = true;
  while (pos < body.length) {
    const nl = body.indexOf('\n', pos);
    const raw = body.slice(pos, nl).replace(/\r$/, '');
    pos = nl + 1;
    lineNo++;
    if (raw.trim() === '') continue;
    const cells = raw.split(',');
    if (cells.length !== nCols) fail(lineNo, `expected ${nCols} fields, got ${cells.length}`);
    const t = parseTimestamp(cells[index.timestamp]);
    if (!Number.isFinite(t)) {
      fail(
        lineNo,
        `invalid timestamp ${JSON.stringify(cells[index.timestamp].trim())} (expected ISO-8601 or integer epoch seconds/milliseconds)`,
      );
    }
    const o = parseNumber(cells[index.open]);
    const h = parseNumber(cells[index.high]);
    const l = parseNumber(cells[index.low]);
    const c = parseNumber(cells[index.close]);
    const v = parseNumber(cells[index.volume]);
    const values: [string, number][] = [
      ['open', o],
      ['high', h],
      ['low', l],
      ['close', c],
    ];
    for (const [name, x] of values) {
      if (!Number.isFinite(x) || x <= 0) {
        fail(
          lineNo,
          `${name} must be a positive number, got ${JSON.stringify(cells[index[name as Column]].trim())}`,
        );
      }
    }
    if (!Number.isFinite(v) || v < 0) {
      fail(
        lineNo,
        `volume must be a number >= 0, got ${JSON.stringify(cells[index.volume].trim())}`,
      );
    }
    if (h < Math.max(o, c, l)) fail(lineNo, `high ${h} is below open/close/low`);
    if (l > Math.min(o, c)) fail(lineNo, `low ${l} is above open/close`);
    if (n > 0 && t <= out.time[n - 1]) sorted = false;
    out.time[n] = t;
    out.open[n] = o;
    out.high[n] = h;
    out.low[n] = l;
    out.close[n] = c;
    out.volume[n] = v;
    lines[n] = lineNo;
    n++;
  }
  if (n === 0) throw new MarketDataError(`${source}: no data rows after the header`, source);

  let order: Uint32Array | undefined;
  if (!sorted) {
    order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => out.time[a] - out.time[b] || a - b);
  }
  const res = allocBars(symbol, timeframe, n);
  for (let k = 0; k < n; k++) {
    const i = order ? order[k] : k;
    res.time[k] = out.time[i];
    res.open[k] = out.open[i];
    res.high[k] = out.high[i];
    res.low[k] = out.low[i];
    res.close[k] = out.close[i];
    res.volume[k] = out.volume[i];
    if (k > 0 && res.time[k] === res.time[k - 1]) {
      const prev = order ? order[k - 1] : k - 1;
      fail(
        lines[i],
        `duplicate timestamp ${new Date(res.time[k]).toISOString()} (also on line ${lines[prev]})`,
      );
    }
  }
  return res;
}

/** Reads `path` (format in README) as bars of `symbol`/`timeframe`, validated and sorted by time. */
export function loadBarsFromCsv(path: string, symbol: string, timeframe: string): Bars {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new MarketDataError(`Cannot read ${path}: ${(err as Error).message}`, path);
  }
  return parseBarsCsv(text, symbol, timeframe, path);
}

/** Path of the CSV file for a symbol and timeframe: `{dataDir}/{SYMBOL}_{timeframe}.csv`. */
export function csvPathFor(dataDir: string, symbol: string, timeframe: string): string {
  return join(dataDir, `${symbol}_${timeframe}.csv`);
}

export interface LoadBarsOptions {
  symbol: string;
  timeframe: string;
  /** Inclusive start (ISO-8601 date/date-time, epoch ms or Date). */
  start_date?: TimeLike;
  /** Exclusive end (ISO-8601 date/date-time, epoch ms or Date). */
  end_date?: TimeLike;
  dataDir: string;
  /** Checked while a long SYNTH-* series is generated; a set flag throws MarketDataAbortedError. */
  signal?: AbortFlag;
  /** Progress of a long SYNTH-* generation (bars done, total); CSV files are read in one go. */
  onProgress?(done: number, total: number): void;
}

/** Default range for SYNTH-* symbols when a bound is missing. */
export const SYNTH_DEFAULT_START = '2024-01-01T00:00:00Z';
export const SYNTH_DEFAULT_COUNT = 1000;

/**
 * Bars for a symbol and timeframe with `start_date <= time < end_date`.
 * `SYNTH-*` symbols are always generated (never read from disk); other symbols are read from
 * `{dataDir}/{symbol}_{timeframe}.csv`. A missing file is an error naming the expected path.
 */
export function loadBars(opts: LoadBarsOptions): Bars {
  const { symbol, timeframe, dataDir } = opts;
  parseTimeframe(timeframe);
  const start =
    opts.start_date === undefined ? undefined : toEpochMs(opts.start_date, 'start_date');
  const end = opts.end_date === undefined ? undefined : toEpochMs(opts.end_date, 'end_date');
  if (start !== undefined && end !== undefined && end <= start) {
    throw new MarketDataError(
      `end_date (${new Date(end).toISOString()}) must be after start_date (${new Date(start).toISOString()})`,
    );
  }
  if (isSynthSymbol(symbol)) {
    const from =
      start ??
      (end !== undefined
        ? end - SYNTH_DEFAULT_COUNT * parseTimeframe(timeframe)
        : toEpochMs(SYNTH_DEFAULT_START));
    return synthBars(symbol, timeframe, from, end ?? { count: SYNTH_DEFAULT_COUNT }, {
      signal: opts.signal,
      onProgress: opts.onProgress,
    });
  }
  const path = csvPathFor(dataDir, symbol, timeframe);
  if (!existsSync(path)) {
    throw new MarketDataError(
      `No data for symbol ${symbol} timeframe ${timeframe}: expected file ${path} (or use a SYNTH-* symbol)`,
      path,
    );
  }
  return filterBarsByTime(loadBarsFromCsv(path, symbol, timeframe), start, end);
}
