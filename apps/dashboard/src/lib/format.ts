/** Display helpers (no React). */

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "5s ago", "3m ago", "just now"; "never" for null. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  const d = now - t;
  if (d < 1500) return 'just now';
  return `${formatDuration(d)} ago`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function formatPct(fraction: number | null | undefined, digits = 2): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
  const text = (fraction * 100).toFixed(digits);
  // -0.00 % reads like a loss: a value that rounds to zero is 0.
  return `${/^-0(\.0+)?$/.test(text) ? text.slice(1) : text}%`;
}

export function formatNumber(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function formatMoney(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 });
}

/** A metric value of unknown kind: fractions named *return*, *drawdown*, *rate*, *accuracy* as %. */
export function formatMetric(name: string, value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value !== 'number') return String(value);
  if (/return|drawdown|win_rate|accuracy|exposure|volatility/.test(name)) return formatPct(value);
  if (Number.isInteger(value)) return formatNumber(value, 0);
  return formatNumber(value, 4);
}

/** Short form of an operation id for tables: `op_backtesting_20261122_abcdef12` → `…abcdef12`. */
export function shortId(id: string): string {
  const tail = id.split('_').pop() ?? id;
  return tail.length < id.length ? `…${tail}` : id;
}
