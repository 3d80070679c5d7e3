/** Retry backoff shared by the workers (registration, heartbeats, uploads) and the `ktrdr` CLI. */

export interface BackoffOptions {
  /** The first step (attempt 0), in ms; each later attempt doubles it. */
  readonly baseMs: number;
  /** The largest step, in ms. */
  readonly capMs: number;
  /** Uniform draw in [0, 1) (Math.random by default; tests pass a fixed one). Clamped to [0, 1]. */
  readonly random?: () => number;
}

/**
 * Delay before retry number `attempt` (0 for the first retry), with jitter: the step is
 * baseMs·2^attempt capped at capMs, and the delay a uniform draw from its upper half
 * ([step/2, step], rounded to whole ms), so clients restarted together do not retry in lockstep.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const { baseMs, capMs, random = Math.random } = options;
  const step = Math.min(baseMs * 2 ** Math.min(Math.max(attempt, 0), 30), capMs);
  return Math.round(step / 2 + (step / 2) * Math.min(Math.max(random(), 0), 1));
}
