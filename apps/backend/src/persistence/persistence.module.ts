import { Global, Inject, Injectable, Logger, Module } from '@nestjs/common';
import { CLOCK, type Clock } from '../common/clock';
import type { DynamicModule, OnApplicationShutdown, Provider } from '@nestjs/common';
import { OPERATIONS_REPOSITORY } from './operations.repository';
import type { OperationsRepository } from './operations.repository';
import { createOperationsRepository } from './repository.factory';
import { errorText } from '@ktrdr/contracts';
import type { DatabaseSettingsValues } from './repository.factory';

export interface PersistenceModuleOptions {
  /** Database settings to use instead of getDatabaseSettings() (e.g. `{ ...s, dir: 'memory://' }`). */
  settings?: DatabaseSettingsValues;
  /** A ready-made repository (tests). It is initialised at module start like a created one. */
  repository?: OperationsRepository;
  /** Close the repository on application shutdown; default true. */
  closeOnShutdown?: boolean;
}

const PERSISTENCE_OPTIONS = Symbol('PERSISTENCE_OPTIONS');

/** Closes the store when the application shuts down (app.close(), or SIGTERM with enableShutdownHooks()). */
@Injectable()
export class PersistenceLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('Persistence');

  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly repository: OperationsRepository,
    @Inject(PERSISTENCE_OPTIONS) private readonly options: PersistenceModuleOptions,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.options.closeOnShutdown === false) return;
    try {
      await this.repository.close();
    } catch (err) {
      this.logger.error(`Closing the operations store failed: ${errorText(err)}`);
    }
  }
}

function providers(options: PersistenceModuleOptions): Provider[] {
  return [
    { provide: PERSISTENCE_OPTIONS, useValue: options },
    {
      provide: OPERATIONS_REPOSITORY,
      // Async factory: the repository is opened and migrated before any consumer receives it,
      // so the application fails to start (with a clear message) when the store is unusable.
      // The store's timestamps come from the services' CLOCK (CoreModule); a module compiled
      // without CoreModule (tests of this module alone) gets the repository's default, systemClock.
      inject: [{ token: CLOCK, optional: true }],
      useFactory: async (clock: Clock | undefined): Promise<OperationsRepository> => {
        const logger = new Logger('Persistence');
        const repository =
          options.repository ??
          createOperationsRepository(options.settings, { logger, ...(clock ? { clock } : {}) });
        await repository.init();
        return repository;
      },
    },
    PersistenceLifecycle,
  ];
}

/**
 * Provides OPERATIONS_REPOSITORY (global). Import `PersistenceModule` for the configured store, or
 * `PersistenceModule.forRoot({ settings | repository })` to choose one (tests).
 */
@Global()
@Module({
  providers: providers({}),
  exports: [OPERATIONS_REPOSITORY],
})
export class PersistenceModule {
  static forRoot(options: PersistenceModuleOptions = {}): DynamicModule {
    return {
      module: ConfiguredPersistenceModule,
      global: true,
      providers: providers(options),
      exports: [OPERATIONS_REPOSITORY],
    };
  }
}

/** Host of `PersistenceModule.forRoot()` (a separate class so its providers never mix with the static ones). */
@Module({})
export class ConfiguredPersistenceModule {}
