/**
 * Parameter sweeps: submit a grid, follow its children (the event stream filtered by sweep_id wakes
 * the poll of `GET /sweeps/{id}`), then print the children ranked by a metric.
 */
import { EventSource } from 'eventsource';
import type {
  CancelSweepResponseDto,
  SweepDto,
  SweepResponseDto,
  SweepStartResponseDto,
} from '@ktrdr/contracts';
import {
  BACKEND_ROUTES,
  TERMINAL_OPERATION_EVENT_TYPES,
  buildPath,
} from '@ktrdr/contracts/constants';
import type { Session } from './context';
import { EXIT, UnreachableError } from './errors';
import { DetachedError } from './follow';
import { paintStatus } from './output';
import type { SweepRequest } from './requests';

const sweepPath = (id: string): string => buildPath(BACKEND_ROUTES.sweep, { id });

export const SWEEP_START_ROUTES = {
  backtest: BACKEND_ROUTES.backtestsSweep,
  train: BACKEND_ROUTES.trainingsSweep,
} as const;

/** Default ranking metric: Sharpe for backtests, validation accuracy for trainings. */
export function defaultSort(operationType: string): { sort: string; order: 'asc' | 'desc' } {
  return operationType === 'training'
    ? { sort: 'val_accuracy', order: 'desc' }
    : { sort: 'sharpe_ratio', order: 'desc' };
}

function finished(d: SweepDto): number {
  return d.counts.completed + d.counts.failed + d.counts.cancelled;
}

export async function getSweep(
  s: Session,
  id: string,
  sort?: string,
  order?: string,
): Promise<SweepDto> {
  const res = await s.api.get<SweepResponseDto>(sweepPath(id), {
    sort,
    order,
  });
  return res.data;
}

export interface SweepRunOptions {
  detach?: boolean;
  cancelOnInterrupt?: boolean;
  sort?: string;
  order?: 'asc' | 'desc';
  pollMs?: number;
}

export async function sweepRunCommand(
  s: Session,
  kind: 'backtest' | 'train',
  body: SweepRequest,
  opts: SweepRunOptions,
): Promise<number> {
  const res = await s.api.post<SweepStartResponseDto>(SWEEP_START_ROUTES[kind], body);
  const ranking = opts.sort
    ? { sort: opts.sort, order: opts.order ?? 'desc' }
    : { ...defaultSort(res.operation_type), ...(opts.order ? { order: opts.order } : {}) };
  opts = { ...opts, ...ranking };
  if (opts.detach) {
    if (s.out.json) s.out.printJson(res);
    else s.out.line(res.sweep_id);
    s.out.note(
      `Queued sweep ${res.sweep_id}: ${res.total} operations. Watch it: ktrdr sweep show ${res.sweep_id}`,
    );
    return EXIT.OK;
  }
  s.out.note(
    `Queued sweep ${res.sweep_id}: ${res.total} operations. Ctrl-C detaches; they keep running.`,
  );
  const final = await followSweep(s, res.sweep_id, opts);
  return sweepReport(s, final, opts);
}

export async function followSweep(
  s: Session,
  id: string,
  opts: SweepRunOptions,
): Promise<SweepDto> {
  const pollMs = opts.pollMs ?? 1000;
  let wake: (() => void) | null = null;
  const es = new EventSource(s.api.url(BACKEND_ROUTES.events, { sweep_id: id }), {
    fetch: (url, init) =>
      fetch(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), ...s.api.headers() },
      }),
  });
  for (const t of TERMINAL_OPERATION_EVENT_TYPES) es.addEventListener(t, () => wake?.());
  let interrupted: 'detach' | 'cancel' | null = null;
  const removeInterrupt = s.onInterrupt(() => {
    interrupted ??= opts.cancelOnInterrupt ? 'cancel' : 'detach';
    wake?.();
  });
  let lastLine = '';
  let outageSince: number | null = null;
  try {
    for (;;) {
      if (interrupted === 'detach') {
        throw new DetachedError(
          `Detached from sweep ${id}; its operations keep running. Watch: ktrdr sweep show ${id} · cancel: ktrdr sweep cancel ${id}`,
        );
      }
      if (interrupted === 'cancel') {
        s.out.note(`Interrupted: cancelling the unfinished operations of sweep ${id} ...`);
        await s.api.delete(sweepPath(id));
        interrupted = null;
        opts = { ...opts, cancelOnInterrupt: false };
      }
      let d: SweepDto;
      try {
        d = await getSweep(s, id, opts.sort, opts.order);
        outageSince = null;
      } catch (err) {
        if (!(err instanceof UnreachableError)) throw err;
        outageSince ??= s.now();
        if (s.now() - outageSince > 60_000) throw err;
        await new Promise((r) => setTimeout(r, pollMs));
        continue;
      }
      const done = finished(d);
      const line = `sweep ${id}: ${done}/${d.total} finished (${d.counts.completed} completed, ${d.counts.failed} failed, ${d.counts.cancelled} cancelled, ${d.counts.running + d.counts.dispatched} running, ${d.counts.pending} pending)`;
      if (line !== lastLine && !(s.out.json && !s.out.stderrIsTTY)) s.out.note(line);
      lastLine = line;
      if (done >= d.total) return d;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    removeInterrupt();
    es.close();
  }
}

function metricCell(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(4);
  if (v === null || v === undefined) return '-';
  return String(v);
}

/** Ranked table of the children (the backend sorts); exit 0 when every child completed. */
export function sweepReport(
  s: Session,
  d: SweepDto,
  opts: { sort?: string; order?: string },
): number {
  const allOk = d.counts.completed === d.total;
  if (s.out.json) {
    s.out.printJson(d);
    return allOk ? EXIT.OK : EXIT.FAILED;
  }
  const sort = d.sort ?? opts.sort ?? defaultSort(d.operation_type).sort;
  const gridKeys = Object.keys(d.grid ?? {});
  const metricKeys = [
    sort,
    ...(d.operation_type === 'training'
      ? ['val_loss', 'train_accuracy', 'epochs_run']
      : ['total_return', 'max_drawdown', 'num_trades']),
  ].filter((k, i, a) => a.indexOf(k) === i);
  s.out.line(
    `Sweep ${d.sweep_id}: ${d.counts.completed}/${d.total} completed, ranked by ${sort} (${opts.order ?? 'desc'})`,
  );
  s.out.table(
    ['#', 'OPERATION', 'STATUS', ...gridKeys, ...metricKeys],
    d.children.map((ch, i) => [
      String(i + 1),
      ch.operation_id,
      paintStatus(s.out.c, ch.status),
      ...gridKeys.map((k) => metricCell(ch.grid_values?.[k])),
      ...metricKeys.map((k) => metricCell(ch.metrics?.[k])),
    ]),
  );
  for (const ch of d.children.filter((c) => c.status === 'failed' && c.error_message)) {
    s.out.note(`${ch.operation_id} failed: ${ch.error_message}`);
  }
  return allOk ? EXIT.OK : EXIT.FAILED;
}

export async function sweepShowCommand(
  s: Session,
  id: string,
  opts: { sort?: string; order?: 'asc' | 'desc' },
): Promise<number> {
  let d = await getSweep(s, id, opts.sort, opts.order);
  if (!opts.sort) {
    opts = { ...opts, sort: defaultSort(d.operation_type).sort };
    d = await getSweep(s, id, opts.sort, opts.order);
  }
  const code = sweepReport(s, d, opts);
  // Showing a sweep that is still running is not a failure.
  return finished(d) < d.total && code === EXIT.FAILED ? EXIT.OK : code;
}

export async function sweepCancelCommand(s: Session, id: string): Promise<number> {
  const res = await s.api.delete<CancelSweepResponseDto>(sweepPath(id));
  if (s.out.json) s.out.printJson(res);
  else
    s.out.line(
      `Sweep ${id}: cancelled ${res.cancelled} operation(s); ${res.already_finished} had already finished`,
    );
  return EXIT.OK;
}
