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
    case 'sma_crossover': {
      const fast = sma(bars.close, strategy.fast_period);
      const slow = sma(bars.close, strategy.slow_period);
      for (let i = 1; i < n; i++) {
        const d = fast[i] - slow[i];
        const p = fast[i - 1] - slow[i - 1];
        if (Number.isNaN(d) || Number.isNaN(p)) continue;
        if (d > 0 && p <= 0) out[i] = ACTION_BUY;
        else if (d < 0 && p >= 0) out[i] = ACTION_SELL;
      }
      return out;
    }
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
