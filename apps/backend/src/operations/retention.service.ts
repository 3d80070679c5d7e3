import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { CLOCK, type Clock } from '../common/clock';
import { PeriodicTask } from '../common/periodic-task';
import { BACKGROUND_TASKS } from '../common/tokens';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import {
  OPERATIONS_REPOSITORY,
  type OperationsRepository,
} from '../persistence/operations.repository';

/** Purges finished operations older than `retention_days`, every `cleanup_interval_seconds`. */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RetentionService.name);
  private readonly task: PeriodicTask;

  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly repo: OperationsRepository,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(BACKGROUND_TASKS) private readonly backgroundTasks: boolean,
  ) {
    this.task = new PeriodicTask(
      'retention purge',
      settings.operations.cleanup_interval_seconds * 1000,
      async () => {
        await this.purge();
      },
      clock,
      this.logger,
    );
  }

  onApplicationBootstrap(): void {
    if (this.backgroundTasks) this.task.start({ runImmediately: true });
  }

  async onModuleDestroy(): Promise<void> {
    await this.task.stop();
  }

  async purge(): Promise<number> {
    const cutoff = new Date(
      this.clock.now() - this.settings.operations.retention_days * 86_400_000,
    );
    const n = await this.repo.purgeFinishedBefore(cutoff);
    if (n > 0) {
      this.logger.log(`Purged ${n} finished operation(s) completed before ${cutoff.toISOString()}`);
    }
    return n;
  }
}
