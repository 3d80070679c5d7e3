import { useQueryClient } from '@tanstack/react-query';
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { apiPath } from '../api/client';
import { isFinished } from '../lib/ops';
import { applyEffect, effectOf } from './events';
import { runEventStream, type LiveMode } from './stream';

export interface LiveState {
  mode: LiveMode;
  detail: string;
  /** Poll interval for the REST queries: short without the stream, a slow safety net with it. */
  pollMs: number;
  /** Poll interval of one open, unfinished operation (its progress bar) without the stream. */
  detailPollMs: number;
}

/** Without the event stream the pages poll this often. */
export const POLL_MS = 2000;
/** Without the stream, the operation shown on its detail page is re-read this often. */
export const DETAIL_POLL_MS = 500;
/** With the stream, a slow re-read in case an event was lost. */
export const SAFETY_POLL_MS = 30_000;

const LiveCtx = createContext<LiveState>({
  mode: 'polling',
  detail: '',
  pollMs: POLL_MS,
  detailPollMs: DETAIL_POLL_MS,
});

export function useLive(): LiveState {
  return useContext(LiveCtx);
}

/** Keeps one event stream open for the whole page and feeds it into the query cache. */
export function LiveProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [mode, setMode] = useState<LiveMode>('connecting');
  const [detail, setDetail] = useState('connecting to the event stream');

  useEffect(() => {
    const ac = new AbortController();
    const pending = new Set<string>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const all = pending.has('all');
      if (all || pending.has('operations')) void qc.invalidateQueries({ queryKey: ['operations'] });
      if (all || pending.has('workers')) void qc.invalidateQueries({ queryKey: ['workers'] });
      if (all) {
        void qc.invalidateQueries({ queryKey: ['operation'] });
        void qc.invalidateQueries({ queryKey: ['sweep'] });
      }
      pending.clear();
    };
    void runEventStream({
      url: apiPath('events'),
      signal: ac.signal,
      onMode: (m, d) => {
        setMode(m);
        setDetail(d);
        // Back on the stream after a gap in it: re-read what may have changed meanwhile.
        if (m === 'live') {
          pending.add('all');
          timer ??= setTimeout(flush, 0);
        }
      },
      onEvent: (e) => {
        const effect = effectOf(e);
        for (const r of applyEffect(qc, effect)) pending.add(r);
        if (effect.patchOperation) {
          // A finished operation: its detail page needs params and result again.
          if (isFinished(effect.patchOperation.status))
            void qc.invalidateQueries({
              queryKey: ['operation', effect.patchOperation.operation_id],
            });
          if (effect.patchOperation.sweep_id) void qc.invalidateQueries({ queryKey: ['sweep'] });
        }
        // Lifecycle events arrive in bursts (a sweep queues dozens): one refetch per 300 ms.
        if (pending.size > 0) timer ??= setTimeout(flush, 300);
      },
    });
    return () => {
      ac.abort();
      if (timer) clearTimeout(timer);
    };
  }, [qc]);

  const value = useMemo(
    () => ({
      mode,
      detail,
      pollMs: mode === 'live' ? SAFETY_POLL_MS : POLL_MS,
      detailPollMs: mode === 'live' ? SAFETY_POLL_MS : DETAIL_POLL_MS,
    }),
    [mode, detail],
  );
  return <LiveCtx.Provider value={value}>{children}</LiveCtx.Provider>;
}
