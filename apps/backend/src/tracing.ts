/**
 * Imported first by main.ts: starts OpenTelemetry tracing (when KTRDR_OTEL_ENABLED is true) before
 * http, express, @nestjs/core and pg are loaded, so their instrumentations apply. No Nest imports.
 */
import { startTelemetry } from '@ktrdr/telemetry';
import { backendVersion } from './version';

startTelemetry({ serviceName: 'backend', version: backendVersion() });
