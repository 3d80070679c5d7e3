import { sleepOnTimers, type Clock, type TimerHandle } from '@ktrdr/config';

interface PendingTimer {
  fn: () => void;
  ms: number;
}

/**
 * A clock that moves only when told to, and whose timers run only when the test fires them
 * (`advance` moves time and fires nothing): `delays()` lists what is pending, `fireAll()` runs
 * every pending callback once, `fireWithin(ms)` those set to go off within `ms` of being set.
 * `cleared` records every clearTimeout call.
 */
export class ManualClock implements Clock {
  private readonly timers = new Map<TimerHandle, PendingTimer>();
  readonly cleared: TimerHandle[] = [];

  constructor(private ms = Date.UTC(2026, 10, 22, 10, 0, 0)) {}

  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  advanceSeconds(s: number): void {
    this.ms += s * 1000;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    // A fresh object per timer: the handle is opaque, only its identity matters.
    const handle = {} as TimerHandle;
    this.timers.set(handle, { fn, ms });
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.cleared.push(handle);
    this.timers.delete(handle);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOnTimers(this, ms, signal);
  }

  /** How many timers are pending. */
  get pendingTimers(): number {
    return this.timers.size;
  }
  /** The delays of the pending timers, shortest first. */
  delays(): number[] {
    return [...this.timers.values()].map((t) => t.ms).sort((a, b) => a - b);
  }
  /** Runs every pending callback once (timers they set stay pending). */
  fireAll(): void {
    this.fire(() => true);
  }
  /** Runs the pending callbacks that were set with a delay of at most `ms`. */
  fireWithin(ms: number): void {
    this.fire((t) => t.ms <= ms);
  }

  private fire(which: (t: PendingTimer) => boolean): void {
    const due = [...this.timers].filter(([, t]) => which(t));
    // One cleared by an earlier callback does not run.
    for (const [handle, t] of due) if (this.timers.delete(handle)) t.fn();
  }
}
