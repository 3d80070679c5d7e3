import { useAssignedOperations, useWorkers } from '../api/queries';
import type { OperationDto, WorkerDto } from '../api/types';
import { ProgressBar, StatusBadge, statusLabel } from '../components/Status';
import { formatAgo, formatTime } from '../lib/format';
import { useNow } from '../lib/useNow';
import { ErrorLine } from './common';

const TYPE_ORDER = ['backtesting', 'training', 'gpu_host'];
const STATUS_ORDER = ['busy', 'available', 'temporarily_unavailable'];

function gpuText(w: WorkerDto): string {
  const c = w.capabilities ?? {};
  if (!c.gpu) return 'no GPU';
  const name = c.gpu_type ?? c.gpu_names?.[0] ?? 'GPU';
  return `${c.gpu_count && c.gpu_count > 1 ? `${c.gpu_count}× ` : ''}${name}`;
}

function WorkerCard({ w, op, now }: { w: WorkerDto; op: OperationDto | undefined; now: number }) {
  return (
    <li className="worker-card" data-worker-id={w.worker_id} data-status={w.status}>
      <div className="worker-head">
        <span className="worker-id">{w.worker_id}</span>
        <StatusBadge status={w.status} />
      </div>
      <dl className="facts">
        <dt>Current operation</dt>
        <dd>
          {w.current_operation_id ? (
            <>
              <a href={`#/operations/${encodeURIComponent(w.current_operation_id)}`}>
                {w.current_operation_id}
              </a>
              {op && (
                <>
                  {' '}
                  <StatusBadge status={op.status} />
                </>
              )}
            </>
          ) : (
            'none'
          )}
        </dd>
        {op && (
          <>
            <dt>Progress</dt>
            <dd>
              <ProgressBar
                percentage={op.progress?.percentage ?? 0}
                label={op.progress?.current_step ?? ''}
              />
            </dd>
          </>
        )}
        <dt>GPU</dt>
        <dd>{gpuText(w)}</dd>
        <dt>Last sign of life</dt>
        <dd title={formatTime(w.last_healthy_at)}>{formatAgo(w.last_healthy_at, now)}</dd>
        <dt>Failed checks</dt>
        <dd className={w.health_check_failures > 0 ? 'warn' : undefined}>
          {w.health_check_failures}
        </dd>
      </dl>
    </li>
  );
}

/** Workers grouped by type, then by status, with their current operation and its progress. */
export function Fleet() {
  const workers = useWorkers();
  // A worker's current operation is dispatched (not accepted yet) or running.
  const assigned = useAssignedOperations();
  const now = useNow();
  const list = workers.data?.workers ?? [];
  const opById = new Map(assigned.data.map((o) => [o.operation_id, o]));
  const types = [...new Set([...TYPE_ORDER, ...list.map((w) => w.worker_type)])].filter((t) =>
    list.some((w) => w.worker_type === t),
  );
  return (
    <section aria-labelledby="fleet-h" className="panel" data-testid="fleet">
      <h2 id="fleet-h">Fleet</h2>
      {workers.error && <ErrorLine error={workers.error} what="workers" />}
      {workers.isSuccess && list.length === 0 && (
        <p className="empty">No worker has registered. Start one (npm run dev starts two).</p>
      )}
      {types.map((type) => {
        const ofType = list.filter((w) => w.worker_type === type);
        const statuses = [...new Set([...STATUS_ORDER, ...ofType.map((w) => w.status)])];
        return (
          <section key={type} className="worker-type" aria-labelledby={`type-${type}`}>
            <h3 id={`type-${type}`}>
              {statusLabel(type)} <span className="count">({ofType.length})</span>
            </h3>
            <p className="summary">
              {statuses
                .map((s) => `${ofType.filter((w) => w.status === s).length} ${statusLabel(s)}`)
                .join(' · ')}
            </p>
            {statuses.map((s) => {
              const group = ofType
                .filter((w) => w.status === s)
                .sort((a, b) => a.worker_id.localeCompare(b.worker_id));
              if (group.length === 0) return null;
              return (
                <div key={s} className="status-group">
                  <h4>
                    <StatusBadge status={s} /> <span className="count">({group.length})</span>
                  </h4>
                  <ul className="worker-list">
                    {group.map((w) => (
                      <WorkerCard
                        key={w.worker_id}
                        w={w}
                        op={w.current_operation_id ? opById.get(w.current_operation_id) : undefined}
                        now={now}
                      />
                    ))}
                  </ul>
                </div>
              );
            })}
          </section>
        );
      })}
    </section>
  );
}
