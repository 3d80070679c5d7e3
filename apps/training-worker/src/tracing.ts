/**
 * Imported first by main.ts: starts OpenTelemetry tracing (when KTRDR_OTEL_ENABLED is true)
 * before express and @nestjs/core are loaded, so their instrumentations apply. No Nest imports here.
 */
import { join } from 'node:path';
import { startWorkerTelemetry } from '@ktrdr/worker-runtime/tracing';

startWorkerTelemetry({
  serviceName: 'training-worker',
  workerType: 'training',
  packageJson: join(__dirname, '..', 'package.json'),
});
