import { createParser } from 'eventsource-parser';
import { errorText } from '@ktrdr/contracts/constants';
import { authHeaders, setAuthNeeded } from '../api/auth';
import type { FetchLike } from '../api/client';

/** One Server-Sent Event from `GET /api/v1/events`. */
export interface LiveEvent {
  id: string | undefined;
  /** The SSE `event:` name (`message` when the server sent none). */
  type: string;
  data: unknown;
}

/**
 * - `connecting`: trying the stream;
 * - `live`: the stream is open, changes arrive as events;
 * - `polling`: no stream (the backend has no `/events`, answered an error, or the connection
 *   dropped): the pages poll the REST API until the stream is back.
 */
export type LiveMode = 'connecting' | 'live' | 'polling';

export interface StreamOptions {
  url: string;
  onEvent(e: LiveEvent): void;
  onMode(mode: LiveMode, detail: string): void;
  signal: AbortSignal;
  fetch?: FetchLike;
  /** Wait before reconnecting after a dropped stream (the server's `retry:` overrides it). */
  retryMs?: number;
  /** Wait before trying again after a 404 (the backend may be upgraded meanwhile). */
  notFoundRetryMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/**
 * Reads the event stream with fetch (not EventSource, which cannot send the Authorization header),
 * reconnecting with `Last-Event-ID` so the server can replay what was missed. Runs until `signal`
 * aborts.
 */
export async function runEventStream(opts: StreamOptions): Promise<void> {
  const doFetch = opts.fetch ?? ((i: string, init?: RequestInit) => fetch(i, init));
  const sleep = opts.sleep ?? defaultSleep;
  let retryMs = opts.retryMs ?? 3000;
  const notFoundRetryMs = opts.notFoundRetryMs ?? 30_000;
  let lastId: string | undefined;
  while (!opts.signal.aborted) {
    opts.onMode('connecting', 'connecting to the event stream');
    let wait = retryMs;
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream', ...authHeaders() };
      if (lastId !== undefined) headers['last-event-id'] = lastId;
      const res = await doFetch(opts.url, { headers, signal: opts.signal, cache: 'no-store' });
      const type = res.headers.get('content-type') ?? '';
      if (res.status === 404) {
        opts.onMode('polling', 'the backend has no event stream: polling');
        wait = notFoundRetryMs;
      } else if (res.status === 401) {
        setAuthNeeded(true);
        opts.onMode('polling', 'the event stream needs an API key: polling');
      } else if (!res.ok || !res.body || !type.includes('text/event-stream')) {
        opts.onMode('polling', `event stream answered ${res.status}: polling`);
      } else {
        opts.onMode('live', 'live: changes arrive from the event stream');
        const parser = createParser({
          onEvent(m) {
            if (m.id !== undefined) lastId = m.id;
            opts.onEvent({ id: m.id, type: m.event ?? 'message', data: parseData(m.data) });
          },
          onRetry(ms) {
            if (ms > 0) retryMs = ms;
          },
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
        wait = retryMs;
        opts.onMode('polling', 'the event stream closed: polling until it is back');
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      opts.onMode('polling', `event stream unavailable (${errorText(err)}): polling`);
    }
    await sleep(wait, opts.signal);
  }
}
