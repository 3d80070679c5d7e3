/** Ranking and the two-parameter heatmap of a sweep's children. */
import type { SweepChildDto } from '../api/types';

/** What the ranking and the heatmap read of a child (`SweepChildDto`). */
export type SweepChildLike = Pick<SweepChildDto, 'operation_id' | 'grid_values' | 'metrics'> & {
  status: string;
};

export type Order = 'asc' | 'desc';

export function metricValue(child: SweepChildLike, metric: string): number | null {
  const v = child.metrics?.[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Numeric metric names seen in any child, in first-seen order. */
export function metricNames(children: readonly SweepChildLike[]): string[] {
  const names: string[] = [];
  for (const c of children) {
    for (const [k, v] of Object.entries(c.metrics ?? {})) {
      if (typeof v === 'number' && !names.includes(k)) names.push(k);
    }
  }
  return names;
}

/** Grid parameter names, in first-seen order. */
export function gridParams(children: readonly SweepChildLike[]): string[] {
  const names: string[] = [];
  for (const c of children)
    for (const k of Object.keys(c.grid_values)) if (!names.includes(k)) names.push(k);
  return names;
}

/** Children with the metric first, best first; those without it (unfinished, failed) last. */
export function rankChildren<T extends SweepChildLike>(
  children: readonly T[],
  metric: string,
  order: Order,
): T[] {
  const sign = order === 'desc' ? -1 : 1;
  return [...children].sort((a, b) => {
    const va = metricValue(a, metric);
    const vb = metricValue(b, metric);
    if (va === null && vb === null) return a.operation_id.localeCompare(b.operation_id);
    if (va === null) return 1;
    if (vb === null) return -1;
    return sign * (va - vb);
  });
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), 'en', { numeric: true });
}

function key(v: unknown): string {
  return JSON.stringify(v);
}

export interface HeatCell {
  value: number | null;
  /** 0 (worst) … 1 (best) for the colour; null without a value. */
  intensity: number | null;
  operation_id: string | null;
  /** Children that fall in this cell (other grid parameters differ); the best one is shown. */
  count: number;
}

export interface Heatmap {
  xs: unknown[];
  ys: unknown[];
  /** cells[yIndex][xIndex] */
  cells: HeatCell[][];
  min: number | null;
  max: number | null;
}

/** Metric over two grid parameters; where several children share a cell the best value wins. */
export function buildHeatmap(
  children: readonly SweepChildLike[],
  xParam: string,
  yParam: string,
  metric: string,
  order: Order,
): Heatmap {
  const xs: unknown[] = [];
  const ys: unknown[] = [];
  for (const c of children) {
    const x = c.grid_values[xParam];
    const y = c.grid_values[yParam];
    if (!xs.some((v) => key(v) === key(x))) xs.push(x);
    if (!ys.some((v) => key(v) === key(y))) ys.push(y);
  }
  xs.sort(compareValues);
  ys.sort(compareValues);
  const cells: HeatCell[][] = ys.map(() =>
    xs.map(() => ({ value: null, intensity: null, operation_id: null, count: 0 })),
  );
  let min: number | null = null;
  let max: number | null = null;
  const better = (a: number, b: number) => (order === 'desc' ? a > b : a < b);
  for (const c of children) {
    const xi = xs.findIndex((v) => key(v) === key(c.grid_values[xParam]));
    const yi = ys.findIndex((v) => key(v) === key(c.grid_values[yParam]));
    const cell = cells[yi]![xi]!;
    cell.count += 1;
    const v = metricValue(c, metric);
    if (v === null) continue;
    if (cell.value === null || better(v, cell.value)) {
      cell.value = v;
      cell.operation_id = c.operation_id;
    }
  }
  for (const row of cells)
    for (const cell of row) {
      if (cell.value === null) continue;
      min = min === null ? cell.value : Math.min(min, cell.value);
      max = max === null ? cell.value : Math.max(max, cell.value);
    }
  for (const row of cells)
    for (const cell of row) {
      if (cell.value === null || min === null || max === null) continue;
      const t = max === min ? 1 : (cell.value - min) / (max - min);
      cell.intensity = order === 'desc' ? t : 1 - t;
    }
  return { xs, ys, cells, min, max };
}
