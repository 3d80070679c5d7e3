/**
 * Time as the runtime sees it: injectable so tests can check delays without sleeping.
 * `sleep` resolves early (without throwing) when `signal` aborts.
 */
export interface Timers {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      timer.unref?.();
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
