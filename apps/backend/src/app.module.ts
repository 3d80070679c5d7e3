import { Module, type DynamicModule } from '@nestjs/common';
import { BacktestsModule } from './backtests/backtests.module';
import type { Clock } from './common/clock';
import { loadBackendSettings, type BackendSettings } from './config/settings';
import { CoreModule } from './core.module';
import { EventsModule } from './events/events.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { OperationsModule } from './operations/operations.module';
import type { OperationsRepository } from './persistence/operations.repository';
import { PersistenceModule } from './persistence/persistence.module';
import type { DatabaseSettingsValues } from './persistence/repository.factory';
import { ResultsModule } from './results/results.module';
import { ShutdownService } from './shutdown.service';
import { TrainingsModule } from './trainings/trainings.module';
import { WorkersApiModule } from './workers/workers-api.module';
import { WorkersModule } from './workers/workers.module';

export interface AppOptions {
  /** Default: loadBackendSettings() (from @ktrdr/config). */
  settings?: BackendSettings;
  /** A ready-made store (tests, OpenAPI generation); default: the configured driver. */
  repository?: OperationsRepository;
  /** Database settings instead of getDatabaseSettings() (e.g. `{ ...s, dir: 'memory://' }`). */
  database?: DatabaseSettingsValues;
  /** Time and timers of every service (default: systemClock from @ktrdr/config). */
  clock?: Clock;
  /** Start the health monitor, orphan detector and retention loops (default true). */
  backgroundTasks?: boolean;
}

@Module({})
export class AppModule {
  static forRoot(options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot({
          settings: options.settings ?? loadBackendSettings(),
          clock: options.clock,
          backgroundTasks: options.backgroundTasks,
        }),
        PersistenceModule.forRoot({ repository: options.repository, settings: options.database }),
        WorkersModule,
        MetricsModule,
        OperationsModule,
        ResultsModule,
        WorkersApiModule,
        BacktestsModule,
        TrainingsModule,
        HealthModule,
        EventsModule,
      ],
      providers: [ShutdownService],
    };
  }
}
