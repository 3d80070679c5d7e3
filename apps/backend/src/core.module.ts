import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyStore } from './auth/api-keys';
import { API_KEY_STORE, AccessGuard } from './auth/access.guard';
import { systemClock } from '@ktrdr/config';
import { CLOCK, type Clock } from './common/clock';
import { ShutdownState } from './common/shutdown-state';
import { BACKGROUND_TASKS } from './common/tokens';
import { BACKEND_SETTINGS, type BackendSettings } from './config/settings';
import { LifecycleEvents } from './operations/lifecycle-events';

export interface CoreOptions {
  settings: BackendSettings;
  /** Time and timers of every service (default: systemClock). */
  clock?: Clock;
  backgroundTasks?: boolean;
}

/** Settings, time, shutdown state, lifecycle events and the global access guard, available everywhere. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(options: CoreOptions): DynamicModule {
    const providers = [
      { provide: BACKEND_SETTINGS, useValue: options.settings },
      { provide: CLOCK, useValue: options.clock ?? systemClock },
      { provide: BACKGROUND_TASKS, useValue: options.backgroundTasks ?? true },
      ShutdownState,
      LifecycleEvents,
      { provide: API_KEY_STORE, useValue: new ApiKeyStore(options.settings.auth.keys) },
    ];
    return {
      module: CoreModule,
      global: true,
      // The access check of every route (API keys, registration token, public routes).
      providers: [...providers, { provide: APP_GUARD, useClass: AccessGuard }],
      exports: providers.map((p) => ('provide' in p ? p.provide : p)),
    };
  }
}
