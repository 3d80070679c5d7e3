import type { EquityPointDto } from '../api/types';

export interface EquityRow {
  /** Epoch ms (the chart's x). */
  t: number;
  equity: number;
  /** Fall from the running peak, ≤ 0, as a fraction (−0.12 = 12 % below the peak). */
  drawdown: number;
}

/** Equity curve plus the drawdown from the running peak at each point. */
export function equityRows(curve: readonly EquityPointDto[] | null | undefined): EquityRow[] {
  const rows: EquityRow[] = [];
  let peak = -Infinity;
  for (const p of curve ?? []) {
    const t = Date.parse(p.time);
    if (Number.isNaN(t) || !Number.isFinite(p.equity)) continue;
    peak = Math.max(peak, p.equity);
    rows.push({ t, equity: p.equity, drawdown: peak > 0 ? p.equity / peak - 1 : 0 });
  }
  return rows;
}

export function maxDrawdown(rows: readonly EquityRow[]): number {
  return rows.reduce((m, r) => Math.min(m, r.drawdown), 0);
}
