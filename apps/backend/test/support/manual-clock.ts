import type { Clock } from '../../src/common/clock';

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
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
}
