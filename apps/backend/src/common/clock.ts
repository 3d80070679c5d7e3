/** Time source of the backend's loops and records; tests inject a manual clock instead of sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const CLOCK = Symbol('CLOCK');

export const systemClock: Clock = { now: () => Date.now() };

/** Renders epoch milliseconds as ISO-8601 UTC, or null. */
export function isoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export function isoOrNullDate(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}
