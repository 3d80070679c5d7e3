import {
  ApiSettings,
  EventsSettings,
  OperationsSettings,
  OrphanDetectorSettings,
  WorkerSettings,
  loadSettings,
} from '@ktrdr/config';
import { assembleBackendSettings, type BackendSettings } from './settings';

/** An empty environment: every value is @ktrdr/config's declared default (no .env.local, no fleet file). */
const NO_ENV = {};

/**
 * The documented defaults of @ktrdr/config, for code paths that must not depend on the environment
 * (OpenAPI generation) and as a base for test settings. Loaded from the settings declarations
 * themselves, so there is one place where a default is written.
 */
export const DEFAULT_BACKEND_SETTINGS: BackendSettings = Object.freeze(
  assembleBackendSettings(
    {
      worker: loadSettings(WorkerSettings, { env: NO_ENV }),
      orphan: loadSettings(OrphanDetectorSettings, { env: NO_ENV }),
      operations: loadSettings(OperationsSettings, { env: NO_ENV }),
      api: loadSettings(ApiSettings, { env: NO_ENV }),
      events: loadSettings(EventsSettings, { env: NO_ENV }),
    },
    { registration_token: undefined, keys: [] },
  ),
);
