import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ShutdownState } from './common/shutdown-state';
import { BACKEND_SETTINGS, type BackendSettings } from './config/settings';
import { WorkerClient } from './workers/worker-client';
import { WorkerRegistry } from './workers/worker-registry';
import { mapWithConcurrency } from './common/periodic-task';

/**
 * Rule 8, backend side: on shutdown answer 503 to registrations, tell every worker
 * (`POST /backend-shutdown`, best effort, short timeout) so it re-registers with the next backend.
 * The store is closed afterwards by the persistence module's shutdown hook.
 */
@Injectable()
export class ShutdownService implements OnModuleDestroy {
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

  /** Idempotent; returns how many workers acknowledged. */
  async notifyWorkers(): Promise<number> {
    this.state.begin();
    if (this.notified) return 0;
    this.notified = true;
    const workers = this.registry.all();
    if (workers.length === 0) return 0;
    let acknowledged = 0;
    const timeoutMs = this.settings.api.shutdown_notify_timeout * 1000;
    await mapWithConcurrency(workers, 100, async (w) => {
      if (await this.client.notifyShutdown(w.endpoint_url, timeoutMs)) acknowledged += 1;
    });
    this.logger.log(
      `Shutdown notice sent to ${workers.length} worker(s), ${acknowledged} acknowledged`,
    );
    return acknowledged;
  }
}
