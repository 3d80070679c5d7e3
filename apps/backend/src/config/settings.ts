import {
  type ApiSettingsValues,
  type EventsSettingsValues,
  type OperationsSettingsValues,
  type OrphanDetectorSettingsValues,
  type WorkerSettingsValues,
  getApiSettings,
  getDataSettings,
  getDatabaseSettings,
  getEventsSettings,
  getOperationsSettings,
  getOrphanDetectorSettings,
  getRuntimeSettings,
  getWorkerSettings,
  resolveRegistrationToken,
} from '@ktrdr/config';
import { loadApiKeys, type ApiKeyEntry } from '../auth/api-keys';

/**
 * The settings the backend uses, gathered once from @ktrdr/config (the only reader of the environment).
 * Services receive them through the BACKEND_SETTINGS provider so tests can pass their own values.
 * Durations are in seconds, as in @ktrdr/config.
 */
export interface BackendSettings {
  worker: {
    /** The resolved token: configured, or the development one (undefined: worker routes refuse all). */
    registration_token: string | undefined;
    health_check_interval: number;
    health_check_timeout: number;
    health_check_failures: number;
    removal_threshold: number;
    health_check_concurrency: number;
    dispatch_timeout: number;
    heartbeat_interval: number;
  };
  orphan: { timeout_seconds: number; check_interval_seconds: number };
  operations: {
    cleanup_interval_seconds: number;
    retention_days: number;
    max_attempts: number;
    max_queued: number;
    max_sweep_children: number;
    dispatch_interval_seconds: number;
  };
  api: {
    host: string;
    port: number;
    shutdown_notify_timeout: number;
    /** Seconds from SIGTERM to exit. */
    shutdown_deadline: number;
  };
  auth: {
    /** API keys (digests only). Empty: every route that needs a key answers 401. */
    keys: readonly ApiKeyEntry[];
    public_metrics: boolean;
    public_health: boolean;
  };
  /** Models directory scanned by GET /models (KTRDR_DATA_MODELS_DIR); absent: the store only. */
  models_dir?: string;
  events: {
    heartbeat_interval: number;
    replay_buffer_size: number;
    client_buffer_size: number;
    client_stall_timeout: number;
    max_clients: number;
  };
}

export const BACKEND_SETTINGS = Symbol('BACKEND_SETTINGS');

/** Where generated development secrets came from (for the start-up log; never the secrets). */
export interface SecretsReport {
  dev_key_file: string | null;
  dev_key_created: boolean;
  token_source: 'configured' | 'generated' | 'none';
  token_file?: string;
}

/** Reads the current settings from @ktrdr/config; generates development secrets when needed. */
export function loadBackendSettingsWithReport(): {
  settings: BackendSettings;
  secrets: SecretsReport;
} {
  const w = getWorkerSettings();
  const o = getOrphanDetectorSettings();
  const ops = getOperationsSettings();
  const api = getApiSettings();
  const ev = getEventsSettings();
  const token = resolveRegistrationToken();
  const keys = loadApiKeys({
    keys_file: api.keys_file,
    operate_key_sha256: api.operate_key_sha256,
    read_key_sha256: api.read_key_sha256,
    environment: getRuntimeSettings().environment,
    data_dir: getDataSettings().dir,
  });
  const settings = assembleBackendSettings(
    { worker: w, orphan: o, operations: ops, api, events: ev },
    { registration_token: token.token, keys: keys.keys, models_dir: getDataSettings().models_dir },
  );
  return {
    settings,
    secrets: {
      dev_key_file: keys.dev_key_file,
      dev_key_created: keys.dev_key_created,
      token_source: token.source,
      ...(token.file ? { token_file: token.file } : {}),
    },
  };
}

/** The @ktrdr/config values the backend is built from (loaded with the environment or with none). */
export interface BackendSettingsSources {
  worker: WorkerSettingsValues;
  orphan: OrphanDetectorSettingsValues;
  operations: OperationsSettingsValues;
  api: ApiSettingsValues;
  events: EventsSettingsValues;
}

/** BackendSettings from loaded config values and what the start-up resolved (token, keys, models). */
export function assembleBackendSettings(
  { worker: w, orphan: o, operations: ops, api, events: ev }: BackendSettingsSources,
  resolved: Pick<BackendSettings, 'models_dir'> & {
    registration_token: string | undefined;
    keys: readonly ApiKeyEntry[];
  },
): BackendSettings {
  return {
    worker: {
      registration_token: resolved.registration_token,
      health_check_interval: w.health_check_interval,
      health_check_timeout: w.health_check_timeout,
      health_check_failures: w.health_check_failures,
      removal_threshold: w.removal_threshold,
      health_check_concurrency: w.health_check_concurrency,
      dispatch_timeout: w.dispatch_timeout,
      heartbeat_interval: w.heartbeat_interval,
    },
    orphan: {
      timeout_seconds: o.timeout_seconds,
      check_interval_seconds: o.check_interval_seconds,
    },
    operations: {
      cleanup_interval_seconds: ops.cleanup_interval_seconds,
      retention_days: ops.retention_days,
      max_attempts: ops.max_attempts,
      max_queued: ops.max_queued,
      max_sweep_children: ops.max_sweep_children,
      dispatch_interval_seconds: ops.dispatch_interval_seconds,
    },
    api: {
      host: api.host,
      port: api.port,
      shutdown_notify_timeout: api.shutdown_notify_timeout,
      shutdown_deadline: api.shutdown_deadline,
    },
    auth: {
      keys: resolved.keys,
      public_metrics: api.public_metrics,
      public_health: api.public_health,
    },
    ...(resolved.models_dir !== undefined ? { models_dir: resolved.models_dir } : {}),
    events: {
      heartbeat_interval: ev.heartbeat_interval,
      replay_buffer_size: ev.replay_buffer_size,
      client_buffer_size: ev.client_buffer_size,
      client_stall_timeout: ev.client_stall_timeout,
      max_clients: ev.max_clients,
    },
  };
}

/** Reads the current settings from @ktrdr/config. */
export function loadBackendSettings(): BackendSettings {
  return loadBackendSettingsWithReport().settings;
}

/** Where the operations store lives (for logs and for the store factory). */
export function loadDatabaseSettings(): ReturnType<typeof getDatabaseSettings> {
  return getDatabaseSettings();
}
