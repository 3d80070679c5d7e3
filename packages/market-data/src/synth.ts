import { allocBars, Bars } from './bars';
import { parseTimeframe } from './timeframe';
import { TimeLike, toEpochMs } from './time';

/** `SYNTH-<name>` (case-insensitive prefix) selects deterministic synthetic data. */
export function isSynthSymbol(symbol: string): boolean {
  return /^synth-/i.test(symbol);
}

/** 32-bit FNV-1a hash of a string. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Small fast seeded PRNG (sfc32, 128-bit state), uniform in [0, 1).
 * The same seed always yields the same sequence.
 */
export function createRng(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next(); // mix the seed in
  return next;
}

/** Maximum number of synthetic bars in one call (about 800 MB of columns). */
export const SYNTH_MAX_BARS = 20_000_000;

const REGIME_UP = 0;
const REGIME_DOWN = 1;

/**
 * Deterministic synthetic OHLCV bars for a `SYNTH-*` symbol (any symbol works; the loader only
 * routes `SYNTH-*` here).
 *
 * - Bar times: the first bar opens at `start` rounded up to a multiple of the timeframe (epoch
 *   based), then every timeframe; with `end` the last bar opens before `end` (exclusive), with
 *   `{ count }` exactly `count` bars are produced.
 * - Prices: a geometric random walk seeded by a hash of `symbol|timeframe`, with regimes
 *   (uptrend, downtrend, mean-reverting chop) that switch on average every ~250 bars, per-bar
 *   volatility scaled by the timeframe (2% per day ∝ √time) and a weak pull towards the start
 *   price so very long series stay bounded. Open = previous close with a small gap;
 *   low <= min(open, close) <= max(open, close) <= high always.
 * - The same symbol, timeframe, start and end/count always give identical bars. The walk starts
 *   at `start`, so a different start gives a different series (not a sub-series).
 */
/** Bars generated or parsed between two looks at an abort flag (a large series stays cancellable). */
export const ABORT_CHECK_EVERY = 65_536;

/** Thrown when the abort flag given to a loader is set while it works. */
export class MarketDataAbortedError extends Error {
  constructor(readonly symbol: string) {
    super(`Loading bars for ${symbol} was aborted`);
    this.name = 'MarketDataAbortedError';
  }
}

/** Anything with an `aborted` flag: an AbortSignal, or the worker runtime's shared-memory flag. */
export interface AbortFlag {
  readonly aborted: boolean;
}

/** Options of a long load: an abort flag, and progress every {@link ABORT_CHECK_EVERY} bars. */
export interface LoadProgressOptions {
  signal?: AbortFlag;
  /** Bars done so far out of the total, while a series is generated (and once at the end). */
  onProgress?(done: number, total: number): void;
}

export function synthBars(
  symbol: string,
  timeframe: string,
  start: TimeLike,
  end: TimeLike | { count: number },
  options: LoadProgressOptions = {},
): Bars {
  const { signal, onProgress } = options;
  const tfMs = parseTimeframe(timeframe);
  const startMs = toEpochMs(start, 'start');
  const first = Math.ceil(startMs / tfMs) * tfMs;
  let count: number;
  if (typeof end === 'object' && end !== null && !(end instanceof Date)) {
    count = end.count;
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(`Invalid count ${String(count)}: expected an integer >= 0`);
    }
  } else {
    const endMs = toEpochMs(end, 'end');
    count = endMs > first ? Math.ceil((endMs - first) / tfMs) : 0;
  }
  if (count > SYNTH_MAX_BARS) {
    throw new RangeError(`Too many synthetic bars: ${count} (maximum ${SYNTH_MAX_BARS})`);
  }

  const seed = hashString(`${symbol}|${timeframe}`);
  const bars = allocBars(symbol, timeframe, count);
  const { time, open, high, low, close, volume } = bars;
  const baseSigma = 0.02 * Math.sqrt(tfMs / 86_400_000);
  const x0 = Math.log(20 + (seed % 180)); // start price between 20 and 200
  const baseVolume = 1000 + ((seed >>> 8) % 9000);
  const TWO_PI = 2 * Math.PI;

  // The generator of createRng(seed), inlined (same sequence): sfc32 on int32 locals (the bit
  // patterns and the |0 arithmetic are those of the uint32 version), 15 draws to mix the seed.
  let ra = 0x9e3779b9 | 0;
  let rb = 0x243f6a88 | 0;
  let rc = 0xb7e15162 | 0;
  let rd = seed | 0;
  let rt = 0;
  for (let k = 0; k < 15; k++) {
    rt = (ra + rb) | 0;
    ra = rb ^ (rb >>> 9);
    rb = (rc + (rc << 3)) | 0;
    rc = (rc << 21) | (rc >>> 11);
    rd = (rd + 1) | 0;
    rt = (rt + rd) | 0;
    rc = (rc + rt) | 0;
  }
  // Box–Muller pairs: the second value of a pair is kept for the next draw (across bars too).
  let hasSpare = false;
  let spare = 0;

  let x = x0;
  let regime = seed % 3;
  let anchor = x;
  // Five normal draws per bar, in this order: gap, return, high, low, volume.
  let g0 = 0;
  let g1 = 0;
  let g2 = 0;
  let g3 = 0;
  let g4 = 0;
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % ABORT_CHECK_EVERY === 0) {
      if (signal?.aborted) throw new MarketDataAbortedError(symbol);
      onProgress?.(i, count);
    }
    // rand() < 1 / 250: a regime switch (one more draw for the new regime).
    rt = (ra + rb) | 0;
    ra = rb ^ (rb >>> 9);
    rb = (rc + (rc << 3)) | 0;
    rc = (rc << 21) | (rc >>> 11);
    rd = (rd + 1) | 0;
    rt = (rt + rd) | 0;
    rc = (rc + rt) | 0;
    if ((rt >>> 0) / 4294967296 < 1 / 250) {
      rt = (ra + rb) | 0;
      ra = rb ^ (rb >>> 9);
      rb = (rc + (rc << 3)) | 0;
      rc = (rc << 21) | (rc >>> 11);
      rd = (rd + 1) | 0;
      rt = (rt + rd) | 0;
      rc = (rc + rt) | 0;
      regime = Math.floor(((rt >>> 0) / 4294967296) * 3);
      anchor = x;
    }
    for (let k = 0; k < 5; k++) {
      let g: number;
      if (hasSpare) {
        hasSpare = false;
        g = spare;
      } else {
        let u: number;
        do {
          rt = (ra + rb) | 0;
          ra = rb ^ (rb >>> 9);
          rb = (rc + (rc << 3)) | 0;
          rc = (rc << 21) | (rc >>> 11);
          rd = (rd + 1) | 0;
          rt = (rt + rd) | 0;
          rc = (rc + rt) | 0;
          u = (rt >>> 0) / 4294967296;
        } while (u <= 1e-12);
        rt = (ra + rb) | 0;
        ra = rb ^ (rb >>> 9);
        rb = (rc + (rc << 3)) | 0;
        rc = (rc << 21) | (rc >>> 11);
        rd = (rd + 1) | 0;
        rt = (rt + rd) | 0;
        rc = (rc + rt) | 0;
        const v = (rt >>> 0) / 4294967296;
        const r = Math.sqrt(-2 * Math.log(u));
        spare = r * Math.sin(TWO_PI * v);
        hasSpare = true;
        g = r * Math.cos(TWO_PI * v);
      }
      if (k === 0) g0 = g;
      else if (k === 1) g1 = g;
      else if (k === 2) g2 = g;
      else if (k === 3) g3 = g;
      else g4 = g;
    }
    let sigma: number;
    let drift: number;
    if (regime === REGIME_UP) {
      sigma = 0.8 * baseSigma;
      drift = 0.08 * sigma;
    } else if (regime === REGIME_DOWN) {
      sigma = 1.3 * baseSigma;
      drift = -0.08 * sigma;
    } else {
      sigma = baseSigma;
      drift = -0.05 * (x - anchor);
    }
    drift -= 1e-4 * (x - x0);
    const gap = 0.1 * sigma * g0;
    const r = drift + sigma * g1;
    const o = Math.exp(x + gap);
    x += gap + r;
    const c = Math.exp(x);
    const top = Math.max(o, c);
    const bottom = Math.min(o, c);
    time[i] = first + i * tfMs;
    open[i] = o;
    close[i] = c;
    high[i] = top * Math.exp(0.5 * sigma * Math.abs(g2));
    low[i] = bottom * Math.exp(-0.5 * sigma * Math.abs(g3));
    volume[i] = Math.round(baseVolume * Math.exp(0.3 * g4) * (1 + (0.5 * Math.abs(r)) / sigma));
  }
  onProgress?.(count, count);
  return bars;
}
