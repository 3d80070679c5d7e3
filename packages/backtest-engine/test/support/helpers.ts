import { allocBars, Bars, parseTimeframe } from '@ktrdr/market-data';

export const DAY = 86_400_000;
export const T0 = Date.UTC(2024, 0, 1);

/** Daily bars from opens and closes; high/low just wrap the body. */
export function makeBars(
  opens: number[],
  closes: number[],
  timeframe = '1d',
  symbol = 'TEST',
): Bars {
  if (opens.length !== closes.length) throw new Error('opens and closes differ in length');
  const b = allocBars(symbol, timeframe, opens.length);
  const step = parseTimeframe(timeframe);
  for (let i = 0; i < opens.length; i++) {
    b.time[i] = T0 + i * step;
    b.open[i] = opens[i];
    b.close[i] = closes[i];
    b.high[i] = Math.max(opens[i], closes[i]) + 0.5;
    b.low[i] = Math.min(opens[i], closes[i]) - 0.5;
    b.volume[i] = 1000;
  }
  return b;
}

export const iso = (i: number): string => new Date(T0 + i * DAY).toISOString();

/** Annualised Sharpe (risk-free 0) of close-marked equities: returns between consecutive bars. */
export function sharpeOf(equity: number[], barsPerYear: number): number {
  const r = equity.slice(1).map((e, i) => e / equity[i] - 1);
  const mean = r.reduce((a, b) => a + b, 0) / r.length;
  const variance = r.reduce((a, b) => a + (b - mean) ** 2, 0) / (r.length - 1);
  return (mean / Math.sqrt(variance)) * Math.sqrt(barsPerYear);
}
