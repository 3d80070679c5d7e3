const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(?: ?(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?$/;
const INTEGER_PATTERN = /^-?\d+$/;

/** Epoch-ms values below this are taken as epoch seconds (1e11 s is the year 5138). */
export const EPOCH_SECONDS_LIMIT = 1e11;

/**
 * Parses an ISO-8601 date or date-time to epoch milliseconds (UTC).
 * Accepted: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DDTHH:MM:SS.fff`
 * (a space may replace `T`), optionally followed (after an optional space) by `Z`, `UTC`, `GMT` or
 * an offset `+HH:MM` / `+HHMM` / `+HH`.
 * Without an offset the value is UTC (never local time). Returns `NaN` when invalid.
 */
export function parseIsoTime(text: string): number {
  const m = ISO_PATTERN.exec(text);
  if (!m) return NaN;
  const [, y, mo, d, hh, mm, ss, frac, zone] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = hh === undefined ? 0 : Number(hh);
  const minute = mm === undefined ? 0 : Number(mm);
  const second = ss === undefined ? 0 : Number(ss);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return NaN;
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  let t = Date.UTC(Number(y), month - 1, day, hour, minute, second, ms);
  // Date.UTC rolls over (Feb 30 -> Mar 2); reject such dates.
  const check = new Date(t);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return NaN;
  if (zone !== undefined && !['Z', 'z', 'UTC', 'GMT'].includes(zone)) {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offH = Number(digits.slice(0, 2));
    const offM = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (offH > 23 || offM > 59) return NaN;
    t -= sign * (offH * 60 + offM) * 60_000;
  }
  return t;
}

/**
 * Parses a bar timestamp: an ISO-8601 date/date-time (see `parseIsoTime`) or an integer epoch
 * value — seconds when its magnitude is below 1e11, milliseconds otherwise.
 * Returns `NaN` when invalid.
 */
export function parseTimestamp(text: string): number {
  const s = text.trim();
  if (INTEGER_PATTERN.test(s)) {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) return NaN;
    return Math.abs(n) < EPOCH_SECONDS_LIMIT ? n * 1000 : n;
  }
  return parseIsoTime(s);
}

/** A point in time: epoch ms, an ISO-8601 string (see `parseIsoTime`) or a Date. */
export type TimeLike = number | string | Date;

/** Converts a `TimeLike` to epoch ms; throws a `RangeError` naming `what` when invalid. */
export function toEpochMs(value: TimeLike, what = 'time'): number {
  let t: number;
  if (value instanceof Date) t = value.getTime();
  else if (typeof value === 'number') t = value;
  else if (typeof value === 'string') t = parseIsoTime(value.trim());
  else t = NaN;
  if (!Number.isFinite(t)) {
    throw new RangeError(
      `Invalid ${what} ${JSON.stringify(value instanceof Date ? String(value) : value)}: expected an ISO-8601 date or date-time (e.g. 2024-01-01 or 2024-01-01T00:00:00Z)`,
    );
  }
  return t;
}
