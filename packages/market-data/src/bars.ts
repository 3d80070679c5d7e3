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
}
