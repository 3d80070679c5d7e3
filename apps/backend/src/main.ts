import 'reflect-metadata';
import { ConsoleLogger, Logger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  getApiSettings,
  getDatabaseSettings,
  getLoggingSettings,
  getRuntimeSettings,
  loadSettingsOrExit,
} from '@ktrdr/config';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { loadBackendSettings } from './config/settings';
import { DASHBOARD_PATH, dashboardDistDir, mountDashboard } from './dashboard';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Nest's console logger at KTRDR_LOG_LEVEL (and JSON lines when KTRDR_LOG_JSON is set). */
function createLogger(): ConsoleLogger {
  const { level, json } = getLoggingSettings();
  const logLevels = LEVELS.slice(0, LEVELS.indexOf(level) + 1);
  return new ConsoleLogger({ logLevels, json, colors: json ? false : undefined });
}

async function bootstrap(): Promise<void> {
  // Deprecated names, unknown KTRDR_* variables, validation: exit 1 on invalid configuration.
  loadSettingsOrExit('backend', 'backend');
  const settings = loadBackendSettings();
  const appLogger = createLogger();
  Logger.overrideLogger(appLogger);
  const logger = new Logger('Bootstrap');
  const db = getDatabaseSettings();
  logger.log(
    db.driver === 'postgres'
      ? `Operations store: PostgreSQL at ${db.host}:${db.port}/${db.name}`
      : `Operations store: embedded PGlite in ${db.dir}`,
  );
  const app = await NestFactory.create(AppModule.forRoot({ settings }), {
    logger: appLogger,
  });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  const { cors_origins } = getApiSettings();
  if (cors_origins.length > 0) {
    app.enableCors({ origin: cors_origins.includes('*') ? true : [...cors_origins] });
  }
  configureApp(app);
  const dashboard = mountDashboard(app, dashboardDistDir(), new Logger('Dashboard'));
  await app.listen(settings.api.port, settings.api.host);
  logger.log(
    `KTRDR backend listening on http://${settings.api.host}:${settings.api.port} (${dashboard ? `dashboard ${DASHBOARD_PATH}/, ` : ''}API /api/v1, Swagger /api/docs, metrics /metrics, live events /api/v1/events)`,
  );
  if (getRuntimeSettings().environment === 'development') {
    logger.log(
      'First steps (another terminal): npx ktrdr workers · npx ktrdr backtest run --help · npx ktrdr status',
    );
  }
}

bootstrap().catch((err: unknown) => {
  new Logger('Bootstrap').error(
    `Backend failed to start: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
});
