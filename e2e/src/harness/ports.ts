import { getApiSettings, getWorkerSettings, withEnv } from '@ktrdr/config';

/**
 * Container-side ports of the services: the defaults of the settings schema, read with an empty
 * environment (so no variable of the machine running the tests can change them). Host ports are
 * always random (mapped by Testcontainers) and logged when allocated.
 */
export const SERVICE_PORTS: Readonly<{ backend: number; worker: number }> = Object.freeze(
  withEnv({}, () => ({
    backend: getApiSettings().port,
    worker: getWorkerSettings().port,
  })),
);
