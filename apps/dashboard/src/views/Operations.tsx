import { useState } from 'react';
import { OperationStatus, OperationType } from '@ktrdr/contracts/constants';
import { useAssignedOperations, useOperations, type OperationFilter } from '../api/queries';
import type { OperationDto } from '../api/types';
import { OperationActions } from '../components/Actions';
import { ProgressBar, StatusBadge, statusLabel } from '../components/Status';
import { formatAgo, formatDuration, formatTime } from '../lib/format';
import {
  describeParams,
  durationMs,
  elapsedMs,
  etaMs,
  headlineMetrics,
  queueInfo,
} from '../lib/ops';
import { useNow } from '../lib/useNow';
import { ErrorLine, OpLink } from './common';

/** Pending operations in dispatch order, with their queue position and why they wait. */
export function QueuePanel() {
  const q = useOperations({ status: OperationStatus.PENDING, limit: 100, offset: 0 });
  const now = useNow();
  const ops = q.data?.data ?? [];
  return (
    <section aria-labelledby="queue-h" className="panel" data-testid="queue">
      <h2 id="queue-h">
        Queue <span className="count">({q.data?.total_count ?? 0} pending)</span>
      </h2>
      {q.error && <ErrorLine error={q.error} what="the queue" />}
      {ops.length === 0 ? (
        <p className="empty">Nothing is waiting.</p>
      ) : (
        <table>
          <caption className="sr-only">Pending operations in dispatch order</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Operation</th>
              <th scope="col">What</th>
              <th scope="col">Priority</th>
              <th scope="col">Waiting</th>
              <th scope="col">Why</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {ops.map((op, i) => {
              const qi = queueInfo(op);
              return (
                <tr key={op.operation_id} data-operation-id={op.operation_id}>
                  <td>{qi.position ?? i + 1}</td>
                  <td>
                    <OpLink id={op.operation_id} />
                  </td>
                  <td>
                    {statusLabel(op.operation_type)} {describeParams(op)}
                  </td>
                  <td>{qi.priority}</td>
                  <td>{formatAgo(op.created_at, now).replace(' ago', '')}</td>
                  <td>{qi.waitReason ?? '—'}</td>
                  <td>
                    <OperationActions op={op} compact />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Dispatched and running operations: progress, worker, elapsed time and ETA. */
export function RunningPanel() {
  const assigned = useAssignedOperations();
  const now = useNow();
  const ops: OperationDto[] = assigned.data;
  return (
    <section aria-labelledby="running-h" className="panel" data-testid="running">
      <h2 id="running-h">
        Running <span className="count">({ops.length})</span>
      </h2>
      {assigned.error && <ErrorLine error={assigned.error} what="running operations" />}
      {ops.length === 0 ? (
        <p className="empty">Nothing is running.</p>
      ) : (
        <table>
          <caption className="sr-only">Running operations</caption>
          <thead>
            <tr>
              <th scope="col">Operation</th>
              <th scope="col">What</th>
              <th scope="col">Worker</th>
              <th scope="col" className="wide">
                Progress
              </th>
              <th scope="col">Elapsed</th>
              <th scope="col">ETA</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {ops.map((op) => (
              <tr key={op.operation_id} data-operation-id={op.operation_id}>
                <td>
                  <OpLink id={op.operation_id} />
                  <div>
                    <StatusBadge status={op.status} />
                  </div>
                </td>
                <td>
                  {statusLabel(op.operation_type)} {describeParams(op)}
                </td>
                <td className="mono">{op.worker_id ?? '—'}</td>
                <td>
                  <ProgressBar
                    percentage={op.progress?.percentage ?? 0}
                    label={op.progress?.current_step ?? ''}
                  />
                  <div className="step">{op.progress?.current_step ?? ''}</div>
                </td>
                <td>{formatDuration(elapsedMs(op, now))}</td>
                <td>{formatDuration(etaMs(op, now))}</td>
                <td>
                  <OperationActions op={op} compact />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const PAGE_SIZES = [10, 25, 50, 100];

/** Every operation, newest first: filter by status and type, page through. */
export function OperationsTable({
  title = 'Operations',
  initialStatus = '',
}: {
  title?: string;
  initialStatus?: string;
}) {
  const [status, setStatus] = useState(initialStatus);
  const [type, setType] = useState('');
  const [limit, setLimit] = useState(PAGE_SIZES[0]!);
  const [offset, setOffset] = useState(0);
  const filter: OperationFilter = {
    status: status || undefined,
    operation_type: type || undefined,
    limit,
    offset,
  };
  const q = useOperations(filter);
  const ops = q.data?.data ?? [];
  const total = q.data?.total_count ?? 0;
  const pages = Math.max(1, Math.ceil(total / limit));
  const page = Math.floor(offset / limit) + 1;
  const statuses = Object.values(OperationStatus) as string[];
  return (
    <section aria-labelledby="ops-h" className="panel" data-testid="operations">
      <h2 id="ops-h">
        {title} <span className="count">({total})</span>
      </h2>
      <div className="filters" role="group" aria-label="Filters">
        <label>
          Status{' '}
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value);
              setOffset(0);
            }}
          >
            <option value="">all</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Type{' '}
          <select
            value={type}
            onChange={(e) => {
              setType(e.target.value);
              setOffset(0);
            }}
          >
            <option value="">all</option>
            {Object.values(OperationType).map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Per page{' '}
          <select
            value={limit}
            onChange={(e) => {
              setLimit(Number(e.target.value));
              setOffset(0);
            }}
          >
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      {q.error && <ErrorLine error={q.error} what="operations" />}
      {ops.length === 0 && q.isSuccess ? (
        <p className="empty">No operation matches.</p>
      ) : (
        <table>
          <caption className="sr-only">Operations, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Operation</th>
              <th scope="col">Status</th>
              <th scope="col">What</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
              <th scope="col">Headline</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {ops.map((op) => (
              <tr key={op.operation_id} data-operation-id={op.operation_id} data-status={op.status}>
                <td>
                  <OpLink id={op.operation_id} />
                </td>
                <td>
                  <StatusBadge status={op.status} />
                  {op.status === 'failed' && op.error_message && (
                    <div className="reason" title={op.error_message}>
                      {op.error_message}
                    </div>
                  )}
                </td>
                <td>
                  {statusLabel(op.operation_type)} {describeParams(op)}
                  {op.sweep_id && (
                    <div className="sweep-link">
                      sweep{' '}
                      <a href={`#/sweeps/${encodeURIComponent(op.sweep_id)}`} className="mono">
                        {op.sweep_id}
                      </a>
                    </div>
                  )}
                </td>
                <td className="nowrap">{formatTime(op.created_at)}</td>
                <td>{formatDuration(durationMs(op))}</td>
                <td className="headline">
                  {headlineMetrics(op).map((h) => (
                    <span key={h.label} className="metric">
                      {h.label} <strong>{h.value}</strong>
                    </span>
                  ))}
                </td>
                <td>
                  <OperationActions op={op} compact />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav className="pager" aria-label="Pages">
        <button
          type="button"
          disabled={offset === 0}
          onClick={() => setOffset(Math.max(0, offset - limit))}
        >
          ← Newer
        </button>
        <span>
          Page {page} of {pages}
        </span>
        <button
          type="button"
          disabled={offset + limit >= total}
          onClick={() => setOffset(offset + limit)}
        >
          Older →
        </button>
      </nav>
    </section>
  );
}
