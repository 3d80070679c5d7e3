import { DynamicModule, Inject, Module, OnModuleDestroy } from '@nestjs/common';
import { resolveRuntimeConfig, RuntimeConfig } from './config';
import {
  createStartController,
  WORKER_RUNTIME,
  WorkerHealthController,
  WorkerMetricsController,
  WorkerOperationsController,
} from './http/controllers';
import { WorkerRuntime, WorkerRuntimeDeps } from './runtime';
import type { WorkerEngine } from './types';

export interface WorkerRuntimeModuleOptions {
  engine: WorkerEngine;
  /** Replaces values resolved from the settings (tests). */
  config?: Partial<RuntimeConfig>;
  deps?: WorkerRuntimeDeps;
  /** Use this runtime instead of building one (tests). */
  runtime?: WorkerRuntime;
}

class RuntimeLifecycle implements OnModuleDestroy {
  constructor(@Inject(WORKER_RUNTIME) private readonly runtime: WorkerRuntime) {}

  async onModuleDestroy(): Promise<void> {
    await this.runtime.close();
  }
}

/**
 * Nest module of a worker: GET /health, /health/ready, POST {engine.startRoute} (and its legacy names),
 * GET /api/v1/operations/{id}, DELETE /api/v1/operations/{id}/cancel, POST /backend-shutdown,
 * GET /metrics, over one WorkerRuntime (injectable as WORKER_RUNTIME).
 */
@Module({})
export class WorkerRuntimeModule {
  static forRoot(options: WorkerRuntimeModuleOptions): DynamicModule {
    // Built when the application is created (after loadSettingsOrExit), not at import time.
    const factory = (): WorkerRuntime =>
      options.runtime ??
      new WorkerRuntime(
        options.engine,
        resolveRuntimeConfig(options.engine.workerType, options.config),
        options.deps,
      );
    return {
      module: WorkerRuntimeModule,
      global: true,
      controllers: [
        WorkerHealthController,
        createStartController(
          options.engine.startRoute,
          options.engine.startRequestDto,
          options.engine.legacyStartRoutes,
        ),
        WorkerOperationsController,
        WorkerMetricsController,
      ],
      providers: [{ provide: WORKER_RUNTIME, useFactory: factory }, RuntimeLifecycle],
      exports: [WORKER_RUNTIME],
    };
  }
}
