/** The commands. Each returns the exit code; errors are thrown as CliError (see errors.ts). */
import type {
  CancelOperationResponseDto,
  OperationListResponseDto,
  OperationResultsResponseDto,
  StartOperationResponseDto,
  TradeDto,
  TradeListResponseDto,
  WorkerDto,
  WorkerListResponseDto,
  WorkerSummaryDto,
} from '@ktrdr/contracts';
import { BACKEND_ROUTES, buildPath } from '@ktrdr/contracts/constants';
import { ApiError, EXIT } from './errors';
import { follow, getOperation } from './follow';
import type { Session } from './context';
import { ago, duration, paintStatus } from './output';
import { summaryObject, summaryRows } from './summary';
import type { OperationView } from './types';
import type { Json } from './requests';

const opPath = (route: string, id: string) => buildPath(route, { id });

// ── workers ─────────────────────────────────────────────────────────────────────────────────────

export async function workersCommand(
  s: Session,
  opts: { type?: string; status?: string },
): Promise<number> {
  const res = await s.api.get<WorkerListResponseDto>(BACKEND_ROUTES.workers, {
    worker_type: opts.type,
    status: opts.status,
  });
  if (s.out.json) {
    s.out.printJson(res);
    return EXIT.OK;
  }
  const now = s.now();
  const rows = [...res.workers]
    .sort(
      (a, b) =>
        a.worker_type.localeCompare(b.worker_type) || a.worker_id.localeCompare(b.worker_id),
    )
    .map((w: WorkerDto) => [
      w.worker_id,
      w.worker_type,
      paintStatus(s.out.c, w.status),
      w.current_operation_id ?? '-',
      ago(w.last_healthy_at, now),
    ]);
  if (rows.length === 0) {
    s.out.note(
      opts.type || opts.status
        ? 'No worker matches.'
        : 'No worker is registered. Start one (npm run dev starts a backtest and a training worker).',
    );
    return EXIT.OK;
  }
  s.out.table(['ID', 'TYPE', 'STATUS', 'CURRENT OPERATION', 'LAST SEEN'], rows);
  return EXIT.OK;
}

// ── status ──────────────────────────────────────────────────────────────────────────────────────

interface HealthBody {
  status?: string;
  error?: Record<string, unknown>;
  message?: string;
}

async function health(s: Session, route: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const body = await s.api.get<HealthBody>(route);
    return { ok: body?.status === 'ok', detail: body?.status ?? 'unknown' };
  } catch (err) {
    if (err instanceof ApiError) return { ok: false, detail: err.message };
    throw err;
  }
}

export async function statusCommand(s: Session): Promise<number> {
  const [live, ready, fleet, pending, running, dispatched] = await Promise.all([
    health(s, BACKEND_ROUTES.health),
    health(s, BACKEND_ROUTES.healthReady),
    s.api.get<WorkerSummaryDto>(BACKEND_ROUTES.metricsWorkers),
    s.api.get<OperationListResponseDto>(BACKEND_ROUTES.operations, { status: 'pending', limit: 1 }),
    s.api.get<OperationListResponseDto>(BACKEND_ROUTES.operations, { status: 'running', limit: 1 }),
    s.api.get<OperationListResponseDto>(BACKEND_ROUTES.operations, {
      status: 'dispatched',
      limit: 1,
    }),
  ]);
  const runningCount = running.total_count + dispatched.total_count;
  const ok = live.ok && ready.ok;
  const summary = {
    backend: { url: s.api.baseUrl, healthy: live.ok, ready: ready.ok },
    workers: fleet,
    queue: { pending: pending.total_count, running: runningCount, active: pending.active_count },
  };
  if (s.out.json) {
    s.out.printJson(summary);
    return ok ? EXIT.OK : EXIT.FAILED;
  }
  const c = s.out.c;
  const byType = Object.entries(fleet.by_type ?? {})
    .filter(([, v]) => v.total > 0)
    .map(
      ([t, v]) =>
        `${t} ${v.total} (${v.available} available, ${v.busy} busy${v.temporarily_unavailable ? `, ${v.temporarily_unavailable} unavailable` : ''})`,
    );
  s.out.pairs([
    [
      'Backend',
      `${s.api.baseUrl} ${ok ? c.green('ok') : c.red(`not ready (${live.ok ? ready.detail : live.detail})`)}`,
    ],
    [
      'Workers',
      `${fleet.all.total} registered: ${fleet.all.available} available, ${fleet.all.busy} busy, ${fleet.all.temporarily_unavailable} unavailable`,
    ],
    ...byType.map((line) => ['', line] as [string, string]),
    ['Queue', `${pending.total_count} pending, ${runningCount} running`],
  ]);
  return ok ? EXIT.OK : EXIT.FAILED;
}

// ── run / follow ────────────────────────────────────────────────────────────────────────────────

export interface RunOptions {
  detach?: boolean;
  cancelOnInterrupt?: boolean;
}

type StartResponse = StartOperationResponseDto;

/** Starts an operation, then follows it (or prints its id with --detach). */
export async function runCommand(
  s: Session,
  route: string,
  body: Json,
  opts: RunOptions,
): Promise<number> {
  const res = await s.api.post<StartResponse>(route, body);
  return afterStart(s, res, opts);
}

async function afterStart(s: Session, res: StartResponse, opts: RunOptions): Promise<number> {
  const id = res.operation_id;
  const where =
    res.status === 'pending'
      ? `queued${typeof res.queue_position === 'number' ? ` at position ${res.queue_position}` : ''}`
      : `${res.status}${res.worker_id ? ` on ${res.worker_id}` : ''}`;
  if (opts.detach) {
    if (s.out.json) s.out.printJson(res);
    else s.out.line(id);
    s.out.note(`Started ${id} (${where}). Follow it: ktrdr ops follow ${id}`);
    return EXIT.OK;
  }
  s.out.note(`Started ${id} (${where}). Ctrl-C detaches; it keeps running.`);
  return followCommand(s, id, opts);
}

export async function followCommand(s: Session, id: string, opts: RunOptions): Promise<number> {
  const final = await follow(s, id, { cancelOnInterrupt: opts.cancelOnInterrupt === true });
  return report(s, final, await completedResult(s, final));
}

function label(op: OperationView): string {
  return op.operation_type === 'backtesting' ? 'Backtest' : 'Training';
}

function took(op: OperationView): string {
  if (!op.started_at || !op.completed_at) return '';
  return ` in ${duration((Date.parse(op.completed_at) - Date.parse(op.started_at)) / 1000)}`;
}

/** The final report of a followed operation; exit 0 when it completed, 1 otherwise. */
/** The full result of a completed operation (GET /operations/{id}/results); {} otherwise. */
async function completedResult(s: Session, op: OperationView): Promise<Json> {
  if (op.status !== 'completed') return {};
  const res = await s.api.get<OperationResultsResponseDto>(
    opPath(BACKEND_ROUTES.operationResults, op.operation_id),
  );
  return res.data.result as unknown as Json;
}

function report(s: Session, op: OperationView, result: Json): number {
  if (s.out.json) {
    s.out.printJson({
      operation: op,
      summary: op.status === 'completed' ? summaryObject(op, result) : null,
    });
    return op.status === 'completed' ? EXIT.OK : EXIT.FAILED;
  }
  const c = s.out.c;
  if (op.status === 'completed') {
    s.out.line(
      `${c.green('✔')} ${label(op)} ${op.operation_id} completed${took(op)}${op.worker_id ? ` on ${op.worker_id}` : ''}`,
    );
    s.out.pairs(summaryRows(op, result));
    return EXIT.OK;
  }
  const reason = op.error_message ? `: ${op.error_message}` : '';
  s.out.error(`${label(op)} ${op.operation_id} ${op.status}${reason}`);
  if (op.checkpoint) {
    s.out.note(
      `It has a ${op.checkpoint.type} checkpoint at ${op.checkpoint.unit}: ktrdr ops resume ${op.operation_id}`,
    );
  }
  return EXIT.FAILED;
}

// ── ops ─────────────────────────────────────────────────────────────────────────────────────────

export async function opsListCommand(
  s: Session,
  opts: { status?: string; type?: string; limit?: number; offset?: number },
): Promise<number> {
  const res = await s.api.get<OperationListResponseDto>(BACKEND_ROUTES.operations, {
    status: opts.status,
    operation_type: opts.type,
    limit: opts.limit,
    offset: opts.offset,
  });
  if (s.out.json) {
    s.out.printJson(res);
    return EXIT.OK;
  }
  const now = s.now();
  const rows = (res.data as OperationView[]).map((op) => [
    op.operation_id,
    op.operation_type,
    paintStatus(s.out.c, op.status),
    op.status === 'pending' && typeof op.queue_position === 'number'
      ? `#${op.queue_position} in queue`
      : `${Math.round(op.progress?.percentage ?? 0)}%`,
    op.worker_id ?? '-',
    ago(op.created_at, now),
  ]);
  if (rows.length === 0) {
    s.out.note('No operation matches.');
    return EXIT.OK;
  }
  s.out.table(['ID', 'TYPE', 'STATUS', 'PROGRESS', 'WORKER', 'CREATED'], rows);
  if (res.total_count > rows.length) {
    s.out.note(`${rows.length} of ${res.total_count} shown (--limit, --offset)`);
  }
  return EXIT.OK;
}

export async function opsShowCommand(s: Session, id: string): Promise<number> {
  const op = await getOperation(s.api, id);
  if (s.out.json) {
    s.out.printJson(op);
    return EXIT.OK;
  }
  const p = op.progress ?? { percentage: 0 };
  const rows: [string, string][] = [
    ['Operation', op.operation_id],
    ['Type', op.operation_type],
    ['Status', paintStatus(s.out.c, op.status)],
  ];
  if (op.status === 'pending') {
    if (typeof op.queue_position === 'number')
      rows.push(['Queue position', String(op.queue_position)]);
    if (op.wait_reason) rows.push(['Waiting', op.wait_reason]);
  }
  rows.push(
    ['Worker', op.worker_id ?? '-'],
    ['Attempt', String(op.attempt)],
    [
      'Progress',
      `${(p.percentage ?? 0).toFixed(1)}%${p.current_step ? ` (${p.current_step})` : ''}`,
    ],
    ['Created', op.created_at],
    ['Started', op.started_at ?? '-'],
    ['Finished', op.completed_at ?? '-'],
  );
  if (op.sweep_id) rows.push(['Sweep', op.sweep_id]);
  if (op.error_message) rows.push(['Error', op.error_message]);
  if (op.checkpoint)
    rows.push([
      'Checkpoint',
      `${op.checkpoint.type} at ${op.checkpoint.unit} (${op.checkpoint.created_at})`,
    ]);
  rows.push(['Params', JSON.stringify(op.params)]);
  s.out.pairs(rows);
  if (op.status === 'completed') {
    s.out.line();
    s.out.pairs(summaryRows(op, await completedResult(s, op)));
  }
  return EXIT.OK;
}

export async function opsCancelCommand(s: Session, id: string): Promise<number> {
  const res = await s.api.delete<CancelOperationResponseDto>(opPath(BACKEND_ROUTES.operation, id));
  if (s.out.json) s.out.printJson(res);
  else s.out.line(`${id} ${res.status}: ${res.message}`);
  return EXIT.OK;
}

export async function opsResumeCommand(s: Session, id: string, opts: RunOptions): Promise<number> {
  const res = await s.api.post<StartResponse>(opPath(BACKEND_ROUTES.operationResume, id));
  return afterStart(s, res, opts);
}

export async function opsResultsCommand(s: Session, id: string): Promise<number> {
  const res = await s.api.get<OperationResultsResponseDto>(
    opPath(BACKEND_ROUTES.operationResults, id),
  );
  if (s.out.json) {
    s.out.printJson(res);
    return EXIT.OK;
  }
  const op = await getOperation(s.api, id);
  s.out.pairs(summaryRows(op, res.data.result as unknown as Json));
  return EXIT.OK;
}

/** Trades of a completed backtest, one page of `GET /operations/{id}/results/trades`. */
export async function opsTradesCommand(
  s: Session,
  id: string,
  opts: { limit?: number; offset?: number },
): Promise<number> {
  const limit = opts.limit ?? 50;
  const offset = opts.offset ?? 0;
  const page = await s.api.get<TradeListResponseDto>(
    opPath(BACKEND_ROUTES.operationResultTrades, id),
    { limit, offset },
  );
  const trades: TradeDto[] = page.data;
  const total = page.total_count;
  if (s.out.json) {
    s.out.printJson({ operation_id: id, total_count: total, offset, limit, trades });
    return EXIT.OK;
  }
  if (trades.length === 0) {
    s.out.note(
      total === 0 ? `${id} made no trades.` : `No trades at offset ${offset} (${total} in all).`,
    );
    return EXIT.OK;
  }
  const cell = (v: string | number, digits = 2) => (typeof v === 'number' ? v.toFixed(digits) : v);
  s.out.table(
    ['#', 'ENTRY', 'EXIT', 'ENTRY PRICE', 'EXIT PRICE', 'QTY', 'PNL', 'RETURN'],
    trades.map((t, i) => [
      String(offset + i + 1),
      cell(t.entry_time),
      cell(t.exit_time),
      cell(t.entry_price, 4),
      cell(t.exit_price, 4),
      cell(t.quantity, 4),
      cell(t.pnl),
      `${(t.return_pct * 100).toFixed(2)}%`,
    ]),
  );
  s.out.note(
    `${offset + 1}-${offset + trades.length} of ${total}${offset + trades.length < total ? ` (next page: --offset ${offset + trades.length})` : ''}`,
  );
  return EXIT.OK;
}
