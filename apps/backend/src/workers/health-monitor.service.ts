import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { BACKGROUND_TASKS } from '../common/tokens';
import { CLOCK, type Clock } from '../common/clock';
import { PeriodicTask, TIMERS, mapWithConcurrency, type Timers } from '../common/periodic-task';
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

/**
 * Polls every registered worker's /health (rule 3): bounded concurrency, a per-probe timeout, failure
 * counting, temporarily_unavailable after N failures, removal `removal_threshold` seconds after the last
 * sign of life. One sweep is O(n) in the number of workers.
 */
@Injectable()
export class HealthMonitorService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(HealthMonitorService.name);
  private readonly task: PeriodicTask;
  private lastSweep: SweepReport | null = null;

  constructor(
    private readonly registry: WorkerRegistry,
    private readonly client: WorkerClient,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(TIMERS) timers: Timers,
    @Inject(BACKGROUND_TASKS) private readonly backgroundTasks: boolean,
    private readonly metrics: MetricsService,
  ) {
    this.task = new PeriodicTask(
      'worker health sweep',
      settings.worker.health_check_interval * 1000,
      async () => {
        await this.sweep();
      },
      timers,
      this.logger,
    );
  }

  onApplicationBootstrap(): void {
    if (this.backgroundTasks) this.task.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.task.stop();
  }

  get isRunning(): boolean {
    return this.task.isRunning;
  }

  get lastSweepReport(): SweepReport | null {
    return this.lastSweep;
  }

  /** One full pass over the registry. */
  async sweep(): Promise<SweepReport> {
    const started = performance.now();
    const { health_check_timeout, health_check_concurrency, health_check_failures } =
      this.settings.worker;
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
    await mapWithConcurrency(targets, health_check_concurrency, async (t) => {
      const outcome = await this.client.probeHealth(t.url, health_check_timeout * 1000);
      const transition = this.registry.recordHealth(t.id, t.url, outcome, health_check_failures);
      if (outcome.ok) report.healthy += 1;
      else {
        report.failed += 1;
        // A worker that re-registered elsewhere or was removed meanwhile keeps no series.
        if (transition !== 'gone') this.metrics.healthCheckFailed(t.id, t.type);
      }
      if (transition === 'unavailable') {
        report.became_unavailable.push(t.id);
        this.metrics.healthTransition(t.id, t.type, 'temporarily_unavailable');
        this.logger.warn(
          `Worker ${t.id} is temporarily unavailable after ${health_check_failures} failed health checks (last: ${outcome.ok ? 'ok' : outcome.reason})`,
        );
      } else if (transition === 'recovered') {
        report.recovered.push(t.id);
        this.metrics.healthTransition(t.id, t.type, 'recovered');
        this.logger.log(`Worker ${t.id} is healthy again`);
      }
    });
    for (const w of this.registry.removeExpired(this.settings.worker.removal_threshold * 1000)) {
      report.removed.push(w.worker_id);
      this.metrics.forgetWorker(w.worker_id, w.worker_type);
      const silentFor = Math.round((this.clock.now() - w.last_healthy_at) / 1000);
      this.logger.warn(`Removed worker ${w.worker_id}: no sign of life for ${silentFor} s`);
    }
    report.duration_ms = performance.now() - started;
    this.lastSweep = report;
    return report;
  }
}
