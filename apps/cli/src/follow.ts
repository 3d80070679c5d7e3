/**
 * Following an operation until it finishes: the event stream (`GET /events?operation_id=…`, resumed
 * with Last-Event-ID by the EventSource client) feeds the progress view at once; a slow poll of
 * `GET /operations/{id}` keeps the queue position fresh while it waits and covers any gap in the stream.
 */
import { EventSource } from 'eventsource';
import type { OperationEventDto, OperationResponseDto } from '@ktrdr/contracts';
import { BACKEND_ROUTES, OPERATION_EVENT_TYPES, buildPath } from '@ktrdr/contracts/constants';
import type { ApiClient } from './api';
import { CliError, EXIT, UnreachableError } from './errors';
import type { Output } from './output';
import { createProgressView, type ProgressView } from './progress';
import { TERMINAL, type OperationView } from './types';

export interface FollowOptions {
  cancelOnInterrupt: boolean;
  /** Poll period while pending (queue position) and while running, in ms. */
  pendingPollMs?: number;
  runningPollMs?: number;
  /** Give up after the backend has been unreachable this long (ms). */
  outageLimitMs?: number;
}

export interface FollowContext {
  api: ApiClient;
  out: Output;
  now: () => number;
  /** Registers a Ctrl-C handler; returns its remover. */
  onInterrupt: (fn: () => void) => () => void;
}

/** Ctrl-C while following, without --cancel-on-interrupt: not an error, exit 130. */
export class DetachedError extends CliError {
  constructor(message: string) {
    super(message, EXIT.INTERRUPTED);
    this.name = 'DetachedError';
  }
}

const silentView: ProgressView = { update: () => undefined, stop: () => undefined };

export async function getOperation(api: ApiClient, id: string): Promise<OperationView> {
  const res = await api.get<OperationResponseDto>(buildPath(BACKEND_ROUTES.operation, { id }));
  return res.data as OperationView;
}

const waitMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Follows `id` to its final state and returns it (the full record, with its result). */
export async function follow(
  ctx: FollowContext,
  id: string,
  options: FollowOptions,
): Promise<OperationView> {
  const { api, out } = ctx;
  const pendingPoll = options.pendingPollMs ?? 1000;
  const runningPoll = options.runningPollMs ?? 3000;
  const outageLimit = options.outageLimitMs ?? 60_000;
  let view: ProgressView =
    out.json && !out.stderrIsTTY ? silentView : createProgressView(out, ctx.now);

  let current: OperationView | null = null;
  let settled = false;
  let es: EventSource | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let streamNoted = false;
  let resolveDone!: (op: OperationView) => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<OperationView>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const cleanup = (): void => {
    settled = true;
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    es?.close();
    es = null;
    view.stop();
  };

  const finish = async (): Promise<void> => {
    if (settled) return;
    cleanup();
    try {
      // The final record carries the result and the final progress.
      resolveDone(await getOperation(api, id));
    } catch (err) {
      if (current && TERMINAL.has(current.status)) resolveDone(current);
      else rejectDone(err);
    }
  };

  let lastEventAt = 0;
  const apply = (op: OperationView, fromEvent = false): void => {
    if (settled) return;
    if (fromEvent) lastEventAt = ctx.now();
    // A read that was answered before an event arrived must not move the progress back.
    const stale =
      !fromEvent &&
      current !== null &&
      op.status === current.status &&
      op.attempt === current.attempt &&
      (op.progress?.percentage ?? 0) < (current.progress?.percentage ?? 0);
    current = current
      ? { ...current, ...op, ...(stale ? { progress: current.progress } : {}) }
      : op;
    view.update(current);
    if (TERMINAL.has(current.status)) void finish();
  };

  // 1. Subscribe first, so nothing that happens after the first read is missed.
  es = new EventSource(api.url(BACKEND_ROUTES.events, { operation_id: id }), {
    fetch: (url, init) =>
      fetch(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), ...api.headers() },
      }),
  });
  const opened = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 3000);
    es!.addEventListener('open', () => {
      clearTimeout(t);
      resolve();
    });
    es!.addEventListener('error', () => {
      clearTimeout(t);
      resolve();
    });
  });
  for (const type of OPERATION_EVENT_TYPES) {
    es.addEventListener(type, (ev) => {
      try {
        const event = JSON.parse((ev as { data: string }).data) as OperationEventDto;
        if (event.payload.operation_id === id) apply(event.payload as OperationView, true);
      } catch {
        // A malformed frame is ignored; the poll reads the state.
      }
    });
  }
  // Some events were missed (or the backend restarted): read the state now.
  es.addEventListener('stream.gap', () => void poll(true));
  es.addEventListener('error', () => {
    if (!settled && !streamNoted && es?.readyState === EventSource.CLOSED) {
      streamNoted = true;
      out.note(out.ec.dim('(live event stream unavailable; following by polling)'));
    }
  });

  let outageSince: number | null = null;
  const schedule = (): void => {
    if (settled) return;
    // Events carry progress: poll slowly while they flow, quickly while they do not (or while queued,
    // for the queue position, which changes when other operations move).
    const eventsFlowing = ctx.now() - lastEventAt < 2 * runningPoll;
    const ms = current?.status === 'pending' || !eventsFlowing ? pendingPoll : runningPoll;
    pollTimer = setTimeout(() => void poll(false), ms);
  };
  const poll = async (once: boolean): Promise<void> => {
    if (settled) return;
    try {
      const op = await getOperation(api, id);
      outageSince = null;
      apply(op);
    } catch (err) {
      if (err instanceof UnreachableError) {
        outageSince ??= ctx.now();
        if (ctx.now() - outageSince > outageLimit) {
          cleanup();
          rejectDone(err);
          return;
        }
      } else {
        cleanup();
        rejectDone(err);
        return;
      }
    }
    if (!once) schedule();
  };

  // Ctrl-C: detach (default) or cancel.
  let interrupted = false;
  const removeInterrupt = ctx.onInterrupt(() => {
    if (interrupted || settled) return;
    interrupted = true;
    if (!options.cancelOnInterrupt) {
      cleanup();
      rejectDone(
        new DetachedError(
          `Detached from ${id}; it keeps running. Follow it again: ktrdr ops follow ${id} · cancel it: ktrdr ops cancel ${id}`,
        ),
      );
      return;
    }
    view.stop();
    view = silentView;
    out.note(`Interrupted: cancelling ${id} ...`);
    void (async () => {
      try {
        await api.delete(buildPath(BACKEND_ROUTES.operation, { id }));
      } catch (err) {
        // Already finished: the poll reports how.
        if (!(err instanceof CliError) || err.exitCode === EXIT.UNREACHABLE) {
          cleanup();
          rejectDone(err);
          return;
        }
      }
      // Wait (bounded) for the final state.
      for (let i = 0; i < 30 && !settled; i++) {
        await poll(true);
        if (!settled) await waitMs(500);
      }
      if (!settled) void finish();
    })();
  });

  try {
    await opened;
    await poll(false);
    return await done;
  } finally {
    removeInterrupt();
    cleanup();
  }
}
