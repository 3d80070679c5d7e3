import type { EquityPointDto } from '../api/types';

export interface EquityRow {
  /** Epoch ms (the chart's x). */
  t: number;
  equity: number;
  /**
   * Drawdown as docs/metrics.md defines it: `1 − equity / running peak`, the peak counting the
   * initial capital; a positive fraction (0.12 = 12 % below the peak), like `max_drawdown`.
   */
  drawdown: number;
}

/**
 * Equity curve plus the drawdown from the running peak at each point. The peak starts at
 * `initialCapital` (docs/metrics.md: `P_i = max(C, E_0, …, E_i)`), so a fall right after the start
 * counts as the result's `max_drawdown` counts it.
 */
export function equityRows(
  curve: readonly EquityPointDto[] | null | undefined,
  initialCapital?: number | null,
): EquityRow[] {
  const rows: EquityRow[] = [];
  let peak =
    typeof initialCapital === 'number' && Number.isFinite(initialCapital)
      ? initialCapital
      : -Infinity;
  for (const p of curve ?? []) {
    const t = Date.parse(p.time);
    if (Number.isNaN(t) || !Number.isFinite(p.equity)) continue;
    peak = Math.max(peak, p.equity);
    rows.push({ t, equity: p.equity, drawdown: peak > 0 ? 1 - p.equity / peak : 0 });
  }
  return rows;
}

/** The largest drawdown of the rows (a positive fraction, 0 without a fall). */
export function maxDrawdown(rows: readonly EquityRow[]): number {
  return rows.reduce((m, r) => Math.max(m, r.drawdown), 0);
}
