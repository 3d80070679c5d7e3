/**
 * `@ktrdr/worker-runtime/tracing`: imported by a worker's `main.ts` before anything else, so the
 * OpenTelemetry instrumentations patch http, express and @nestjs/core before they are loaded. This
 * file must not import Nest (nor the runtime's index).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shutdownTelemetry, startTelemetry, type TelemetryHandle } from '@ktrdr/telemetry';
import { fixProcessWorkerId } from './identity';

export interface WorkerTelemetryOptions {
  /** e.g. `backtest-worker` (the default `service.name`). */
  serviceName: string;
  /** `backtesting` or `training` (resource attribute `ktrdr.worker.type`). */
  workerType: string;
  /** The app's package.json, for `service.version`. */
  packageJson?: string;
}

function versionOf(packageJson: string | undefined): string | undefined {
  if (!packageJson) return undefined;
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Starts tracing when KTRDR_OTEL_ENABLED is true; resource: service, version, worker id and type. */
export function startWorkerTelemetry(options: WorkerTelemetryOptions): TelemetryHandle | null {
  let workerId: string | undefined;
  try {
    workerId = fixProcessWorkerId(options.workerType);
  } catch {
    // Invalid worker settings: the configuration check at start-up reports them.
  }
  return startTelemetry({
    serviceName: options.serviceName,
    version: versionOf(options.packageJson),
    workerId,
    workerType: options.workerType,
  });
}

export { shutdownTelemetry };
export const defaultPackageJson = (appDir: string): string => join(appDir, '..', 'package.json');
