/**
 * Nest token of the backend's time source: the one `Clock` of @ktrdr/config (now, unref'd timers,
 * sleep) — `systemClock` in the app, a ManualClock in tests, which move time and fire timers by hand.
 */
export type { Clock } from '@ktrdr/config';

export const CLOCK = Symbol('CLOCK');

/** Renders epoch milliseconds as ISO-8601 UTC, or null. */
export function isoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}
