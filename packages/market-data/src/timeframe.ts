const UNIT_MS: Record<string, number> = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const TIMEFRAME_PATTERN = /^([1-9][0-9]{0,3})([mhdw])$/;

/**
 * Duration of one bar in milliseconds for a timeframe such as `1m`, `5m`, `15m`, `30m`, `1h`,
 * `4h`, `1d` or `1w` (any positive integer up to 9999 followed by m, h, d or w).
 * Throws a `RangeError` naming the value otherwise.
 */
export function parseTimeframe(tf: string): number {
  const m = typeof tf === 'string' ? TIMEFRAME_PATTERN.exec(tf) : null;
  if (!m) {
    throw new RangeError(
      `Invalid timeframe ${JSON.stringify(tf)}: expected a positive integer followed by m, h, d or w (e.g. 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w)`,
    );
  }
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** Milliseconds in a (365.25-day) year, used to annualise per-bar statistics. */
export const MS_PER_YEAR = 365.25 * 86_400_000;

/** How many bars of this timeframe fit in a year (e.g. 8766 for `1h`). */
export function barsPerYear(tf: string): number {
  return MS_PER_YEAR / parseTimeframe(tf);
}
