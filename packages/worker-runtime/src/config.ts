import { hostname } from 'node:os';
import {
  getApiClientSettings,
  getCheckpointSettings,
  getWorkerSettings,
  resolveRegistrationToken,
} from '@ktrdr/config';
import { fixedProcessWorkerId, generateWorkerId } from './identity';

/** Everything the runtime needs from configuration, resolved once at start-up. */
export interface RuntimeConfig {
  worker_id: string;
  /** Port the HTTP server listens on (KTRDR_WORKER_PORT). */
  port: number;
  /** Interface the HTTP server listens on (KTRDR_WORKER_HOST). */
  host: string;
  /** KTRDR_WORKER_PUBLIC_BASE_URL, when set. */
  public_base_url: string | undefined;
  /** URL advertised to the backend: public_base_url, else http://{hostname}:{port}. */
  endpoint_url: string;
  /** Backend API base including `/api/v1`. */
  backend_url: string;
  /** KTRDR_WORKER_RELEASE: the deployed code release, sent as metadata.release when set. */
  release: string | undefined;
  /** Timeout of one request to the backend, ms. */
  request_timeout_ms: number;
  /**
   * The shared secret with the backend (KTRDR_WORKER_REGISTRATION_TOKEN, or the development token of
   * the data directory): sent on every call to the backend, and the key of the signatures the worker
   * requires on dispatch, cancel and shutdown notices. Unset: the worker refuses every such call.
   */
  registration_token: string | undefined;
  /** How long a signed call from the backend stays valid, ms (KTRDR_WORKER_SIGNATURE_WINDOW). */
  signature_window_ms: number;
  heartbeat_interval_ms: number;
  progress_interval_ms: number;
  shutdown_grace_ms: number;
  checkpoint: {
    dir: string;
    every_units: number;
    every_ms: number;
    max_age_ms: number;
  };
  /** First and largest delay of the registration backoff, ms (1 s → 30 s). */
  backoff_initial_ms: number;
  backoff_max_ms: number;
  /** Poll interval after a backend shutdown notice, ms (2 s). */
  shutdown_poll_ms: number;
  /** A GET /workers/{id} check every this many heartbeats (re-registers on 404). */
  verify_every_heartbeats: number;
  /** How often old checkpoints are cleaned up, ms. */
  checkpoint_cleanup_interval_ms: number;
}

/** First retry delay (before jitter): small, so a worker registers right after the backend is up. */
export const BACKOFF_INITIAL_MS = 250;
export const BACKOFF_MAX_MS = 30_000;
/**
 * Cap while the backend cannot be reached at all (connection refused or dropped): retrying a closed
 * port costs the backend nothing, and the worker then registers within about a second of the
 * backend starting to listen, however long it took. Answers (401, 5xx…) back off up to BACKOFF_MAX_MS.
 */
export const UNREACHABLE_BACKOFF_MAX_MS = 1_000;
export const SHUTDOWN_POLL_MS = 2_000;
export const VERIFY_EVERY_HEARTBEATS = 6;
export const CHECKPOINT_CLEANUP_INTERVAL_MS = 3_600_000;

export { generateWorkerId } from './identity';

/** `http://{hostname}:{port}` unless a public base URL is configured (trailing slash removed). */
export function advertisedEndpoint(publicBaseUrl: string | undefined, port: number): string {
  if (publicBaseUrl) return publicBaseUrl.replace(/\/+$/, '');
  return `http://${hostname()}:${port}`;
}

/**
 * Reads WorkerSettings, CheckpointSettings and ApiClientSettings (the only settings the runtime
 * uses). `overrides` replace resolved values (tests, embedding).
 */
export function resolveRuntimeConfig(
  workerType: string,
  overrides: Partial<RuntimeConfig> = {},
): RuntimeConfig {
  const w = getWorkerSettings();
  const c = getCheckpointSettings();
  const api = getApiClientSettings();
  const port = overrides.port ?? w.port;
  const token =
    'registration_token' in overrides
      ? overrides.registration_token
      : resolveRegistrationToken().token;
  const base: RuntimeConfig = {
    worker_id: w.worker_id ?? fixedProcessWorkerId() ?? generateWorkerId(workerType),
    port,
    host: w.host,
    public_base_url: w.public_base_url,
    endpoint_url: advertisedEndpoint(w.public_base_url, port),
    backend_url: api.base_url.replace(/\/+$/, ''),
    release: w.release?.trim() || undefined,
    request_timeout_ms: api.timeout * 1000,
    registration_token: token,
    signature_window_ms: w.signature_window * 1000,
    heartbeat_interval_ms: w.heartbeat_interval * 1000,
    progress_interval_ms: w.progress_interval_ms,
    shutdown_grace_ms: w.shutdown_grace_seconds * 1000,
    checkpoint: {
      dir: c.dir,
      every_units: c.epoch_interval,
      every_ms: c.time_interval_seconds * 1000,
      max_age_ms: c.max_age_days * 86_400_000,
    },
    backoff_initial_ms: BACKOFF_INITIAL_MS,
    backoff_max_ms: BACKOFF_MAX_MS,
    shutdown_poll_ms: SHUTDOWN_POLL_MS,
    verify_every_heartbeats: VERIFY_EVERY_HEARTBEATS,
    checkpoint_cleanup_interval_ms: CHECKPOINT_CLEANUP_INTERVAL_MS,
  };
  return { ...base, ...overrides, checkpoint: { ...base.checkpoint, ...overrides.checkpoint } };
}
