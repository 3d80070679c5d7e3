import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { api, apiErrorText, apiPath, ApiError, get } from '../api/client';
import { invalidateOperations, keys } from '../api/queries';
import { useNotify } from '../components/Notices';
import type { CancelSweepResponseDto, SweepResponseDto } from '../api/types';
import { StatusBadge, statusLabel } from '../components/Status';
import { useLive } from '../live/LiveContext';
import { formatMetric, formatTime } from '../lib/format';
import {
  buildHeatmap,
  gridParams,
  metricNames,
  metricValue,
  rankChildren,
  type Order,
  type SweepChildLike,
} from '../lib/sweep';
import { ErrorLine, OpLink } from './common';

function useSweep(id: string, sort: string, order: Order) {
  const { pollMs } = useLive();
  return useQuery({
    queryKey: keys.sweep(id, sort, order),
    queryFn: ({ signal }) =>
      get<SweepResponseDto>(
        apiPath('sweep', { id }, { sort: sort || undefined, order }),
        signal,
      ).then((r) => r.data),
    refetchInterval: (q) => {
      const d = q.state.data;
      const open = d
        ? (d.counts.pending ?? 0) + (d.counts.dispatched ?? 0) + (d.counts.running ?? 0)
        : 1;
      return open > 0 ? pollMs : false;
    },
    placeholderData: (prev) => prev,
    retry: (n: number, err: Error) => !(err instanceof ApiError && err.status < 500) && n < 2,
  });
}

const fmtValue = (v: unknown) => (Array.isArray(v) ? v.join(', ') : String(v));

/** Two grid parameters against a metric; each cell prints its value (colour is a second signal). */
function Heatmap({
  children,
  params,
  metric,
  order,
}: {
  children: SweepChildLike[];
  params: string[];
  metric: string;
  order: Order;
}) {
  const [x, setX] = useState(params[0] ?? '');
  const [y, setY] = useState(params[1] ?? params[0] ?? '');
  const map = useMemo(
    () => buildHeatmap(children, x, y, metric, order),
    [children, x, y, metric, order],
  );
  if (params.length < 2) return <p className="empty">A heatmap needs two grid parameters.</p>;
  return (
    <section aria-labelledby="heat-h" data-testid="heatmap">
      <h3 id="heat-h">Heatmap of {statusLabel(metric)}</h3>
      <div className="filters">
        <label>
          Columns{' '}
          <select value={x} onChange={(e) => setX(e.target.value)}>
            {params.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          Rows{' '}
          <select value={y} onChange={(e) => setY(e.target.value)}>
            {params.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
      </div>
      <table className="heatmap">
        <caption>
          {statusLabel(metric)} by {y} (rows) and {x} (columns); darker is better (
          {order === 'desc' ? 'higher' : 'lower'} wins), the best child per cell is shown
        </caption>
        <thead>
          <tr>
            <th scope="col">
              {y} \ {x}
            </th>
            {map.xs.map((v) => (
              <th key={fmtValue(v)} scope="col">
                {fmtValue(v)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {map.ys.map((yv, yi) => (
            <tr key={fmtValue(yv)}>
              <th scope="row">{fmtValue(yv)}</th>
              {map.cells[yi]!.map((c, xi) => (
                <td
                  key={xi}
                  className="heat-cell"
                  style={
                    c.intensity !== null
                      ? {
                          background: `color-mix(in srgb, var(--accent) ${Math.round(15 + c.intensity * 75)}%, transparent)`,
                          // Dark cells get light text (contrast), the value is always printed.
                          color: c.intensity > 0.55 ? '#fff' : undefined,
                        }
                      : undefined
                  }
                >
                  {c.operation_id ? (
                    <a href={`#/operations/${encodeURIComponent(c.operation_id)}`}>
                      {formatMetric(metric, c.value)}
                    </a>
                  ) : c.count > 0 ? (
                    '…'
                  ) : (
                    '—'
                  )}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** DELETE /sweeps/{id}: cancels the children that have not finished; the answer is a notice. */
function CancelSweep({ id }: { id: string }) {
  const qc = useQueryClient();
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      className="danger"
      disabled={busy}
      onClick={() => {
        setBusy(true);
        api<CancelSweepResponseDto>('DELETE', apiPath('sweep', { id }))
          .then((r) =>
            notify(
              'ok',
              `${id}: ${r.cancelled} cancelled, ${r.already_finished} had already finished`,
            ),
          )
          .catch((err: unknown) => notify('error', `Cancel sweep ${id} — ${apiErrorText(err)}`))
          .finally(() => {
            setBusy(false);
            invalidateOperations(qc);
            void qc.invalidateQueries({ queryKey: ['sweep', id] });
          });
      }}
    >
      Cancel unfinished runs
    </button>
  );
}

export function SweepDetail({ id }: { id: string }) {
  const [sort, setSort] = useState('');
  const [order, setOrder] = useState<Order>('desc');
  const q = useSweep(id, sort, order);
  const d = q.data;
  const metrics = useMemo(() => metricNames(d?.children ?? []), [d]);
  const metric = sort || metrics[0] || '';
  const params = useMemo(
    () => (d ? (Object.keys(d.grid).length ? Object.keys(d.grid) : gridParams(d.children)) : []),
    [d],
  );
  const ranked = useMemo(() => rankChildren(d?.children ?? [], metric, order), [d, metric, order]);
  if (q.error)
    return (
      <section className="panel">
        <h2>Sweep {id}</h2>
        <ErrorLine error={q.error} what={`sweep ${id}`} />
      </section>
    );
  if (!d) return <p className="empty">Loading sweep {id}…</p>;
  return (
    <div className="detail" data-testid="sweep-detail">
      <section className="panel" aria-labelledby="sweep-h">
        <div className="detail-head">
          <h2 id="sweep-h" className="mono">
            {d.sweep_id}
          </h2>
          {d.counts.pending + d.counts.dispatched + d.counts.running > 0 && <CancelSweep id={id} />}
        </div>
        <p>
          {statusLabel(d.operation_type)} sweep of {d.total} runs, created{' '}
          {formatTime(d.created_at)}.{' '}
          {Object.entries(d.counts)
            .filter(([, n]) => n > 0)
            .map(([s, n]) => `${n} ${statusLabel(s)}`)
            .join(' · ')}
        </p>
        <div className="filters">
          <label>
            Rank by{' '}
            <select value={metric} onChange={(e) => setSort(e.target.value)}>
              {metrics.length === 0 && <option value="">(no metrics yet)</option>}
              {metrics.map((m) => (
                <option key={m} value={m}>
                  {statusLabel(m)}
                </option>
              ))}
            </select>
          </label>
          <label>
            Order{' '}
            <select value={order} onChange={(e) => setOrder(e.target.value as Order)}>
              <option value="desc">highest first</option>
              <option value="asc">lowest first</option>
            </select>
          </label>
        </div>
        <table data-testid="sweep-children">
          <caption className="sr-only">Children ranked by {metric}</caption>
          <thead>
            <tr>
              <th scope="col">Rank</th>
              <th scope="col">Operation</th>
              <th scope="col">Status</th>
              {params.map((p) => (
                <th key={p} scope="col">
                  {p}
                </th>
              ))}
              <th scope="col" className="num">
                {statusLabel(metric || 'metric')}
              </th>
            </tr>
          </thead>
          <tbody>
            {ranked.map((c, i) => (
              <tr key={c.operation_id}>
                <td>{metricValue(c, metric) !== null ? i + 1 : '—'}</td>
                <td>
                  <OpLink id={c.operation_id} />
                </td>
                <td>
                  <StatusBadge status={c.status} />
                  {c.error_message && <div className="reason">{c.error_message}</div>}
                </td>
                {params.map((p) => (
                  <td key={p}>{fmtValue(c.grid_values[p])}</td>
                ))}
                <td className="num">{formatMetric(metric, metricValue(c, metric))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {metric && (
        <section className="panel">
          <Heatmap children={d.children} params={params} metric={metric} order={order} />
        </section>
      )}
    </div>
  );
}
