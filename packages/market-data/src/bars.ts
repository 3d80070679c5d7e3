/**
 * A series of OHLCV bars stored column-wise in typed arrays, so engines can loop over
 * millions of bars without allocating an object per bar.
 */
export interface Bars {
  readonly symbol: string;
  readonly timeframe: string;
  /** Bar open time, epoch milliseconds (UTC). */
  readonly time: Float64Array;
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
  readonly length: number;
  /** Where the bars came from (set by the loaders; carried by slices). */
  readonly source?: BarsSource;
}

/** How a series was obtained: which file and columns, or generated. */
export type BarsSource =
  | {
      kind: 'csv';
      /** File name only (no directory). */
      file: string;
      /** Header names used for each field (volume null when the file has none). */
      columns: {
        time: string;
        open: string;
        high: string;
        low: string;
        close: string;
        volume: string | null;
      };
      /** What the loader decided (ignored columns, defaults, skipped rows). */
      notes: string[];
      /** Data rows read and rows skipped as empty (e.g. Yahoo `null` rows). */
      rows: number;
      skipped_rows: number;
      /** First and last bar time of the whole file (before date filtering), ISO. */
      first_bar: string;
      last_bar: string;
    }
  | { kind: 'synthetic' };

/** Allocates a zero-filled `Bars` of the given length. */
export function allocBars(symbol: string, timeframe: string, length: number): Bars {
  return {
    symbol,
    timeframe,
    time: new Float64Array(length),
    open: new Float64Array(length),
    high: new Float64Array(length),
    low: new Float64Array(length),
    close: new Float64Array(length),
    volume: new Float64Array(length),
    length,
  };
}

/** Bars `[from, to)` by index; the arrays are views (subarray), not copies. */
export function sliceBars(bars: Bars, from: number, to: number): Bars {
  const a = Math.max(0, Math.min(bars.length, from));
  const b = Math.max(a, Math.min(bars.length, to));
  return {
    symbol: bars.symbol,
    timeframe: bars.timeframe,
    time: bars.time.subarray(a, b),
    open: bars.open.subarray(a, b),
    high: bars.high.subarray(a, b),
    low: bars.low.subarray(a, b),
    close: bars.close.subarray(a, b),
    volume: bars.volume.subarray(a, b),
    length: b - a,
    ...(bars.source ? { source: bars.source } : {}),
  };
}

/** First index whose time is >= t (bars sorted by time); `length` when none. */
export function lowerBound(time: Float64Array, t: number): number {
  let lo = 0;
  let hi = time.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (time[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Bars with `start <= time < end` (epoch ms; either bound may be omitted).
 * Returns views into the original arrays.
 */
export function filterBarsByTime(bars: Bars, start?: number, end?: number): Bars {
  const from = start === undefined ? 0 : lowerBound(bars.time, start);
  const to = end === undefined ? bars.length : lowerBound(bars.time, end);
  return sliceBars(bars, from, to);
}
