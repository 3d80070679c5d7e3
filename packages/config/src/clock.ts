/**
 * Time as a service sees it — the backend's loops and records, a worker's heartbeats, backoff and
 * shutdown deadlines: one interface, injected everywhere, so tests move time by hand instead of
 * sleeping. `systemClock` is the one real implementation; fakes live with the tests.
 */

declare const timerHandleBrand: unique symbol;

/** What `Clock.setTimeout` returns: opaque, only good for the same clock's `clearTimeout`. */
export type TimerHandle = { readonly [timerHandleBrand]: true };

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`. A pending timer never keeps the process alive (unref'd). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending timer; a timer that has fired or was cleared already is left alone. */
  clearTimeout(handle: TimerHandle): void;
  /**
   * Resolves after `ms`, or early — without throwing — when `signal` aborts (at once if it already
   * has). Built on the clock's own timers, so it never keeps the process alive either.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * `sleep` on top of a clock's `setTimeout`/`clearTimeout`, with the abort behaviour `Clock.sleep`
 * promises; fakes implement their two timer functions and use this for the third.
 */
export function sleepOnTimers(
  timers: Pick<Clock, 'setTimeout' | 'clearTimeout'>,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      timers.clearTimeout(handle);
      resolve();
    };
    const handle = timers.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Real time: `Date.now()` and Node's timers, unref'd. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer as unknown as TimerHandle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  },
  sleep: (ms, signal) => sleepOnTimers(systemClock, ms, signal),
};
