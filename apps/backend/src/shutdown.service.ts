import type { Server } from 'node:http';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import { shutdownTelemetry } from '@ktrdr/telemetry';
import { ShutdownState } from './common/shutdown-state';
import { BACKEND_SETTINGS, type BackendSettings } from './config/settings';
import { WorkerClient } from './workers/worker-client';
import { WorkerRegistry } from './workers/worker-registry';
import { mapWithConcurrency } from './common/periodic-task';

/** Resolves after `ms` (never keeps the process alive on its own). */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
}

/**
 * Rule 8, backend side: on shutdown answer 503 on the worker routes, tell every worker
 * (`POST /backend-shutdown`, signed, short timeout) so it re-registers with the next backend, and close
 * the HTTP connections, all within the shutdown deadline whatever clients and workers do. The store is
 * closed afterwards by the persistence module's shutdown hook (app.close()).
 */
@Injectable()
export class ShutdownService implements OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('Shutdown');
  private notified = false;

  constructor(
    private readonly state: ShutdownState,
    private readonly registry: WorkerRegistry,
    private readonly client: WorkerClient,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
  ) {}

  async onModuleDestroy(): Promise<void> {
    await this.notifyWorkers();
  }

  /** Last: exports the spans that ended during shutdown (no-op when tracing is off). */
  async onApplicationShutdown(): Promise<void> {
    await shutdownTelemetry(2_000);
  }

  /** Idempotent; returns how many workers acknowledged (stops waiting at `deadlineAt`, epoch ms). */
  async notifyWorkers(deadlineAt = Number.POSITIVE_INFINITY): Promise<number> {
    this.state.begin();
    if (this.notified) return 0;
    this.notified = true;
    const workers = this.registry.all();
    if (workers.length === 0) return 0;
    let acknowledged = 0;
    const timeoutMs = this.settings.api.shutdown_notify_timeout * 1000;
    const all = mapWithConcurrency(workers, 100, async (w) => {
      if (await this.client.notifyShutdown(w.endpoint_url, timeoutMs)) acknowledged += 1;
    });
    const left = deadlineAt - Date.now();
    const finished = await Promise.race([
      all.then(() => true),
      Number.isFinite(left) ? sleep(left).then(() => false) : new Promise<boolean>(() => {}),
    ]);
    this.logger.log(
      `Shutdown notice sent to ${workers.length} worker(s), ${acknowledged} acknowledged` +
        (finished ? '' : ' before the deadline'),
    );
    return acknowledged;
  }

  /**
   * Stops accepting connections, notifies the workers, closes idle connections, lets requests in flight
   * finish for a moment, then closes every connection. Never takes longer than until `deadlineAt`.
   */
  async drain(server: Server | undefined, deadlineAt: number): Promise<void> {
    this.state.begin();
    const closed = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    server?.closeIdleConnections();
    // Leave a share of the deadline for the store and the exit.
    const budget = (deadlineAt - Date.now()) * 0.6;
    await this.notifyWorkers(Date.now() + budget);
    server?.closeIdleConnections();
    const grace = Math.min(1_000, Math.max(0, deadlineAt - Date.now()) * 0.3);
    await Promise.race([closed, sleep(grace)]);
    server?.closeAllConnections();
    await Promise.race([closed, sleep(Math.min(200, Math.max(0, deadlineAt - Date.now())))]);
  }
}
