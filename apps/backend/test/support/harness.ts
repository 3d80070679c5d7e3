import { Logger } from '@nestjs/common';
import type { BackendSettings } from '../../src/config/settings';
import { MetricsService } from '../../src/metrics/metrics.service';
import { ShutdownState } from '../../src/common/shutdown-state';
import { DispatchService } from '../../src/operations/dispatch.service';
import { LifecycleEvents } from '../../src/operations/lifecycle-events';
import { OperationLifecycle } from '../../src/operations/lifecycle.service';
import { SweepsService } from '../../src/operations/sweeps.service';
import { OperationsService } from '../../src/operations/operations.service';
import { OrphanDetectorService } from '../../src/operations/orphan-detector.service';
import { RetentionService } from '../../src/operations/retention.service';
import type { OperationsRepository } from '../../src/persistence/operations.repository';
import { memoryStore } from './memory-store';
import { HealthMonitorService } from '../../src/workers/health-monitor.service';
import type { StartOutcome, WorkerClient } from '../../src/workers/worker-client';
import { WorkerProtocolService } from '../../src/workers/worker-protocol.service';
import { WorkerRegistry, type HealthOutcome } from '../../src/workers/worker-registry';
import { ManualClock } from './manual-clock';
import { testSettings } from './settings';
import {
  WORKER_START,
  type BacktestStartRequestDto,
  type OperationType,
  type TrainingStartRequestDto,
  type WorkerStartRequest,
} from '@ktrdr/contracts';

export interface StartCall {
  url: string;
  route: string;
  body: Record<string, unknown>;
}

/** A scriptable stand-in for the HTTP client to workers. */
export class FakeWorkerClient {
  readonly starts: StartCall[] = [];
  readonly cancels: { url: string; id: string }[] = [];
  readonly probes: string[] = [];
  /** Answer per endpoint (default ok). */
  startAnswer = new Map<string, StartOutcome>();
  /** Called before answering a start (e.g. to yield the event loop). */
  beforeStart: (() => Promise<void>) | null = null;
  health = new Map<string, HealthOutcome | (() => Promise<HealthOutcome>)>();
  cancelOk = true;

  async startOperation<T extends OperationType>(
    url: string,
    type: T,
    body: WorkerStartRequest<T>,
  ): Promise<StartOutcome> {
    this.starts.push({ url, route: WORKER_START[type].route, body: { ...body } });
    if (this.beforeStart) await this.beforeStart();
    return this.startAnswer.get(url) ?? { ok: true };
  }

  async probeHealth(url: string): Promise<HealthOutcome> {
    this.probes.push(url);
    const h = this.health.get(url);
    if (typeof h === 'function') return h();
    return h ?? { ok: true, report: { worker_status: 'idle' as never, current_operation: null } };
  }

  async cancelOperation(url: string, id: string): Promise<{ ok: boolean; detail: string }> {
    this.cancels.push({ url, id });
    return { ok: this.cancelOk, detail: this.cancelOk ? '200' : 'ECONNREFUSED' };
  }

  async notifyShutdown(): Promise<boolean> {
    return true;
  }
}

export interface Harness {
  clock: ManualClock;
  settings: BackendSettings;
  registry: WorkerRegistry;
  repo: OperationsRepository;
  client: FakeWorkerClient;
  metrics: MetricsService;
  events: LifecycleEvents;
  lifecycle: OperationLifecycle;
  dispatcher: DispatchService;
  operations: OperationsService;
  sweeps: SweepsService;
  shutdown: ShutdownState;
  orphans: OrphanDetectorService;
  protocol: WorkerProtocolService;
  monitor: HealthMonitorService;
  retention: RetentionService;
}

/**
 * The backend's services wired by hand (no Nest, no HTTP), with a manual clock: time moves and
 * timers fire only when a test says so.
 */
export function createHarness(
  settings: BackendSettings = testSettings(),
  shared: { repo?: OperationsRepository; clock?: ManualClock } = {},
): Harness {
  Logger.overrideLogger(false);
  const clock = shared.clock ?? new ManualClock();
  const events = new LifecycleEvents();
  const registry = new WorkerRegistry(clock, events);
  const repo = shared.repo ?? memoryStore(clock);
  const client = new FakeWorkerClient();
  const wc = client as unknown as WorkerClient;
  const metrics = new MetricsService(registry, repo);
  const shutdown = new ShutdownState();
  const lifecycle = new OperationLifecycle(repo, events, metrics, clock);
  const dispatcher = new DispatchService(
    registry,
    wc,
    lifecycle,
    events,
    metrics,
    shutdown,
    settings,
    clock,
    false,
  );
  // Event-driven dispatch as in the app (no safety pass: background tasks are off).
  dispatcher.onApplicationBootstrap();
  const operations = new OperationsService(
    repo,
    lifecycle,
    dispatcher,
    registry,
    wc,
    metrics,
    settings,
  );
  const sweeps = new SweepsService(repo, lifecycle, operations, settings);
  const orphans = new OrphanDetectorService(
    repo,
    registry,
    dispatcher,
    operations,
    lifecycle,
    settings,
    clock,
    false,
    metrics,
  );
  const protocol = new WorkerProtocolService(registry, operations, settings, wc);
  const monitor = new HealthMonitorService(registry, wc, settings, clock, false, metrics);
  const retention = new RetentionService(repo, settings, clock, false);
  return {
    clock,
    settings,
    events,
    registry,
    repo,
    client,
    metrics,
    lifecycle,
    dispatcher,
    operations,
    sweeps,
    shutdown,
    orphans,
    protocol,
    monitor,
    retention,
  };
}

export const BACKTEST_PARAMS: BacktestStartRequestDto = {
  symbol: 'SYNTH-DEMO',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-02-01',
  strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
};

export const TRAINING_PARAMS: TrainingStartRequestDto = {
  symbol: 'SYNTH-DEMO',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-03-01',
  features: ['returns_1', 'rsi_14'],
  model: { hidden_layers: [8] },
  epochs: 5,
};
