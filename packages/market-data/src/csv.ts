import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { allocBars, Bars, filterBarsByTime } from './bars';
import type { BarsCache } from './cache';
import { isSynthSymbol, synthBars, type AbortFlag } from './synth';
import { parseTimeframe } from './timeframe';
import { parseIsoTime, parseTimestamp, TimeLike, toEpochMs } from './time';

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

type Field = 'time' | 'date' | 'clock' | 'open' | 'high' | 'low' | 'close' | 'adj_close' | 'volume';

/**
 * Accepted header spellings (compared trimmed, unquoted, case-insensitive, with `_`, `-` and runs of
 * spaces read as one space), in order of preference.
 */
export const CSV_COLUMN_ALIASES: Readonly<Record<Field, readonly string[]>> = {
  time: ['timestamp', 'datetime', 'date time', 'time stamp', 'open time', 'gmt time', 'local time'],
  date: ['date', 'day'],
  clock: ['time'],
  open: ['open', 'o'],
  high: ['high', 'h'],
  low: ['low', 'l'],
  close: ['close', 'c', 'last'],
  adj_close: ['adj close', 'adjclose', 'adjusted close'],
  volume: ['volume', 'vol', 'v', 'tick volume', 'tickvol'],
};

const NUMBER_PATTERN = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function unquote(cell: string): string {
  const c = cell.trim();
  return c.length >= 2 && c.startsWith('"') && c.endsWith('"') ? c.slice(1, -1).trim() : c;
}

function normaliseHeader(name: string): string {
  return unquote(name)
    .toLowerCase()
    .replace(/[_\-\s]+/g, ' ')
    .trim();
}

function parseNumber(text: string): number {
  const s = unquote(text);
  return NUMBER_PATTERN.test(s) ? Number(s) : NaN;
}

/** Exact powers of ten (10^k is a double exactly for k <= 22). */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/**
 * `Number(text)` for a plain decimal (`[+-]digits[.digits]`, at most 15 significant digits, no
 * spaces, quotes or exponent), else NaN (the caller then takes the general path). The digits form
 * an exact integer m < 2^53 and 10^k is exact, so m / 10^k is the correctly rounded value, the
 * same double `Number` gives.
 */
function fastDecimal(text: string | undefined): number {
  if (text === undefined) return NaN;
  const len = text.length;
  let i = 0;
  let neg = false;
  const first = text.charCodeAt(0);
  if (first === 45 || first === 43) {
    neg = first === 45;
    i = 1;
  }
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (; i < len; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 46) {
      if (frac >= 0) return NaN;
      frac = 0;
      continue;
    }
    const d = ch - 48;
    if (d < 0 || d > 9) return NaN;
    m = m * 10 + d;
    digits++;
    if (frac >= 0) frac++;
  }
  if (digits === 0 || digits > 15) return NaN;
  const k = frac > 0 ? frac : 0;
  const x = k === 0 ? m : m / POW10[k];
  return neg ? -x : x;
}

let fastDayKey = -1;
let fastDayMs = NaN;

const d2 = (s: string, i: number): number => {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
};

/**
 * `parseTimestamp(text)` for `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS]` with an optional `Z`
 * (UTC), else NaN (the caller then takes the general path). The day is checked and converted
 * once per day (as `parseIsoTime` does it), the clock by digits.
 */
function fastIsoTime(text: string | undefined): number {
  if (text === undefined) return NaN;
  let len = text.length;
  if (len > 10 && text.charCodeAt(len - 1) === 90) len--; // Z
  if (len !== 10 && len !== 16 && len !== 19) return NaN;
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return NaN;
  const y = d2(text, 0) * 100 + d2(text, 2);
  const mo = d2(text, 5);
  const d = d2(text, 8);
  const key = y * 10000 + mo * 100 + d;
  if (!(key >= 0)) return NaN;
  if (key !== fastDayKey) {
    const ms = parseIsoTime(text.slice(0, 10));
    if (!Number.isFinite(ms)) return NaN;
    fastDayKey = key;
    fastDayMs = ms;
  }
  if (len === 10) return text.length === 10 ? fastDayMs : NaN;
  const sep = text.charCodeAt(10);
  if ((sep !== 84 && sep !== 32) || text.charCodeAt(13) !== 58) return NaN;
  const hh = d2(text, 11);
  const mm = d2(text, 14);
  let ss = 0;
  if (len === 19) {
    if (text.charCodeAt(16) !== 58) return NaN;
    ss = d2(text, 17);
  }
  if (!(hh <= 23 && mm <= 59 && ss <= 59)) return NaN;
  return fastDayMs + ((hh * 60 + mm) * 60 + ss) * 1000;
}

/** A Yahoo-style missing row: every price is `null` (or empty). */
function isEmptyValue(text: string | undefined): boolean {
  const s = unquote(text ?? '').toLowerCase();
  return s === '' || s === 'null' || s === 'nan' || s === 'n/a';
}

interface ColumnPlan {
  time: number[];
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  info: Extract<NonNullable<Bars['source']>, { kind: 'csv' }>['columns'];
  notes: string[];
}

/** Which column feeds each field, or a message naming what is missing. */
function planColumns(header: string[]): ColumnPlan | string {
  const names = header.map(normaliseHeader);
  const find = (field: Field): number => {
    for (const alias of CSV_COLUMN_ALIASES[field]) {
      const i = names.indexOf(alias);
      if (i >= 0) return i;
    }
    return -1;
  };
  const notes: string[] = [];
  const got = header.map((h) => unquote(h)).join(',');
  let time: number[];
  let timeName: string;
  const ts = find('time');
  const date = find('date');
  const clock = find('clock');
  if (ts >= 0) {
    time = [ts];
    timeName = unquote(header[ts]);
  } else if (date >= 0 && clock >= 0) {
    time = [date, clock];
    timeName = `${unquote(header[date])}+${unquote(header[clock])}`;
    notes.push(`time = "${unquote(header[date])}" and "${unquote(header[clock])}" joined`);
  } else if (date >= 0 || clock >= 0) {
    const k = date >= 0 ? date : clock;
    time = [k];
    timeName = unquote(header[k]);
  } else {
    return `header has no time column (expected one of timestamp, datetime, date, time), got ${got}`;
  }
  const need = (field: 'open' | 'high' | 'low'): number => find(field);
  const open = need('open');
  const high = need('high');
  const low = need('low');
  let close = find('close');
  const adj = find('adj_close');
  const missing: string[] = [];
  if (open < 0) missing.push('open');
  if (high < 0) missing.push('high');
  if (low < 0) missing.push('low');
  if (close < 0 && adj < 0) missing.push('close');
  if (missing.length > 0) {
    return `header is missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} (expected a time column and open, high, low, close; volume optional), got ${got}`;
  }
  if (close >= 0 && adj >= 0) {
    notes.push(
      `"${unquote(header[adj])}" ignored: "${unquote(header[close])}" is the close (consistent with open/high/low)`,
    );
  } else if (close < 0) {
    close = adj;
    notes.push(`no close column: "${unquote(header[adj])}" used as the close`);
  }
  const volume = find('volume');
  if (volume < 0) notes.push('no volume column: volume is 0');
  const name = (i: number): string => unquote(header[i]);
  return {
    time,
    open,
    high,
    low,
    close,
    volume,
    info: {
      time: timeName,
      open: name(open),
      high: name(high),
      low: name(low),
      close: name(close),
      volume: volume >= 0 ? name(volume) : null,
    },
    notes,
  };
}

/**
 * Parses CSV text in the documented format (see README). `source` names the file in errors.
 * Rows are validated (line numbers in errors) and returned sorted by time; `bars.source` says
 * which columns were used.
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
      `${source}: file is empty (expected a header such as timestamp,open,high,low,close,volume)`,
      source,
    );
  }
  const headerCells = header.split(',');
  const plan = planColumns(headerCells);
  if (typeof plan === 'string') return fail(lineNo, plan);
  const normalised = headerCells.map(normaliseHeader);
  for (const idx of [...plan.time, plan.open, plan.high, plan.low, plan.close]) {
    if (normalised.indexOf(normalised[idx], idx + 1) >= 0) {
      fail(lineNo, `header has column "${unquote(headerCells[idx])}" twice`);
    }
  }
  const nCols = headerCells.length;

  // Upper bound on rows for allocation.
  let maxRows = 0;
  for (let p = pos; p < body.length; p = body.indexOf('\n', p) + 1) maxRows++;
  const out = allocBars(symbol, timeframe, maxRows);
  const lines = new Float64Array(maxRows);
  let n = 0;
  let skipped = 0;
  let sorted = true;
  const timeText = (cells: string[]): string => plan.time.map((k) => unquote(cells[k])).join('T');
  const fastTime = plan.time.length === 1 ? plan.time[0] : -1;
  const { open: iOpen, high: iHigh, low: iLow, close: iClose, volume: iVolume } = plan;
  while (pos < body.length) {
    const nl = body.indexOf('\n', pos);
    const end = nl > pos && body.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    const raw = body.slice(pos, end);
    pos = nl + 1;
    lineNo++;
    const c0 = raw.charCodeAt(0);
    if (raw.length === 0 || ((c0 <= 32 || c0 >= 127) && raw.trim() === '')) continue;
    const cells = raw.split(',');
    if (cells.length !== nCols) fail(lineNo, `expected ${nCols} fields, got ${cells.length}`);
    // Fast path for the common row (one ISO or plain-decimal cell per field, a valid bar): the
    // same values as the general path below, which handles (and reports) everything else.
    if (fastTime >= 0) {
      const t = fastIsoTime(cells[fastTime]);
      const o = fastDecimal(cells[iOpen]);
      const h = fastDecimal(cells[iHigh]);
      const l = fastDecimal(cells[iLow]);
      const c = fastDecimal(cells[iClose]);
      const v = iVolume >= 0 ? fastDecimal(cells[iVolume]) : 0;
      // NaN fails every comparison: any cell the fast path did not take goes the general way.
      if (t === t && o > 0 && h > 0 && l > 0 && c > 0 && v >= 0 && v < Infinity) {
        if (h < Infinity && h >= Math.max(o, c, l) && l <= Math.min(o, c)) {
          if (n > 0 && t <= out.time[n - 1]) sorted = false;
          out.time[n] = t;
          out.open[n] = o;
          out.high[n] = h;
          out.low[n] = l;
          out.close[n] = c;
          out.volume[n] = v;
          lines[n] = lineNo;
          n++;
          continue;
        }
      }
    }
    if ([plan.open, plan.high, plan.low, plan.close].every((k) => isEmptyValue(cells[k]))) {
      skipped++; // e.g. Yahoo's "null" rows for days without data
      continue;
    }
    const t = parseTimestamp(timeText(cells));
    if (!Number.isFinite(t)) {
      fail(
        lineNo,
        `invalid timestamp ${JSON.stringify(timeText(cells))} in column "${plan.info.time}" (expected ISO-8601 such as 2024-01-02 or 2024-01-02T14:30:00-05:00, or integer epoch seconds/milliseconds)`,
      );
    }
    const o = parseNumber(cells[plan.open]);
    const h = parseNumber(cells[plan.high]);
    const l = parseNumber(cells[plan.low]);
    const c = parseNumber(cells[plan.close]);
    const v = plan.volume >= 0 ? parseNumber(cells[plan.volume]) : 0;
    const values: [string, number, number][] = [
      ['open', o, plan.open],
      ['high', h, plan.high],
      ['low', l, plan.low],
      ['close', c, plan.close],
    ];
    for (const [name, x, k] of values) {
      if (!Number.isFinite(x) || x <= 0) {
        fail(lineNo, `${name} must be a positive number, got ${JSON.stringify(unquote(cells[k]))}`);
      }
    }
    if (!Number.isFinite(v) || v < 0) {
      fail(
        lineNo,
        `volume must be a number >= 0, got ${JSON.stringify(unquote(cells[plan.volume]))}`,
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
  if (n === 0) {
    throw new MarketDataError(
      `${source}: no data rows after the header${skipped > 0 ? ` (${skipped} empty rows skipped)` : ''}`,
      source,
    );
  }

  let order: Uint32Array | undefined;
  if (!sorted) {
    order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => out.time[a] - out.time[b] || a - b);
  }
  const notes = [...plan.notes];
  if (skipped > 0) notes.push(`${skipped} rows without prices skipped`);
  const res: Bars = {
    ...allocBars(symbol, timeframe, n),
    source: {
      kind: 'csv',
      file: basename(source),
      columns: plan.info,
      notes,
      rows: n,
      skipped_rows: skipped,
      first_bar: '',
      last_bar: '',
    },
  };
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
  const src = res.source as Extract<NonNullable<Bars['source']>, { kind: 'csv' }>;
  src.first_bar = new Date(res.time[0]).toISOString();
  src.last_bar = new Date(res.time[n - 1]).toISOString();
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
  /**
   * Bars loaded before: a hit skips reading (or generating) the data. CSV files are cached whole
   * (the dates are applied to the cached bars), keyed by path, inode, size and mtime.
   */
  cache?: BarsCache;
}

/** Default range for SYNTH-* symbols when a bound is missing. */
export const SYNTH_DEFAULT_START = '2024-01-01T00:00:00Z';
export const SYNTH_DEFAULT_COUNT = 1000;

/** What the data dir has for a symbol (file names), to say what exists when a file is missing. */
function filesFor(dataDir: string, symbol: string): string[] | null {
  try {
    const prefix = `${symbol}_`.toLowerCase();
    return readdirSync(dataDir)
      .filter((f) => f.toLowerCase().startsWith(prefix) && f.toLowerCase().endsWith('.csv'))
      .sort();
  } catch {
    return null; // the data dir itself is missing or unreadable
  }
}

/** The error for a symbol/timeframe without a file: where it looked and what is there instead. */
function missingDataError(dataDir: string, symbol: string, timeframe: string): MarketDataError {
  const path = csvPathFor(dataDir, symbol, timeframe);
  const files = filesFor(dataDir, symbol);
  const there =
    files === null
      ? `; the data directory ${dataDir} does not exist or cannot be read (KTRDR_DATA_DIR)`
      : files.length > 0
        ? `; files for ${symbol} in ${dataDir}: ${files.join(', ')}`
        : '';
  return new MarketDataError(
    `No data for symbol ${symbol} timeframe ${timeframe}: expected file ${path}${there} (or use a SYNTH-* symbol)`,
    path,
  );
}

/**
 * Checks in milliseconds, without reading the whole file, that `loadBars(opts)` can find its
 * data: a SYNTH-* symbol, or an existing `{dataDir}/{symbol}_{timeframe}.csv` whose header has the
 * needed columns; dates are parsed and ordered. Throws the same MarketDataError `loadBars` would.
 */
export function checkBarsAvailable(opts: Omit<LoadBarsOptions, 'signal'>): void {
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
  if (isSynthSymbol(symbol)) return;
  const path = csvPathFor(dataDir, symbol, timeframe);
  if (!existsSync(path)) throw missingDataError(dataDir, symbol, timeframe);
  let head: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(65_536);
      const n = readSync(fd, buf, 0, buf.length, 0);
      head = buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new MarketDataError(`Cannot read ${path}: ${(err as Error).message}`, path);
  }
  if (head.charCodeAt(0) === 0xfeff) head = head.slice(1);
  const lines = head.split('\n');
  let k = 0;
  while (k < lines.length && lines[k].trim() === '') k++;
  if (k >= lines.length) {
    throw new MarketDataError(
      `${path}: file is empty (expected a header such as timestamp,open,high,low,close,volume)`,
      path,
    );
  }
  const plan = planColumns(lines[k].replace(/\r$/, '').split(','));
  if (typeof plan === 'string') {
    throw new MarketDataError(`${path}:${k + 1}: ${plan}`, path, k + 1);
  }
}

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
    const key = `synth\0${symbol}\0${timeframe}\0${from}\0${end ?? `count ${SYNTH_DEFAULT_COUNT}`}`;
    const cached = opts.cache?.get(key);
    if (cached) return cached;
    const bars = synthBars(symbol, timeframe, from, end ?? { count: SYNTH_DEFAULT_COUNT }, {
      signal: opts.signal,
      onProgress: opts.onProgress,
    });
    const out: Bars = { ...bars, source: { kind: 'synthetic' } };
    opts.cache?.set(key, out);
    return out;
  }
  const path = csvPathFor(dataDir, symbol, timeframe);
  if (!existsSync(path)) throw missingDataError(dataDir, symbol, timeframe);
  const cache = opts.cache;
  if (!cache) return filterBarsByTime(loadBarsFromCsv(path, symbol, timeframe), start, end);
  let key: string;
  try {
    const st = statSync(path);
    key = `csv\0${path}\0${st.dev}:${st.ino}\0${st.size}\0${st.mtimeMs}\0${symbol}\0${timeframe}`;
  } catch (err) {
    throw new MarketDataError(`Cannot read ${path}: ${(err as Error).message}`, path);
  }
  let all = cache.get(key);
  if (!all) {
    all = loadBarsFromCsv(path, symbol, timeframe);
    cache.set(key, all);
  }
  return filterBarsByTime(all, start, end);
}
