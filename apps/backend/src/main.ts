import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDatabaseSettings, loadSettingsOrExit } from '@ktrdr/config';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { loadBackendSettings } from './config/settings';

async function bootstrap(): Promise<void> {
  // Deprecated names, unknown KTRDR_* variables, validation: exit 1 on invalid configuration.
  loadSettingsOrExit('backend', 'backend');
  const settings = loadBackendSettings();
  const logger = new Logger('Bootstrap');
  const db = getDatabaseSettings();
  logger.log(
    db.driver === 'postgres'
      ? `Operations store: PostgreSQL at ${db.host}:${db.port}/${db.name}`
      : `Operations store: embedded PGlite in ${db.dir}`,
  );
  const app = await NestFactory.create(AppModule.forRoot({ settings }), { bufferLogs: false });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  configureApp(app);
  await app.listen(settings.api.port, settings.api.host);
  logger.log(
    `KTRDR backend listening on http://${settings.api.host}:${settings.api.port} (API /api/v1, Swagger /api/docs, metrics /metrics)`,
  );
}

bootstrap().catch((err: unknown) => {
  new Logger('Bootstrap').error(
    `Backend failed to start: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
});
