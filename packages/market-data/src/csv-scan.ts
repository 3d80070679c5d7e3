import { EPOCH_SECONDS_LIMIT, parseIsoTime } from './time';

/*
 * Byte scanners for the CSV fast path: each reads one cell of a common spelling straight from the
 * bytes of a line, puts exactly the value the general (string) path gives for it in `out[slot]`
 * and returns the index of the byte after the cell's text (the caller checks that this byte ends
 * the cell), or -1 for anything else (the caller then takes the general path, which reports
 * errors). They return indices, not values: a double returned from a call that is not inlined is
 * boxed, an allocation per cell.
 *
 * The caller guarantees that a `\n` follows `p` in `b` and that at least 24 readable bytes follow
 * that `\n`: the loops stop at the `\n` (it is no digit), and the fixed-width reads of a time reach
 * at most 21 bytes past `p`. Such a read may pass the line's `\n`, but a cell is only taken when
 * every byte up to its end matched, and `\n` matches none of them.
 */

/** Exact powers of ten (10^k is a double exactly for k <= 22). */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** 2^53: below it every integer is a double exactly. */
const EXACT_LIMIT = 2 ** 53;

/**
 * `Number(text)` for a plain decimal `[+-]digits[.digits]` (or `[+-].digits`) of at most 16 digits
 * whose digits, read as one integer m, are below 2^53. m is then exact, so is 10^k (k <= 16), and
 * m / 10^k is the correctly rounded value of the decimal, the same double `Number` gives. Anything
 * else (exponent, spaces, quotes, more digits) is -1.
 */
export function decimalAt(b: Uint8Array, p: number, out: Float64Array, slot: number): number {
  let ch = b[p];
  const neg = ch === 45;
  if (neg || ch === 43) ch = b[++p];
  const start = p;
  let m = 0;
  let d = ch - 48;
  while (d >>> 0 < 10) {
    m = m * 10 + d;
    d = b[++p] - 48;
  }
  let digits = p - start;
  let k = 0; // digits after the point
  if (d === -2) {
    // '.'
    const from = ++p;
    d = b[p] - 48;
    while (d >>> 0 < 10) {
      m = m * 10 + d;
      d = b[++p] - 48;
    }
    k = p - from;
    digits += k;
  }
  if (digits === 0 || digits > 16 || m >= EXACT_LIMIT) return -1;
  const x = k === 0 ? m : m / POW10[k];
  out[slot] = neg ? -x : x;
  return p;
}

/** Two decimal digits at `i` as a number, else NaN. */
function digits2(b: Uint8Array, i: number): number {
  const x = b[i] - 48;
  const y = b[i + 1] - 48;
  return x >>> 0 < 10 && y >>> 0 < 10 ? x * 10 + y : NaN;
}

/** The day last converted (`yyyymmdd`) and its epoch ms: consecutive bars share their day. */
const lastDay = new Float64Array([-1, NaN]);

/**
 * `parseTimestamp(text)` for `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS]` with an optional `Z`, or an
 * integer epoch value `[-]digits` (seconds below 1e11, else ms, as `parseTimestamp` reads it), else
 * -1. The day is checked and converted by `parseIsoTime` once per day, the clock by digits.
 */
export function timeAt(b: Uint8Array, p: number, out: Float64Array, slot: number): number {
  if (b[p + 4] !== 45) return epochAt(b, p, out, slot);
  if (b[p + 7] !== 45) return -1;
  const key = (digits2(b, p) * 100 + digits2(b, p + 2)) * 10000 + digits2(b, p + 5) * 100;
  const day = key + digits2(b, p + 8);
  if (!(day >= 0)) return -1;
  if (day !== lastDay[0]) {
    const text = String.fromCharCode(
      b[p],
      b[p + 1],
      b[p + 2],
      b[p + 3],
      45,
      b[p + 5],
      b[p + 6],
      45,
      b[p + 8],
      b[p + 9],
    );
    const ms = parseIsoTime(text);
    if (!Number.isFinite(ms)) return -1;
    lastDay[0] = day;
    lastDay[1] = ms;
  }
  const sep = b[p + 10];
  if (sep !== 84 && sep !== 32) {
    out[slot] = lastDay[1];
    return p + 10;
  }
  if (b[p + 13] !== 58) return -1;
  const hh = digits2(b, p + 11);
  const mm = digits2(b, p + 14);
  let ss = 0;
  let end = p + 16;
  if (b[end] === 58) {
    ss = digits2(b, p + 17);
    end = p + 19;
  }
  if (b[end] === 90) end++; // Z
  if (!(hh <= 23 && mm <= 59 && ss <= 59)) return -1;
  out[slot] = lastDay[1] + ((hh * 60 + mm) * 60 + ss) * 1000;
  return end;
}

/** An integer epoch value `[-]digits` below 2^53 in magnitude, as `parseTimestamp` reads it. */
function epochAt(b: Uint8Array, p: number, out: Float64Array, slot: number): number {
  let ch = b[p];
  const neg = ch === 45;
  if (neg) ch = b[++p];
  const start = p;
  let m = 0;
  for (;;) {
    const d = ch - 48;
    if (d >>> 0 >= 10) break;
    m = m * 10 + d;
    ch = b[++p];
  }
  if (p === start || p - start > 16 || m >= EXACT_LIMIT) return -1;
  const n = neg ? -m : m;
  out[slot] = m < EPOCH_SECONDS_LIMIT ? n * 1000 : n;
  return p;
}
