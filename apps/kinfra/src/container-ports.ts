/**
 * Ports inside the sandbox containers: the defaults DECLARED in @ktrdr/config's schema (API 8000,
 * PostgreSQL 5432, worker 5003), loaded with an empty environment. They are deliberately not read from
 * the caller's shell: a KTRDR_WORKER_PORT exported in the developer's terminal must not leak into the
 * rendered compose file, where every worker listens on the default port.
 */
import { ApiSettings, DatabaseSettings, WorkerSettings, loadSettings } from '@ktrdr/config';

export interface ContainerPorts {
  readonly api: number;
  readonly db: number;
  readonly worker: number;
}

export function containerPorts(): ContainerPorts {
  return Object.freeze({
    api: loadSettings(ApiSettings, { env: {} }).port,
    db: loadSettings(DatabaseSettings, { env: {} }).port,
    worker: loadSettings(WorkerSettings, { env: {} }).port,
  });
}
