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

/** The @ktrdr/config fields each group of BackendSettings takes, by name (types and values alike). */
const WORKER_FIELDS = [
  'health_check_interval',
  'health_check_timeout',
  'health_check_failures',
  'removal_threshold',
  'health_check_concurrency',
  'dispatch_timeout',
  'heartbeat_interval',
] as const satisfies readonly (keyof WorkerSettingsValues)[];
const ORPHAN_FIELDS = [
  'timeout_seconds',
  'check_interval_seconds',
] as const satisfies readonly (keyof OrphanDetectorSettingsValues)[];
const OPERATIONS_FIELDS = [
  'cleanup_interval_seconds',
  'retention_days',
  'max_attempts',
  'max_queued',
  'max_sweep_children',
  'dispatch_interval_seconds',
] as const satisfies readonly (keyof OperationsSettingsValues)[];
const API_FIELDS = [
  'host',
  'port',
  'shutdown_notify_timeout',
  'shutdown_deadline',
] as const satisfies readonly (keyof ApiSettingsValues)[];
const AUTH_FIELDS = [
  'public_metrics',
  'public_health',
] as const satisfies readonly (keyof ApiSettingsValues)[];
const EVENTS_FIELDS = [
  'heartbeat_interval',
  'replay_buffer_size',
  'client_buffer_size',
  'client_stall_timeout',
  'max_clients',
] as const satisfies readonly (keyof EventsSettingsValues)[];

type FieldsOf<T, L extends readonly (keyof T)[]> = Pick<T, L[number]>;

/** The fields of `values` named in `keys`, as a new object. */
function pick<T, const K extends keyof T>(values: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) out[k] = values[k];
  return out;
}

/**
 * The settings the backend uses, gathered once from @ktrdr/config (the only reader of the
 * environment; what each field means and its default are declared there). Services receive them
 * through the BACKEND_SETTINGS provider so tests can pass their own values. Durations are in
 * seconds, as in @ktrdr/config.
 */
export interface BackendSettings {
  worker: FieldsOf<WorkerSettingsValues, typeof WORKER_FIELDS> & {
    /** The resolved token: configured, or the development one (undefined: worker routes refuse all). */
    readonly registration_token: string | undefined;
  };
  orphan: FieldsOf<OrphanDetectorSettingsValues, typeof ORPHAN_FIELDS>;
  operations: FieldsOf<OperationsSettingsValues, typeof OPERATIONS_FIELDS>;
  api: FieldsOf<ApiSettingsValues, typeof API_FIELDS>;
  auth: FieldsOf<ApiSettingsValues, typeof AUTH_FIELDS> & {
    /** API keys (digests only). Empty: every route that needs a key answers 401. */
    readonly keys: readonly ApiKeyEntry[];
  };
  /** Models directory scanned by GET /models (KTRDR_DATA_MODELS_DIR); absent: the store only. */
  models_dir?: string;
  events: FieldsOf<EventsSettingsValues, typeof EVENTS_FIELDS>;
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
    worker: { registration_token: resolved.registration_token, ...pick(w, WORKER_FIELDS) },
    orphan: pick(o, ORPHAN_FIELDS),
    operations: pick(ops, OPERATIONS_FIELDS),
    api: pick(api, API_FIELDS),
    auth: { keys: resolved.keys, ...pick(api, AUTH_FIELDS) },
    ...(resolved.models_dir !== undefined ? { models_dir: resolved.models_dir } : {}),
    events: pick(ev, EVENTS_FIELDS),
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
