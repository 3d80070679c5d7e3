import type { BackendSettings } from './settings';

/**
 * The documented defaults of @ktrdr/config, for code paths that must not depend on the environment
 * (OpenAPI generation) and as a base for test settings.
 */
export const DEFAULT_BACKEND_SETTINGS: BackendSettings = Object.freeze({
  worker: {
    registration_token: undefined,
    health_check_interval: 10,
    health_check_timeout: 5,
    health_check_failures: 3,
    removal_threshold: 300,
    health_check_concurrency: 50,
    dispatch_timeout: 10,
    heartbeat_interval: 5,
  },
  orphan: { timeout_seconds: 60, check_interval_seconds: 15 },
  operations: {
    cleanup_interval_seconds: 3600,
    retention_days: 7,
    max_attempts: 3,
    max_queued: 10000,
    max_sweep_children: 1000,
    dispatch_interval_seconds: 5,
  },
  api: { host: '0.0.0.0', port: 8000, shutdown_notify_timeout: 2, shutdown_deadline: 10 },
  auth: { keys: [], public_metrics: true, public_health: true },
  events: {
    heartbeat_interval: 15,
    replay_buffer_size: 1000,
    client_buffer_size: 500,
    client_stall_timeout: 30,
    max_clients: 1000,
  },
});
