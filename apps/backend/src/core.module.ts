import { Global, Module, type DynamicModule } from '@nestjs/common';
import { CLOCK, systemClock, type Clock } from './common/clock';
import { TIMERS, realTimers, type Timers } from './common/periodic-task';
import { ShutdownState } from './common/shutdown-state';
import { BACKGROUND_TASKS } from './common/tokens';
import { BACKEND_SETTINGS, type BackendSettings } from './config/settings';
import { LifecycleEvents } from './operations/lifecycle-events';

export interface CoreOptions {
  settings: BackendSettings;
  clock?: Clock;
  timers?: Timers;
  backgroundTasks?: boolean;
}

/** Settings, time, shutdown state and lifecycle events, available everywhere. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(options: CoreOptions): DynamicModule {
    const providers = [
      { provide: BACKEND_SETTINGS, useValue: options.settings },
      { provide: CLOCK, useValue: options.clock ?? systemClock },
      { provide: TIMERS, useValue: options.timers ?? realTimers },
      { provide: BACKGROUND_TASKS, useValue: options.backgroundTasks ?? true },
      ShutdownState,
      LifecycleEvents,
    ];
    return {
      module: CoreModule,
      global: true,
      providers,
      exports: providers.map((p) => ('provide' in p ? p.provide : p)),
    };
  }
}
