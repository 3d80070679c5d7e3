// Tracing first: it must patch http/express/nest/pg before they load.
import './tracing';
import 'reflect-metadata';
import type { Server } from 'node:http';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  getApiSettings,
  getDatabaseSettings,
  getLoggingSettings,
  getRuntimeSettings,
  holdStartupSignals,
  loadSettingsOrExit,
} from '@ktrdr/config';
import { ServiceLogger } from '@ktrdr/telemetry';
import { errorText } from '@ktrdr/contracts';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { loadBackendSettingsWithReport, type SecretsReport } from './config/settings';
import { DASHBOARD_PATH, dashboardDistDir, mountDashboard } from './dashboard';
import { LifecycleEvents } from './operations/lifecycle-events';
import { announceWhenReady } from './ready-banner';
import { ShutdownService } from './shutdown.service';

/** The services' console logger at KTRDR_LOG_LEVEL (JSON lines with trace ids when KTRDR_LOG_JSON is set). */
function createLogger(): ServiceLogger {
  const { level, json } = getLoggingSettings();
  return new ServiceLogger(level, json);
}

/** Where the development secrets are (never the secrets themselves). */
function logSecrets(logger: Logger, secrets: SecretsReport, port: number): void {
  if (secrets.dev_key_file) {
    logger.warn(
      `No API key is configured: ${secrets.dev_key_created ? 'generated' : 'using'} the development operate key in ${secrets.dev_key_file} (owner-only). ` +
        `Use it: curl -H "Authorization: Bearer $(cat ${secrets.dev_key_file})" http://localhost:${port}/api/v1/operations ` +
        '(the ktrdr CLI reads that file; Swagger UI: Authorize with the key). Production needs configured keys: see docs/security.md.',
    );
  }
  if (secrets.token_source === 'generated') {
    logger.warn(
      `KTRDR_WORKER_REGISTRATION_TOKEN is not set: backend and workers share the development token in ${secrets.token_file ?? 'the data directory'} ` +
        '(workers on other hosts need KTRDR_WORKER_REGISTRATION_TOKEN).',
    );
  }
}

async function bootstrap(): Promise<void> {
  // Deprecated names, unknown KTRDR_* variables, validation: exit 1 on invalid configuration.
  loadSettingsOrExit('backend', 'backend');
  // A signal while the store opens and the app starts is kept and handled once it has started.
  const signals = holdStartupSignals();
  const appLogger = createLogger();
  Logger.overrideLogger(appLogger);
  const logger = new Logger('Bootstrap');
  const { settings, secrets } = loadBackendSettingsWithReport();
  const db = getDatabaseSettings();
  logger.log(
    db.driver === 'postgres'
      ? `Operations store: PostgreSQL at ${db.host}:${db.port}/${db.name}`
      : `Operations store: embedded SQLite in ${db.dir}`,
  );
  const app = await NestFactory.create(AppModule.forRoot({ settings }), {
    logger: appLogger,
  });
  const { cors_origins } = getApiSettings();
  if (cors_origins.length > 0) {
    app.enableCors({ origin: cors_origins.includes('*') ? true : [...cors_origins] });
  }
  configureApp(app);
  const dashboard = mountDashboard(app, dashboardDistDir(), new Logger('Dashboard'));
  await app.listen(settings.api.port, settings.api.host);
  logger.log(
    `KTRDR backend listening on http://${settings.api.host}:${settings.api.port} (${dashboard ? `dashboard ${DASHBOARD_PATH}/, ` : ''}API /api/v1, Swagger /api/docs, metrics /metrics, live events /api/v1/events; ${settings.auth.keys.length} API key(s))`,
  );
  logSecrets(logger, secrets, settings.api.port);
  if (getRuntimeSettings().environment === 'development') {
    announceWhenReady(app.get(LifecycleEvents), logger, settings.api, dashboard, secrets);
  }

  // SIGTERM/SIGINT: stop accepting, 503 on worker routes, notify workers, close idle then all
  // connections, close the store, and exit 0 within the deadline whatever clients do.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    const deadlineMs = settings.api.shutdown_deadline * 1000;
    const deadlineAt = Date.now() + deadlineMs;
    logger.log(`${signal} received: shutting down (deadline ${settings.api.shutdown_deadline} s)`);
    const hardStop = setTimeout(() => {
      logger.warn('Shutdown deadline reached: exiting now');
      process.exit(0);
    }, deadlineMs);
    hardStop.unref();
    void (async () => {
      try {
        await app
          .get(ShutdownService)
          .drain(app.getHttpServer() as Server, deadlineAt - Math.min(1_000, deadlineMs * 0.2));
        await app.close();
        logger.log('Shutdown complete');
      } catch (err) {
        logger.error(`Shutdown failed: ${errorText(err)}`);
      }
      process.exit(0);
    })();
  };
  signals.handOver(onSignal);
}

bootstrap().catch((err: unknown) => {
  new Logger('Bootstrap').error(`Backend failed to start: ${errorText(err)}`);
  process.exit(1);
});
