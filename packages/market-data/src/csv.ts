import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { allocBars, Bars, filterBarsByTime } from './bars';
import type { BarsCache } from './cache';
import { decimalAt, timeAt } from './csv-scan';
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

/** Bytes kept readable after the data in a read buffer (the scanners' fixed-width reads). */
const SLACK = 64;
/** Bytes read from a file at a time (a buffer this size is reused for the whole file). */
const CHUNK = 1 << 18;

/** Where the bytes of a CSV come from, and the text of one of its lines for the general path. */
interface CsvInput {
  /** Holds the first bytes, `buf[0, end)`, and at least SLACK more bytes. */
  buf: Buffer;
  end: number;
  /** Total bytes when known (0 otherwise), to size the columns. */
  size: number;
  /** Reads up to `length` more bytes into `buf` at `offset`, 0 at the end; null: all is in `buf`. */
  read: ((buf: Buffer, offset: number, length: number) => number) | null;
  /** Line `lineNo` (1-based, after a BOM) without its line break; its bytes are `buf[start, end)`. */
  line(buf: Buffer, start: number, end: number, lineNo: number): string;
}

/** A window on the input: whole lines up to `lastNl` (the last `\n` in `buf[0, end)`, or -1). */
class ByteWindow {
  buf: Buffer;
  end: number;
  lastNl: number;
  eof: boolean;
  /** Input bytes dropped before `buf[0]`. */
  base = 0;

  constructor(private readonly input: CsvInput) {
    this.buf = input.buf;
    this.end = input.end;
    this.eof = input.read === null;
    this.lastNl = this.end > 0 ? this.buf.lastIndexOf(10, this.end - 1) : -1;
  }

  /** Keeps `buf[from, end)` (moved to the start, so the caller's index becomes 0) and reads more. */
  fill(from: number): void {
    const read = this.input.read;
    if (read === null) {
      this.eof = true;
      return;
    }
    const keep = this.end - from;
    if (from > 0) this.buf.copyWithin(0, from, this.end);
    if (keep + SLACK >= this.buf.length) {
      const grown = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(grown, 0, 0, keep);
      this.buf = grown;
    }
    this.base += from;
    this.end = keep;
    const k = read(this.buf, keep, this.buf.length - SLACK - keep);
    if (k > 0) this.end += k;
    else this.eof = true;
    this.lastNl = this.end > 0 ? this.buf.lastIndexOf(10, this.end - 1) : -1;
  }
}

/** Cell roles of the fast path (index into its scratch values). */
const SKIP = 0;
const TIME = 1;
const OPEN = 2;
const HIGH = 3;
const LOW = 4;
const CLOSE = 5;
const VOLUME = 6;

/** What the general path made of a line. */
const ROW = 0;
const BLANK = 1;
const NO_PRICES = 2;

/** `a` copied to a new array of `length` values. */
function resized(a: Float64Array, length: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(length);
  b.set(a.subarray(0, Math.min(a.length, length)));
  return b;
}

/** The columns being filled (`n` rows of `cap`), whether the times are increasing so far. */
class Columns {
  time: Float64Array<ArrayBuffer>;
  open: Float64Array<ArrayBuffer>;
  high: Float64Array<ArrayBuffer>;
  low: Float64Array<ArrayBuffer>;
  close: Float64Array<ArrayBuffer>;
  volume: Float64Array<ArrayBuffer>;
  n = 0;
  sorted = true;
  prevTime = -Infinity;
  /** Number of the line read last. */
  line = 0;
  /** Line numbers (for errors): row k is on line k + shift of the last pair (row, shift) <= k. */
  readonly shifts: number[] = [];
  shift = -1;

  constructor(public cap: number) {
    this.time = new Float64Array(cap);
    this.open = new Float64Array(cap);
    this.high = new Float64Array(cap);
    this.low = new Float64Array(cap);
    this.close = new Float64Array(cap);
    this.volume = new Float64Array(cap);
  }

  /** Makes room for more rows. */
  grow(): void {
    this.resize(Math.ceil(this.cap * 1.5) + 1024);
  }

  resize(cap: number): void {
    this.cap = cap;
    this.time = resized(this.time, cap);
    this.open = resized(this.open, cap);
    this.high = resized(this.high, cap);
    this.low = resized(this.low, cap);
    this.close = resized(this.close, cap);
    this.volume = resized(this.volume, cap);
  }

  /** Appends a valid bar read on line `this.line` (room checked by the caller). */
  add(t: number, o: number, h: number, l: number, c: number, v: number): void {
    const n = this.n;
    if (t <= this.prevTime) this.sorted = false;
    this.prevTime = t;
    this.time[n] = t;
    this.open[n] = o;
    this.high[n] = h;
    this.low[n] = l;
    this.close[n] = c;
    this.volume[n] = v;
    if (this.line - n !== this.shift) this.shiftAt(n, this.line);
    this.n = n + 1;
  }

  /** Row n is on line `line`, not right after row n - 1. */
  shiftAt(n: number, line: number): void {
    this.shift = line - n;
    this.shifts.push(n, this.shift);
  }

  lineOf(k: number): number {
    const s = this.shifts;
    let i = 0;
    while (i + 2 < s.length && s[i + 2] <= k) i += 2;
    return k + s[i + 1];
  }
}

/**
 * The fast path: adds the rows of the lines from `p` on (whole lines, up to `lastNl`) while they
 * are common rows: the cells by `layout` (a role per column), each ended by `,` or the line end
 * (`\n` or `\r\n`), read by `timeAt`/`decimalAt`, and a valid bar. Returns where it stopped: after
 * `lastNl`, at a line it does not take, or with the columns full.
 */
function fastRows(
  buf: Uint8Array,
  p: number,
  lastNl: number,
  layout: Uint8Array,
  vals: Float64Array,
  cols: Columns,
): number {
  const last = layout.length - 1;
  // The columns do not grow in here: their arrays are held in locals (`Columns.add` is for the
  // general path's rows).
  const { cap, time, open, high, low, close, volume } = cols;
  let n = cols.n;
  let line = cols.line;
  let prev = cols.prevTime;
  let sorted = cols.sorted;
  while (p <= lastNl && n < cap) {
    let q = p;
    let k = 0;
    for (; k <= last; k++) {
      const role = layout[k];
      let ch: number;
      if (role === SKIP) {
        ch = buf[q];
        while (ch !== 44 && ch !== 10) ch = buf[++q];
      } else {
        q = role === TIME ? timeAt(buf, q, vals, TIME) : decimalAt(buf, q, vals, role);
        if (q < 0) break; // not a spelling the fast path takes
        ch = buf[q];
      }
      if (k < last) {
        if (ch !== 44) break;
        q++;
      } else if (ch === 13 && buf[q + 1] === 10) {
        q++;
      } else if (ch !== 10) {
        break;
      }
    }
    if (k <= last) break;
    const t = vals[TIME];
    const o = vals[OPEN];
    const h = vals[HIGH];
    const l = vals[LOW];
    const c = vals[CLOSE];
    const v = vals[VOLUME];
    // A row the general path would reject goes there, to be reported.
    if (!(o > 0 && l > 0 && c > 0 && v >= 0 && h >= Math.max(o, c, l) && l <= Math.min(o, c))) {
      break;
    }
    line++;
    if (line - n !== cols.shift) cols.shiftAt(n, line);
    if (t <= prev) sorted = false;
    prev = t;
    time[n] = t;
    open[n] = o;
    high[n] = h;
    low[n] = l;
    close[n] = c;
    volume[n] = v;
    n++;
    p = q + 1;
  }
  cols.n = n;
  cols.line = line;
  cols.prevTime = prev;
  cols.sorted = sorted;
  return p;
}

/**
 * The CSV parser (format in README) over bytes. The common row (one cell of each field in the
 * spellings of `decimalAt`/`timeAt`, a valid bar) is read straight from the bytes; any other line
 * is decoded and goes the general way, which handles (and reports) everything else with the same
 * results. Rows are validated (line numbers in errors) and returned sorted by time.
 */
function parseCsvInput(input: CsvInput, symbol: string, timeframe: string, source: string): Bars {
  const win = new ByteWindow(input);
  let p = 0;
  while (p > win.lastNl && !win.eof) win.fill(p);
  parseTimeframe(timeframe);
  const fail = (line: number, msg: string): never => {
    throw new MarketDataError(`${source}:${line}: ${msg}`, source, line);
  };
  let buf = win.buf;
  // The first line is whole in the window: a BOM is there if the input has one.
  if (win.end >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) p = 3;

  // Header: first non-empty line.
  let lineNo = 0;
  let header: string | undefined;
  for (;;) {
    while (p > win.lastNl && !win.eof) {
      win.fill(p);
      p = 0;
    }
    buf = win.buf;
    if (p >= win.end) break;
    const nl = p <= win.lastNl ? buf.indexOf(10, p) : win.end;
    const e = nl > p && buf[nl - 1] === 13 ? nl - 1 : nl;
    const raw = input.line(buf, p, e, ++lineNo);
    p = nl + 1;
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

  // Room for the rows: the lines in the window when it holds the whole input, else an estimate
  // from their length (the columns grow when it is short, and are cut to length at the end).
  let cap = 0;
  for (let q = p; q <= win.lastNl; q = buf.indexOf(10, q) + 1) cap++;
  if (win.eof || win.base + win.end === input.size) {
    if (win.end > Math.max(p, win.lastNl + 1)) cap++; // a last line without a line break
  } else {
    const left = input.size - (win.base + p);
    const seen = win.lastNl + 1 - p;
    cap = seen > 0 && left > seen ? Math.ceil((cap * left) / seen) + 1024 : 2 * cap + 1024;
  }
  const cols = new Columns(cap);
  cols.line = lineNo;
  let skipped = 0;

  const layout = new Uint8Array(nCols);
  const fast = plan.time.length === 1;
  if (fast) {
    layout[plan.time[0]] = TIME;
    layout[plan.open] = OPEN;
    layout[plan.high] = HIGH;
    layout[plan.low] = LOW;
    layout[plan.close] = CLOSE;
    if (plan.volume >= 0) layout[plan.volume] = VOLUME;
  }
  const vals = new Float64Array(VOLUME + 1); // by role; volume stays 0 without a column

  // The general path: one decoded line; a row's values go to `row` (time, open, ..., volume).
  const row = new Float64Array(6);
  const timeText = (cells: string[]): string => plan.time.map((k) => unquote(cells[k])).join('T');
  const general = (raw: string, line: number): number => {
    const c0 = raw.charCodeAt(0);
    if (raw.length === 0 || ((c0 <= 32 || c0 >= 127) && raw.trim() === '')) return BLANK;
    const cells = raw.split(',');
    if (cells.length !== nCols) fail(line, `expected ${nCols} fields, got ${cells.length}`);
    if ([plan.open, plan.high, plan.low, plan.close].every((k) => isEmptyValue(cells[k]))) {
      return NO_PRICES; // e.g. Yahoo's "null" rows for days without data
    }
    const t = parseTimestamp(timeText(cells));
    if (!Number.isFinite(t)) {
      fail(
        line,
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
        fail(line, `${name} must be a positive number, got ${JSON.stringify(unquote(cells[k]))}`);
      }
    }
    if (!Number.isFinite(v) || v < 0) {
      fail(
        line,
        `volume must be a number >= 0, got ${JSON.stringify(unquote(cells[plan.volume]))}`,
      );
    }
    if (h < Math.max(o, c, l)) fail(line, `high ${h} is below open/close/low`);
    if (l > Math.min(o, c)) fail(line, `low ${l} is above open/close`);
    row[0] = t;
    row[1] = o;
    row[2] = h;
    row[3] = l;
    row[4] = c;
    row[5] = v;
    return ROW;
  };

  for (;;) {
    if (p > win.lastNl && !win.eof) {
      win.fill(p);
      p = 0;
      continue;
    }
    if (p >= win.end) break;
    buf = win.buf;
    if (fast && p <= win.lastNl) {
      p = fastRows(buf, p, win.lastNl, layout, vals, cols);
      if (p > win.lastNl) continue;
      if (cols.n >= cols.cap) {
        cols.grow(); // the line at p is not tried yet
        continue;
      }
    }
    // The line at p goes the general way (so does a last line without a line break).
    const start = p;
    const nl = p <= win.lastNl ? buf.indexOf(10, p) : win.end;
    const e = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
    p = nl + 1;
    const line = ++cols.line;
    const got = general(input.line(buf, start, e, line), line);
    if (got === NO_PRICES) skipped++;
    if (got !== ROW) continue;
    if (cols.n >= cols.cap) cols.grow();
    cols.add(row[0], row[1], row[2], row[3], row[4], row[5]);
  }
  const n = cols.n;
  if (n === 0) {
    throw new MarketDataError(
      `${source}: no data rows after the header${skipped > 0 ? ` (${skipped} empty rows skipped)` : ''}`,
      source,
    );
  }
  const notes = [...plan.notes];
  if (skipped > 0) notes.push(`${skipped} rows without prices skipped`);
  const src: Extract<NonNullable<Bars['source']>, { kind: 'csv' }> = {
    kind: 'csv',
    file: basename(source),
    columns: plan.info,
    notes,
    rows: n,
    skipped_rows: skipped,
    first_bar: '',
    last_bar: '',
  };
  let res: Bars;
  if (cols.sorted) {
    // Strictly increasing times, so no duplicates: the columns as read, cut to length.
    if (n !== cols.cap) cols.resize(n);
    const { time, open, high, low, close, volume } = cols;
    res = { symbol, timeframe, time, open, high, low, close, volume, length: n, source: src };
  } else {
    const { time, open, high, low, close, volume } = cols;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => time[a] - time[b] || a - b);
    res = { ...allocBars(symbol, timeframe, n), source: src };
    for (let k = 0; k < n; k++) {
      const i = order[k];
      res.time[k] = time[i];
      res.open[k] = open[i];
      res.high[k] = high[i];
      res.low[k] = low[i];
      res.close[k] = close[i];
      res.volume[k] = volume[i];
      if (k > 0 && res.time[k] === res.time[k - 1]) {
        fail(
          cols.lineOf(i),
          `duplicate timestamp ${new Date(res.time[k]).toISOString()} (also on line ${cols.lineOf(order[k - 1])})`,
        );
      }
    }
  }
  src.first_bar = new Date(res.time[0]).toISOString();
  src.last_bar = new Date(res.time[n - 1]).toISOString();
  return res;
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
  const size = Buffer.byteLength(text, 'utf8');
  const buf = Buffer.alloc(size + SLACK);
  buf.write(text, 0, size, 'utf8');
  // The general path takes its lines from `text` (not the bytes, which lost any lone surrogate):
  // a cursor at the start of line `at`, moved forward to the line asked for.
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let at = 1;
  const line = (_b: Buffer, _s: number, _e: number, lineNo: number): string => {
    for (; at < lineNo; at++) pos = text.indexOf('\n', pos) + 1;
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    return text.slice(pos, nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
  };
  return parseCsvInput({ buf, end: size, size, read: null, line }, symbol, timeframe, source);
}

/** Reads `path` (format in README) as bars of `symbol`/`timeframe`, validated and sorted by time. */
export function loadBarsFromCsv(path: string, symbol: string, timeframe: string): Bars {
  const cannot = (err: unknown): MarketDataError =>
    new MarketDataError(`Cannot read ${path}: ${(err as Error).message}`, path);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw cannot(err);
  }
  try {
    let size: number;
    try {
      size = fstatSync(fd).size;
    } catch (err) {
      throw cannot(err);
    }
    const read = (buf: Buffer, offset: number, length: number): number => {
      try {
        return readSync(fd, buf, offset, length, null);
      } catch (err) {
        throw cannot(err);
      }
    };
    // Files are read in chunks into one buffer: no copy of the whole file is ever made.
    const buf = Buffer.alloc(Math.min(Math.max(size + 1, 4096), CHUNK) + SLACK);
    const line = (b: Buffer, start: number, end: number): string => b.toString('utf8', start, end);
    return parseCsvInput({ buf, end: 0, size, read, line }, symbol, timeframe, path);
  } finally {
    closeSync(fd);
  }
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
