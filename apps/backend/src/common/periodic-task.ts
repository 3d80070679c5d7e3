import { Logger } from '@nestjs/common';
import type { Clock, TimerHandle } from '@ktrdr/config';
import { errorText } from '@ktrdr/contracts';

/**
 * Runs `fn` every `intervalMs` (the next run is scheduled when the current one ends, so runs never
 * overlap) on the clock's timers, so tests fire runs by hand. Errors are logged, never thrown into
 * the event loop.
 */
export class PeriodicTask {
  private handle: TimerHandle | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly fn: () => Promise<void>,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  get isRunning(): boolean {
    return !this.stopped;
  }

  start(options: { runImmediately?: boolean } = {}): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(options.runImmediately ? 0 : this.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.handle = null;
    if (this.running) await this.running;
  }

  /** Runs once now (unless a run is in progress, which is awaited instead). */
  async runOnce(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        await this.fn();
      } catch (err) {
        this.logger.error(
          `${this.name} failed: ${errorText(err)}`,
          err instanceof Error ? err.stack : undefined,
        );
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.handle = this.clock.setTimeout(() => {
      this.handle = null;
      void this.runOnce().then(() => this.schedule(this.intervalMs));
    }, ms);
  }
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. O(n), order of starts kept. */
export async function mapWithConcurrency<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Math.max(1, Math.min(concurrency, items.length));
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}
