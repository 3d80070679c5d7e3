import { Bars, rsi, sma } from '@ktrdr/market-data';

import { StrategyConfig } from './types';

/** Per-bar action decided on a bar's close: +1 enter long (if flat), -1 exit (if long), 0 nothing. */
export const ACTION_BUY = 1;
export const ACTION_SELL = -1;
export const ACTION_NONE = 0;

/**
 * Actions for every bar of `bars` (computed on closes, so they use only information up to and
 * including that bar):
 * - `sma_crossover`: +1 on the bar where SMA(fast) crosses above SMA(slow) (fast > slow now,
 *   fast <= slow on the previous bar), -1 where it crosses below (fast < slow now, fast >= slow
 *   before). No action while either average is still warming up.
 * - `rsi_mean_reversion`: +1 while RSI(period) < oversold, -1 while RSI > overbought.
 * - `model`: `signals[i] > 0` -> +1 (be long), otherwise (0 flat, -1 exit) -> -1 (be flat).
 */
export function computeActions(
  bars: Bars,
  strategy: StrategyConfig,
  signals?: Int8Array,
): Int8Array {
  const n = bars.length;
  const out = new Int8Array(n);
  switch (strategy.type) {
    case 'sma_crossover':
      return smaCrossoverActions(bars.close, strategy.fast_period, strategy.slow_period, out);
    case 'rsi_mean_reversion': {
      const r = rsi(bars.close, strategy.period);
      for (let i = 0; i < n; i++) {
        const v = r[i];
        if (v < strategy.oversold) out[i] = ACTION_BUY;
        else if (v > strategy.overbought) out[i] = ACTION_SELL;
      }
      return out;
    }
    case 'model': {
      if (!signals) {
        throw new Error(
          'strategy.type "model" needs per-bar signals (hooks.signals) computed from the model by the caller',
        );
      }
      if (signals.length !== n) {
        throw new Error(`hooks.signals has ${signals.length} values but there are ${n} bars`);
      }
      for (let i = 0; i < n; i++) out[i] = signals[i] > 0 ? ACTION_BUY : ACTION_SELL;
      return out;
    }
    default: {
      const t: never = strategy;
      throw new Error(`Unknown strategy type ${JSON.stringify((t as { type: unknown }).type)}`);
    }
  }
}

/**
 * The crossovers of SMA(fast) and SMA(slow) in one pass without the two average arrays: the
 * running sums, NaN counts and divisions are exactly those of `sma()` (same values, same order),
 * so the actions are identical to comparing `sma(close, fast)` with `sma(close, slow)`.
 */
function smaCrossoverActions(
  close: Float64Array,
  fastPeriod: number,
  slowPeriod: number,
  out: Int8Array,
): Int8Array {
  // sma() validates its period; keep its errors for bad periods.
  if (
    !Number.isInteger(fastPeriod) ||
    fastPeriod < 1 ||
    !Number.isInteger(slowPeriod) ||
    slowPeriod < 1
  ) {
    sma(close, fastPeriod);
    sma(close, slowPeriod);
  }
  const n = close.length;
  let sumF = 0;
  let nanF = 0;
  let sumS = 0;
  let nanS = 0;
  let p = NaN; // fast − slow on the previous bar (NaN while either is undefined)
  for (let i = 0; i < n; i++) {
    const v = close[i];
    if (Number.isNaN(v)) {
      nanF++;
      nanS++;
    } else {
      sumF += v;
      sumS += v;
    }
    if (i >= fastPeriod) {
      const old = close[i - fastPeriod];
      if (Number.isNaN(old)) nanF--;
      else sumF -= old;
    }
    if (i >= slowPeriod) {
      const old = close[i - slowPeriod];
      if (Number.isNaN(old)) nanS--;
      else sumS -= old;
    }
    const f = i >= fastPeriod - 1 && nanF === 0 ? sumF / fastPeriod : NaN;
    const sl = i >= slowPeriod - 1 && nanS === 0 ? sumS / slowPeriod : NaN;
    const d = f - sl;
    if (i >= 1 && !Number.isNaN(d) && !Number.isNaN(p)) {
      if (d > 0 && p <= 0) out[i] = ACTION_BUY;
      else if (d < 0 && p >= 0) out[i] = ACTION_SELL;
    }
    p = d;
  }
  return out;
}
