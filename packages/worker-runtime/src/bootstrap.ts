import 'reflect-metadata';
import { DynamicModule, INestApplication, LoggerService, LogLevel, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import {
  ErrorEnvelopeFilter,
  errorText,
  jsonBodyParserOptions,
  jsonOnlyWrites,
} from '@ktrdr/contracts';
import {
  getLoggingSettings,
  holdStartupSignals,
  loadSettingsOrExit,
  redactUrlCredentials,
} from '@ktrdr/config';
import { ServiceLogger, shutdownTelemetry } from '@ktrdr/telemetry';
import { WORKER_RUNTIME } from './http/controllers';
import { nestLogger } from './logger';
import type { WorkerRuntime } from './runtime';

/** Largest request body a worker accepts (a start request with its parameters); beyond it: 413. */
export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

export interface BootstrapWorkerOptions {
  /** e.g. `backtest-worker`; used in messages and validation output. */
  serviceName: string;
  /** The app module (it imports WorkerRuntimeModule.forRoot(...)). */
  module: Type<unknown> | DynamicModule;
  /** Listen address; default KTRDR_WORKER_HOST (0.0.0.0, all interfaces, for containers). */
  host?: string;
  /** Install SIGTERM/SIGINT handlers that shut down gracefully and exit 0. Default true. */
  handleSignals?: boolean;
}

export interface BootstrappedWorker {
  app: INestApplication;
  runtime: WorkerRuntime;
  port: number;
}

/** Creates the Nest application of a worker with the runtime's body parser and error envelope. */
export async function createWorkerApp(
  module: Type<unknown> | DynamicModule,
  logger: LoggerService | LogLevel[] | false = ['error', 'warn'],
): Promise<{ app: INestApplication; runtime: WorkerRuntime }> {
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bodyParser: false,
    logger,
  });
  const runtime = app.get<WorkerRuntime>(WORKER_RUNTIME);
  // The same JSON rules as the backend's; the exact text is kept for the signature check.
  app.use(jsonOnlyWrites());
  app.useBodyParser(
    'json',
    jsonBodyParserOptions({ limit: JSON_BODY_LIMIT_BYTES, keepRawBody: true }),
  );
  app.useGlobalFilters(
    new ErrorEnvelopeFilter((message, stack) =>
      runtime.logger.error(`unhandled error: ${stack ?? message}`),
    ),
  );
  return { app, runtime };
}

/**
 * `main.ts` of a worker: validates the configuration (exit 1 with a readable message when
 * invalid), listens on KTRDR_WORKER_PORT, logs one line with the worker id, type and port,
 * registers in the background, and on SIGTERM stops accepting, aborts the running operation
 * with a shutdown checkpoint, reports it and exits 0 within the grace period.
 */
export async function bootstrapWorker(
  options: BootstrapWorkerOptions,
): Promise<BootstrappedWorker> {
  loadSettingsOrExit('worker', options.serviceName);
  // A signal while the app starts is kept and handled once it has started, as any other.
  const signals = options.handleSignals !== false ? holdStartupSignals() : null;
  const logging = getLoggingSettings();
  // Nest's route-mapping lines only at debug/verbose: the start-up log is our one line.
  const { app, runtime } = await createWorkerApp(
    options.module,
    new ServiceLogger(logging.level, logging.json),
  );
  const log = nestLogger(options.serviceName);
  try {
    await app.listen(runtime.config.port, options.host ?? runtime.config.host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    log.error(
      `cannot listen on port ${runtime.config.port}: ${code === 'EADDRINUSE' ? 'the port is already in use (set KTRDR_WORKER_PORT)' : errorText(err)}`,
    );
    await app.close().catch(() => undefined);
    process.exit(1);
  }
  runtime.listening(runtime.config.port);
  log.log(
    `worker ${runtime.workerId} (type ${runtime.engine.workerType}) listening on ${options.host ?? runtime.config.host}:${runtime.config.port}, advertised as ${runtime.config.endpoint_url}, backend ${redactUrlCredentials(runtime.client.baseUrl)}`,
  );
  runtime.start();

  if (signals) {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.log(
        `${signal} received: shutting down (grace ${runtime.config.shutdown_grace_ms / 1000} s)`,
      );
      const hardStop = setTimeout(() => {
        log.error('graceful shutdown exceeded the grace period; exiting');
        process.exit(1);
      }, runtime.config.shutdown_grace_ms);
      hardStop.unref();
      void (async () => {
        try {
          await runtime.shutdown();
          await app.close();
          // Spans of the aborted operation and its last reports are exported before exit.
          await shutdownTelemetry(2_000);
          log.log('shutdown complete');
          process.exit(0);
        } catch (err) {
          log.error(`shutdown failed: ${errorText(err)}`);
          process.exit(1);
        }
      })();
    };
    signals.handOver(onSignal);
  }
  return { app, runtime, port: runtime.config.port };
}
