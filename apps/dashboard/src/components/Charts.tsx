import {
  Area,
  AreaChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { EpochRecordDto } from '../api/types';
import { maxDrawdown, type EquityRow } from '../lib/equity';
import { formatMetric, formatMoney, formatPct } from '../lib/format';

const dateTick = (t: number) => new Date(t).toISOString().slice(0, 10);
const dateTimeLabel = (t: unknown) =>
  typeof t === 'number' ? new Date(t).toISOString().replace('T', ' ').slice(0, 16) : String(t);

function ChartFrame({
  testId,
  points,
  label,
  children,
}: {
  testId: string;
  points: number;
  label: string;
  children: React.ReactElement;
}) {
  return (
    <figure className="chart" data-testid={testId} data-points={points}>
      <div className="chart-area" role="img" aria-label={label}>
        <ResponsiveContainer width="100%" height="100%">
          {children}
        </ResponsiveContainer>
      </div>
      <figcaption>{label}</figcaption>
    </figure>
  );
}

export function EquityChart({ rows }: { rows: EquityRow[] }) {
  const first = rows[0];
  const last = rows[rows.length - 1];
  const label =
    first && last
      ? `Equity: ${rows.length} points from ${dateTick(first.t)} to ${dateTick(last.t)}, ${formatMoney(first.equity)} → ${formatMoney(last.equity)}`
      : 'Equity: no points';
  return (
    <ChartFrame testId="equity-chart" points={rows.length} label={label}>
      <LineChart data={rows} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
        <XAxis
          dataKey="t"
          type="number"
          scale="time"
          domain={['dataMin', 'dataMax']}
          tickFormatter={dateTick}
          stroke="var(--muted)"
        />
        <YAxis
          domain={['auto', 'auto']}
          tickFormatter={(v: number) => formatMoney(v).replace(/\.00$/, '')}
          width={80}
          stroke="var(--muted)"
        />
        <Tooltip
          labelFormatter={dateTimeLabel}
          formatter={(v) => [formatMoney(Number(v)), 'equity']}
        />
        <Line
          type="monotone"
          dataKey="equity"
          stroke="var(--accent)"
          dot={false}
          strokeWidth={2}
          isAnimationActive={false}
        />
      </LineChart>
    </ChartFrame>
  );
}

/**
 * Drawdown `1 − equity / running peak` (docs/metrics.md), positive like `max_drawdown` and drawn
 * downwards from 0. The caption's maximum is the result's `max_drawdown` (over every bar) when given.
 */
export function DrawdownChart({
  rows,
  maxDrawdown: reported,
}: {
  rows: EquityRow[];
  maxDrawdown?: number | null;
}) {
  const max = typeof reported === 'number' ? reported : maxDrawdown(rows);
  return (
    <ChartFrame
      testId="drawdown-chart"
      points={rows.length}
      label={`Drawdown (1 − equity / running peak): max ${formatMetric('max_drawdown', max)}`}
    >
      <AreaChart data={rows} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
        <XAxis
          dataKey="t"
          type="number"
          scale="time"
          domain={['dataMin', 'dataMax']}
          tickFormatter={dateTick}
          stroke="var(--muted)"
        />
        <YAxis
          reversed
          domain={[0, 'auto']}
          tickFormatter={(v: number) => formatPct(v, 0)}
          width={80}
          stroke="var(--muted)"
        />
        <Tooltip
          labelFormatter={dateTimeLabel}
          formatter={(v) => [formatPct(Number(v)), 'drawdown']}
        />
        <Area
          type="monotone"
          dataKey="drawdown"
          stroke="var(--bad)"
          fill="var(--bad)"
          fillOpacity={0.25}
          isAnimationActive={false}
        />
      </AreaChart>
    </ChartFrame>
  );
}

/** Per-epoch curves; lines differ by dash pattern as well as colour. */
export function EpochChart({
  history,
  metric,
}: {
  history: EpochRecordDto[];
  metric: 'loss' | 'accuracy';
}) {
  const train = metric === 'loss' ? 'train_loss' : 'train_accuracy';
  const val = metric === 'loss' ? 'val_loss' : 'val_accuracy';
  const last = history[history.length - 1];
  const fmt = (v: number | null | undefined) =>
    v === null || v === undefined ? '—' : metric === 'loss' ? v.toFixed(4) : formatPct(v, 1);
  const label = last
    ? `${metric === 'loss' ? 'Loss' : 'Accuracy'} per epoch: ${history.length} epochs, last train ${fmt(last[train])}, validation ${fmt(last[val])}`
    : `${metric} per epoch: no epochs yet`;
  return (
    <ChartFrame testId={`${metric}-chart`} points={history.length} label={label}>
      <LineChart data={history} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
        <XAxis
          dataKey="epoch"
          type="number"
          domain={['dataMin', 'dataMax']}
          stroke="var(--muted)"
          allowDecimals={false}
        />
        <YAxis
          domain={['auto', 'auto']}
          tickFormatter={(v: number) => (metric === 'loss' ? v.toFixed(3) : formatPct(v, 0))}
          width={64}
          stroke="var(--muted)"
        />
        <Tooltip
          formatter={(v, name) => [fmt(Number(v)), String(name)]}
          labelFormatter={(e) => `epoch ${String(e)}`}
        />
        <Legend />
        <Line
          name="train"
          type="monotone"
          dataKey={train}
          stroke="var(--accent)"
          dot={false}
          strokeWidth={2}
          isAnimationActive={false}
        />
        <Line
          name="validation"
          type="monotone"
          dataKey={val}
          stroke="var(--accent-2)"
          strokeDasharray="6 4"
          dot={false}
          strokeWidth={2}
          isAnimationActive={false}
          connectNulls
        />
      </LineChart>
    </ChartFrame>
  );
}
