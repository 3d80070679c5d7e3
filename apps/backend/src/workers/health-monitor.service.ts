import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { errorText, type WorkerType } from '@ktrdr/contracts';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { BACKGROUND_TASKS } from '../common/tokens';
import { CLOCK, type Clock } from '../common/clock';
import { PeriodicTask, mapWithConcurrency } from '../common/periodic-task';
import { MetricsService } from '../metrics/metrics.service';
import { WorkerClient } from './worker-client';
import { WorkerRegistry } from './worker-registry';

export interface SweepReport {
  probed: number;
  healthy: number;
  failed: number;
  became_unavailable: string[];
  recovered: string[];
  removed: string[];
  duration_ms: number;
}

interface Target {
  id: string;
  url: string;
  type: WorkerType;
}

/**
 * Checks every registered worker's /health (rule 3) on the worker's own schedule: each worker is due
 * `health_check_interval` seconds after its last check started (a new worker at a random point of its
 * first interval, so checks spread out), a tick a few times a second starts the checks that are due,
 * and nothing waits for anything else — no sweep, no barrier, no shared deadline. A worker that does
 * not answer holds one slot until its own timeout; workers already failing checks, and checks still
 * unanswered after a second, have slots of their own (`health_check_concurrency` each), so a crowd of
 * hung workers never delays a healthy one.
 * Failure counting, temporarily_unavailable after N failures and removal `removal_threshold` seconds
 * after the last sign of life are as before. `sweep()` checks everyone at once (tests, diagnostics).
 */
@Injectable()
export class HealthMonitorService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(HealthMonitorService.name);
  private readonly task: PeriodicTask;
  private lastSweep: SweepReport | null = null;
  /** Worker id → when its next check is due (clock ms). */
  private readonly nextDue = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Checks that are due, waiting for a slot (ids, oldest first), per lane. */
  private readonly readyHealthy: string[] = [];
  private readonly readySuspects: string[] = [];
  private readonly queued = new Set<string>();
  private healthyInFlight = 0;
  private suspectInFlight = 0;
  private late = 0;

  constructor(
    private readonly registry: WorkerRegistry,
    private readonly client: WorkerClient,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(BACKGROUND_TASKS) private readonly backgroundTasks: boolean,
    private readonly metrics: MetricsService,
  ) {
    // A few ticks per interval, at most 250 ms apart: a due check starts at most that late.
    const tickMs = Math.min(250, (settings.worker.health_check_interval * 1000) / 4);
    this.task = new PeriodicTask(
      'worker health checks',
      tickMs,
      async () => {
        this.checkDue();
      },
      clock,
      this.logger,
    );
  }

  onApplicationBootstrap(): void {
    if (this.backgroundTasks) this.task.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.task.stop();
    await Promise.allSettled([...this.inFlight.values()]);
  }

  get isRunning(): boolean {
    return this.task.isRunning;
  }

  get lastSweepReport(): SweepReport | null {
    return this.lastSweep;
  }

  /** Checks running now, and checks that started more than 1 s after they were due (since start). */
  get schedule(): { in_flight: number; late_checks: number } {
    return { in_flight: this.inFlight.size, late_checks: this.late };
  }

  /**
   * One tick of the schedule: queues the checks that are due (healthy workers and suspects apart),
   * starts as many as their slots allow — each finished check starts the next queued one at once —
   * and removes workers silent for longer than the removal threshold. Returns how many checks it
   * queued; never waits for one.
   */
  checkDue(): number {
    const now = this.clock.now();
    const workers = this.registry.all();
    let queued = 0;
    for (const w of workers) {
      const id = w.worker_id;
      if (this.inFlight.has(id) || this.queued.has(id)) continue;
      let due = this.nextDue.get(id);
      if (due === undefined) {
        due = now + Math.random() * this.settings.worker.health_check_interval * 1000;
        this.nextDue.set(id, due);
      }
      if (due > now) continue;
      this.queued.add(id);
      (w.health_check_failures > 0 ? this.readySuspects : this.readyHealthy).push(id);
      queued += 1;
    }
    // Forget the schedule of workers that are gone.
    if (this.nextDue.size > workers.length) {
      const ids = new Set(workers.map((w) => w.worker_id));
      for (const id of this.nextDue.keys()) if (!ids.has(id)) this.nextDue.delete(id);
    }
    this.pump();
    this.removeExpired();
    return queued;
  }

  /** Starts queued checks while their lane has a free slot. */
  private pump(): void {
    const cap = this.settings.worker.health_check_concurrency;
    const intervalMs = this.settings.worker.health_check_interval * 1000;
    const lanes: Array<[string[], boolean]> = [
      [this.readyHealthy, false],
      [this.readySuspects, true],
    ];
    for (const [queue, suspect] of lanes) {
      while (queue.length > 0 && (suspect ? this.suspectInFlight : this.healthyInFlight) < cap) {
        const id = queue.shift()!;
        this.queued.delete(id);
        const w = this.registry.get(id);
        if (!w || this.inFlight.has(id)) continue;
        const now = this.clock.now();
        const due = this.nextDue.get(id) ?? now;
        if (now - due > 1000) this.late += 1;
        this.nextDue.set(id, now + intervalMs);
        this.start({ id, url: w.endpoint_url, type: w.worker_type }, suspect);
      }
    }
  }

  /** One check of every registered worker at once, awaited (tests and diagnostics). */
  async sweep(): Promise<SweepReport> {
    const started = performance.now();
    const now = this.clock.now();
    const intervalMs = this.settings.worker.health_check_interval * 1000;
    const targets = this.registry
      .all()
      .map((w) => ({ id: w.worker_id, url: w.endpoint_url, type: w.worker_type }));
    const report: SweepReport = {
      probed: targets.length,
      healthy: 0,
      failed: 0,
      became_unavailable: [],
      recovered: [],
      removed: [],
      duration_ms: 0,
    };
    await mapWithConcurrency(targets, this.settings.worker.health_check_concurrency, async (t) => {
      this.nextDue.set(t.id, now + intervalMs);
      await this.check(t, report);
    });
    report.removed = this.removeExpired();
    report.duration_ms = performance.now() - started;
    this.lastSweep = report;
    return report;
  }

  private start(t: Target, suspectAtStart: boolean): void {
    let suspect = suspectAtStart;
    if (suspect) this.suspectInFlight += 1;
    else this.healthyInFlight += 1;
    // A check still unanswered after a second (healthy workers answer in milliseconds) moves to
    // the suspects' slots: a worker that has just hung never holds a healthy worker's slot for long.
    const demote = suspect
      ? null
      : this.clock.setTimeout(
          () => {
            if (suspect || !this.inFlight.has(t.id)) return;
            suspect = true;
            this.healthyInFlight -= 1;
            this.suspectInFlight += 1;
            this.pump();
          },
          Math.min(1000, (this.settings.worker.health_check_timeout * 1000) / 2),
        );
    const run = this.check(t)
      .catch((err: unknown) =>
        this.logger.error(`Health check of ${t.id} failed: ${errorText(err)}`),
      )
      .finally(() => {
        if (demote !== null) this.clock.clearTimeout(demote);
        if (suspect) this.suspectInFlight -= 1;
        else this.healthyInFlight -= 1;
        this.inFlight.delete(t.id);
        this.pump();
      });
    this.inFlight.set(t.id, run);
  }

  /** One probe of one worker and what follows from it (counts, transitions, logs, metrics). */
  private async check(t: Target, report?: SweepReport): Promise<void> {
    const { health_check_timeout, health_check_failures } = this.settings.worker;
    const outcome = await this.client.probeHealth(t.url, health_check_timeout * 1000);
    const transition = this.registry.recordHealth(t.id, t.url, outcome, health_check_failures);
    if (report) {
      if (outcome.ok) report.healthy += 1;
      else report.failed += 1;
    }
    // A worker that re-registered elsewhere or was removed meanwhile keeps no series.
    if (!outcome.ok && transition !== 'gone') this.metrics.healthCheckFailed(t.id, t.type);
    if (transition === 'unavailable') {
      report?.became_unavailable.push(t.id);
      this.metrics.healthTransition(t.id, t.type, 'temporarily_unavailable');
      this.logger.warn(
        `Worker ${t.id} is temporarily unavailable after ${health_check_failures} failed health checks (last: ${outcome.ok ? 'ok' : outcome.reason})`,
      );
    } else if (transition === 'recovered') {
      report?.recovered.push(t.id);
      this.metrics.healthTransition(t.id, t.type, 'recovered');
      this.logger.log(`Worker ${t.id} is healthy again`);
    }
  }

  private removeExpired(): string[] {
    const removed: string[] = [];
    for (const w of this.registry.removeExpired(this.settings.worker.removal_threshold * 1000)) {
      removed.push(w.worker_id);
      this.nextDue.delete(w.worker_id);
      this.metrics.forgetWorker(w.worker_id, w.worker_type);
      const silentFor = Math.round((this.clock.now() - w.last_healthy_at) / 1000);
      this.logger.warn(`Removed worker ${w.worker_id}: no sign of life for ${silentFor} s`);
    }
    return removed;
  }
}
