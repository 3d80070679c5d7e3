import { systemClock, type Clock } from '@ktrdr/config';
import { errorText } from '@ktrdr/contracts/constants';

/** The part of @ktrdr/config's Clock the polling helper uses (a test passes a fake one). */
export type WaitClock = Pick<Clock, 'now' | 'sleep'>;

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Default systemClock. */
  clock?: WaitClock;
}

export class WaitTimeoutError extends Error {
  constructor(
    description: string,
    timeoutMs: number,
    readonly lastValue: unknown,
    readonly lastError: unknown,
  ) {
    const detail =
      lastError !== undefined
        ? `last error: ${errorText(lastError)}`
        : `last value: ${safeJson(lastValue)}`;
    super(`Timed out after ${timeoutMs} ms waiting for ${description} (${detail})`);
    this.name = 'WaitTimeoutError';
  }
}

function safeJson(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined
      ? String(value)
      : text.length > 2000
        ? `${text.slice(0, 2000)}…`
        : text;
  } catch {
    return String(value);
  }
}

/**
 * Polls `probe` until `accept` returns true for its value; returns that value. Errors thrown by the
 * probe count as "not yet" (the service may be restarting); the last one is reported on timeout.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T> | T,
  accept: (value: T) => boolean,
  options: WaitOptions,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const interval = options.intervalMs ?? 250;
  const deadline = clock.now() + options.timeoutMs;
  let lastValue: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      lastValue = value;
      lastError = undefined;
      if (accept(value)) return value;
    } catch (err) {
      lastError = err;
    }
    if (clock.now() >= deadline) {
      throw new WaitTimeoutError(description, options.timeoutMs, lastValue, lastError);
    }
    await clock.sleep(interval);
  }
}
