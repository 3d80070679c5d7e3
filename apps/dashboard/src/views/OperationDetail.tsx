import { useEffect, useMemo, useState } from 'react';
import { useOperation, useResults, useTrades } from '../api/queries';
import type {
  BacktestResultDto,
  CheckpointInfoDto,
  EpochRecordDto,
  OperationAttemptDto,
  OperationDto,
  OperationResultsResponseDto,
  TrainingResultDto,
} from '../api/types';
import { OperationActions } from '../components/Actions';
import { DrawdownChart, EpochChart, EquityChart } from '../components/Charts';
import { ProgressBar, StatusBadge, statusLabel } from '../components/Status';
import { equityRows } from '../lib/equity';
import {
  formatDuration,
  formatMetric,
  formatMoney,
  formatNumber,
  formatPct,
  formatTime,
} from '../lib/format';
import { durationMs, elapsedMs, etaMs, isFinished, queueInfo } from '../lib/ops';
import { useNow } from '../lib/useNow';
import { ErrorLine } from './common';

/** `{ strategy: { type: 'x' } }` → [['strategy.type', 'x']]. */
function flattenParams(value: unknown, prefix = ''): Array<[string, string]> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
      flattenParams(v, prefix ? `${prefix}.${k}` : k),
    );
  }
  return [[prefix, Array.isArray(value) ? value.join(', ') : String(value)]];
}

function Facts({ op, now }: { op: OperationDto; now: number }) {
  const qi = queueInfo(op);
  const finished = isFinished(op.status);
  return (
    <dl className="facts facts-wide">
      <dt>Status</dt>
      <dd>
        <StatusBadge status={op.status} />
      </dd>
      <dt>Type</dt>
      <dd>{statusLabel(op.operation_type)}</dd>
      <dt>Attempt</dt>
      <dd data-testid="attempt">
        {op.attempt}
        {op.worker_id ? (
          <>
            {' '}
            on <span className="mono">{op.worker_id}</span>
            {op.attempt > 1 ? ' (earlier attempts below)' : ''}
          </>
        ) : (
          ' (no worker yet)'
        )}
      </dd>
      {op.status === 'pending' && (
        <>
          <dt>Queue position</dt>
          <dd>
            {qi.position ?? '—'}
            {qi.waitReason ? ` — ${qi.waitReason}` : ''}
          </dd>
        </>
      )}
      {qi.priority !== 0 && (
        <>
          <dt>Priority</dt>
          <dd>{qi.priority}</dd>
        </>
      )}
      {qi.sweepId && (
        <>
          <dt>Sweep</dt>
          <dd>
            <a href={`#/sweeps/${encodeURIComponent(qi.sweepId)}`} className="mono">
              {qi.sweepId}
            </a>
          </dd>
        </>
      )}
      <dt>Created</dt>
      <dd>{formatTime(op.created_at)}</dd>
      <dt>Started</dt>
      <dd>{formatTime(op.started_at)}</dd>
      <dt>{finished ? 'Finished' : 'Elapsed'}</dt>
      <dd>
        {finished
          ? `${formatTime(op.completed_at)} (took ${formatDuration(durationMs(op))})`
          : formatDuration(elapsedMs(op, now))}
      </dd>
      {!finished && (
        <>
          <dt>ETA</dt>
          <dd>{formatDuration(etaMs(op, now))}</dd>
        </>
      )}
      <dt>Latest checkpoint</dt>
      <dd data-testid="checkpoint">
        {op.checkpoint ? describeCheckpoint(op.checkpoint, op.operation_type) : 'none'}
      </dd>
    </dl>
  );
}

/** The unit a checkpoint counts: bars for a backtest, epochs for a training. */
function unitName(type: OperationDto['operation_type']): string {
  return type === 'training' ? 'epoch' : 'bar';
}

function describeCheckpoint(c: CheckpointInfoDto, type: OperationDto['operation_type']): string {
  return `${c.type} checkpoint at ${unitName(type)} ${formatNumber(c.unit, 0)}, written ${formatTime(c.created_at)}`;
}

/** Every dispatch of the operation: which worker ran it, when, how and why it ended. */
function AttemptsTable({ op }: { op: OperationDto }) {
  const attempts: OperationAttemptDto[] = op.attempts ?? [];
  return (
    <section aria-labelledby="attempts-h" data-testid="attempts">
      <h3 id="attempts-h">
        Attempts <span className="count">({attempts.length})</span>
      </h3>
      {attempts.length === 0 ? (
        <p className="empty">
          {op.attempt > 0
            ? `No attempt history recorded (attempt ${op.attempt}${op.worker_id ? ` on ${op.worker_id}` : ''}).`
            : 'Not dispatched yet.'}
        </p>
      ) : (
        <table>
          <caption className="sr-only">Dispatch attempts, oldest first</caption>
          <thead>
            <tr>
              <th scope="col" className="num">
                Attempt
              </th>
              <th scope="col">Worker</th>
              <th scope="col">Started</th>
              <th scope="col">Ended</th>
              <th scope="col">Outcome</th>
              <th scope="col">Resumed from</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {attempts.map((a, i) => (
              <tr key={`${a.attempt}-${a.dispatched_at}-${i}`} data-worker-id={a.worker_id}>
                <td className="num">{a.attempt}</td>
                <td className="mono">{a.worker_id}</td>
                <td title={`dispatched ${formatTime(a.dispatched_at)}`}>
                  {a.started_at ? formatTime(a.started_at) : 'not taken'}
                </td>
                <td>{a.ended_at ? formatTime(a.ended_at) : '—'}</td>
                <td data-outcome={a.outcome ?? 'current'}>
                  {a.outcome ? (
                    <StatusBadge status={a.outcome} />
                  ) : (
                    <StatusBadge status={op.status} />
                  )}
                </td>
                <td>
                  {a.resumed_from
                    ? `${a.resumed_from.type} checkpoint, ${unitName(op.operation_type)} ${formatNumber(a.resumed_from.unit, 0)}`
                    : 'the start'}
                </td>
                <td className="reason-cell">{a.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const BACKTEST_METRICS = [
  'total_return',
  'annualized_return',
  'benchmark_return',
  'excess_return',
  'sharpe_ratio',
  'sortino_ratio',
  'max_drawdown',
  'calmar_ratio',
  'volatility',
  'num_trades',
  'win_rate',
  'profit_factor',
  'exposure',
  'avg_holding_days',
  'final_equity',
  'initial_capital',
  'bars_processed',
] as const;

function MetricCards({
  result,
  names,
}: {
  result: Record<string, unknown>;
  names: readonly string[];
}) {
  return (
    <dl className="metric-cards" data-testid="metrics">
      {names
        .filter((n) => n in result)
        .map((n) => (
          <div key={n} className="metric-card">
            <dt>{statusLabel(n)}</dt>
            <dd>
              {n === 'final_equity' || n === 'initial_capital'
                ? formatMoney(result[n] as number)
                : formatMetric(n, result[n])}
            </dd>
          </div>
        ))}
    </dl>
  );
}

const TRADE_PAGE = 20;

function TradesTable({ op, result }: { op: OperationDto; result: BacktestResultDto }) {
  const [offset, setOffset] = useState(0);
  const q = useTrades(op.operation_id, TRADE_PAGE, offset, true);
  const total = q.data?.total_count ?? 0;
  const omitted = result.trades_summary?.omitted ?? 0;
  return (
    <section aria-labelledby="trades-h" data-testid="trades">
      <h3 id="trades-h">
        Trades{' '}
        <span className="count">
          ({formatNumber(total, 0)}
          {omitted > 0 ? `; ${formatNumber(omitted, 0)} more left out by the cap` : ''})
        </span>
      </h3>
      {q.error && <ErrorLine error={q.error} what="trades" />}
      {q.isSuccess && total === 0 ? (
        <p className="empty">No trade.</p>
      ) : (
        <>
          <table>
            <caption className="sr-only">Closed trades</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Entry</th>
                <th scope="col">Exit</th>
                <th scope="col" className="num">
                  Entry price
                </th>
                <th scope="col" className="num">
                  Exit price
                </th>
                <th scope="col" className="num">
                  Quantity
                </th>
                <th scope="col" className="num">
                  Bars held
                </th>
                <th scope="col" className="num">
                  P&amp;L
                </th>
                <th scope="col" className="num">
                  Return
                </th>
              </tr>
            </thead>
            <tbody>
              {(q.data?.data ?? []).map((t, i) => (
                <tr key={`${t.entry_time}-${i}`}>
                  <td>{offset + i + 1}</td>
                  <td>{formatTime(t.entry_time)}</td>
                  <td>{formatTime(t.exit_time)}</td>
                  <td className="num">{formatNumber(t.entry_price, 4)}</td>
                  <td className="num">{formatNumber(t.exit_price, 4)}</td>
                  <td className="num">{formatNumber(t.quantity, 4)}</td>
                  <td className="num">{formatNumber(t.bars_held, 0)}</td>
                  <td className={`num ${t.pnl >= 0 ? 'good' : 'bad'}`}>
                    {t.pnl >= 0 ? '+' : '−'}
                    {formatMoney(Math.abs(t.pnl))}
                  </td>
                  <td className={`num ${t.return_pct >= 0 ? 'good' : 'bad'}`}>
                    {t.return_pct >= 0 ? '+' : ''}
                    {formatPct(t.return_pct)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Trade pages">
            <button
              type="button"
              disabled={offset === 0}
              onClick={() => setOffset(Math.max(0, offset - TRADE_PAGE))}
            >
              ← Previous
            </button>
            <span>
              Trades {total === 0 ? 0 : offset + 1}–{Math.min(total, offset + TRADE_PAGE)} of{' '}
              {formatNumber(total, 0)}
            </span>
            <button
              type="button"
              disabled={offset + TRADE_PAGE >= total}
              onClick={() => setOffset(offset + TRADE_PAGE)}
            >
              Next →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}

function Downloads({ links }: { links: OperationResultsResponseDto['data']['links'] | undefined }) {
  if (!links || (!links.trades_csv && !links.equity_csv)) return null;
  return (
    <p className="downloads">
      Download:{' '}
      {links.trades_csv && (
        <a href={links.trades_csv} download>
          trades.csv
        </a>
      )}
      {links.trades_csv && links.equity_csv && ' · '}
      {links.equity_csv && (
        <a href={links.equity_csv} download>
          equity.csv (full curve)
        </a>
      )}
    </p>
  );
}

function BacktestResults({
  op,
  result,
  links,
}: {
  op: OperationDto;
  result: BacktestResultDto;
  links: OperationResultsResponseDto['data']['links'] | undefined;
}) {
  const rows = useMemo(
    () => equityRows(result.equity_curve, result.initial_capital),
    [result.equity_curve, result.initial_capital],
  );
  const cards = {
    ...(result as unknown as Record<string, unknown>),
    benchmark_return: result.benchmark?.total_return,
  };
  return (
    <section aria-labelledby="results-h" className="panel">
      <h2 id="results-h">Results</h2>
      <MetricCards result={cards} names={BACKTEST_METRICS} />
      <div className="charts">
        <EquityChart rows={rows} />
        <DrawdownChart rows={rows} maxDrawdown={result.max_drawdown} />
      </div>
      <Downloads links={links} />
      <TradesTable op={op} result={result} />
    </section>
  );
}

const TRAINING_METRICS = [
  'epochs_run',
  'best_epoch',
  'stopped_early',
  'train_loss',
  'val_loss',
  'train_accuracy',
  'val_accuracy',
  'model_name',
] as const;

function TrainingCharts({ history }: { history: EpochRecordDto[] }) {
  return (
    <div className="charts">
      <EpochChart history={history} metric="loss" />
      <EpochChart history={history} metric="accuracy" />
    </div>
  );
}

/** Epochs seen in progress reports while this page is open (the live curve of a running training). */
function useLiveEpochs(op: OperationDto | undefined): EpochRecordDto[] {
  const [epochs, setEpochs] = useState<EpochRecordDto[]>([]);
  const d = op?.progress?.details as Partial<EpochRecordDto> | undefined;
  const epoch = typeof d?.epoch === 'number' ? d.epoch : null;
  useEffect(() => {
    if (epoch === null || !d || typeof d.train_loss !== 'number') return;
    const rec: EpochRecordDto = {
      epoch,
      train_loss: d.train_loss,
      val_loss: d.val_loss ?? null,
      train_accuracy: d.train_accuracy ?? 0,
      val_accuracy: d.val_accuracy ?? null,
    };
    setEpochs((prev) =>
      prev.some((e) => e.epoch === epoch)
        ? prev
        : [...prev.filter((e) => e.epoch < epoch), rec].sort((a, b) => a.epoch - b.epoch),
    );
    // Keyed on the epoch number: one record per epoch.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [epoch]);
  return epochs;
}

export function OperationDetail({ id }: { id: string }) {
  const q = useOperation(id);
  const op = q.data;
  const now = useNow();
  const liveEpochs = useLiveEpochs(op);
  const completed = op?.status === 'completed';
  // The full result (the operation itself carries headline metrics only).
  const results = useResults(id, completed);
  const result = (results.data?.data.result ?? null) as Record<string, unknown> | null;

  if (q.error) {
    return (
      <section className="panel">
        <h2>Operation {id}</h2>
        <ErrorLine error={q.error} what={`operation ${id}`} />
      </section>
    );
  }
  if (!op) return <p className="empty">Loading {id}…</p>;

  const params = flattenParams(op.params);
  const history = (result as TrainingResultDto | null)?.history;
  return (
    <div className="detail" data-testid="operation-detail" data-status={op.status}>
      <section className="panel" aria-labelledby="op-h">
        <div className="detail-head">
          <h2 id="op-h" className="mono">
            {op.operation_id}
          </h2>
          <OperationActions op={op} />
        </div>
        {op.status === 'failed' && (
          <div className="failure" role="alert" data-testid="error-message">
            <strong>
              <span aria-hidden="true">✗ </span>Failed:
            </strong>{' '}
            {op.error_message ?? 'no reason given'}
          </div>
        )}
        {op.status === 'cancelled' && op.error_message && (
          <p className="reason">Cancelled: {op.error_message}</p>
        )}
        {!isFinished(op.status) && (
          <div className="detail-progress" data-testid="detail-progress">
            <ProgressBar
              percentage={op.progress?.percentage ?? 0}
              label={op.progress?.current_step ?? ''}
            />
            <p className="step">
              {op.progress?.current_step ?? ''}
              {op.progress?.message ? ` — ${op.progress.message}` : ''}
            </p>
          </div>
        )}
        <div className="detail-grid">
          <Facts op={op} now={now} />
          <section aria-labelledby="params-h">
            <h3 id="params-h">Parameters</h3>
            <table className="kv" data-testid="params">
              <caption className="sr-only">Start request</caption>
              <tbody>
                {params.map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td className="mono">{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </div>
        <AttemptsTable op={op} />
      </section>

      {completed && op.operation_type === 'backtesting' && result && (
        <BacktestResults
          op={op}
          result={result as unknown as BacktestResultDto}
          links={results.data?.data.links}
        />
      )}
      {op.operation_type === 'training' && (history?.length || liveEpochs.length > 0) && (
        <section aria-labelledby="training-h" className="panel">
          <h2 id="training-h">Training</h2>
          {result && <MetricCards result={result} names={TRAINING_METRICS} />}
          <TrainingCharts history={history?.length ? history : liveEpochs} />
        </section>
      )}
      {completed && !result && results.error && <ErrorLine error={results.error} what="results" />}
    </div>
  );
}
