/**
 * Every KTRDR_* setting, declared once. Loading, validation, deprecated names, describeSettings() and the
 * generated docs/configuration.md and .env.example all come from these tables.
 */
import os from 'node:os';
import nodePath from 'node:path';
import {
  bool,
  defineSettings,
  int,
  list,
  num,
  oneOf,
  path,
  str,
  url,
  type AnySettingsClass,
  type SettingsOf,
} from './schema';

export const RuntimeSettings = defineSettings({
  name: 'RuntimeSettings',
  prefix: 'KTRDR_',
  getter: 'getRuntimeSettings',
  description: 'Where the platform runs and how strict the configuration checks are.',
  fields: {
    environment: oneOf(['development', 'test', 'production'], {
      env: 'KTRDR_ENV',
      default: 'development',
      aliases: { dev: 'development', prod: 'production' },
      description:
        'Deployment environment. `production` refuses insecure defaults (database password, missing registration token, no API key) unless they are set explicitly, and secrets shorter than 32 characters; `development` and `test` generate the missing API key and registration token in the data directory (see docs/security.md). It also picks the fleet environment file: `config/workers.dev.yaml` (development) or `config/workers.prod.yaml` (production); `test` reads none.',
    }),
    acknowledge_insecure_defaults: bool({
      default: false,
      description:
        'Silences the start-up warning about insecure defaults outside production (has no effect in production).',
    }),
  },
});

export const ApiSettings = defineSettings({
  name: 'ApiSettings',
  prefix: 'KTRDR_API_',
  getter: 'getApiSettings',
  description: 'The backend HTTP server.',
  fields: {
    host: str({ default: '0.0.0.0', description: 'Interface the backend listens on.' }),
    port: int({
      default: 8000,
      min: 1,
      max: 65535,
      description: 'Port of the backend REST API, Swagger UI and /metrics.',
    }),
    cors_origins: list({
      default: [],
      description:
        'Origins allowed by CORS, comma-separated (`*` for any). Empty: CORS disabled (same-origin only).',
    }),
    shutdown_notify_timeout: num({
      default: 2,
      min: 0.05,
      max: 60,
      description:
        'Seconds the backend waits for each worker when it sends `POST /backend-shutdown` on SIGTERM.',
    }),
    shutdown_deadline: num({
      default: 10,
      min: 1,
      max: 300,
      description:
        'Seconds from SIGTERM/SIGINT to the backend’s exit (code 0), whatever clients and workers do: it stops accepting, answers 503 on the worker routes, notifies the workers, closes idle then all connections and the store within it.',
    }),
    keys_file: path({
      description:
        'JSON file with the API keys, for several keys: `[{"name": "ci", "role": "read", "sha256": "<hex SHA-256 of the key>"}]` (roles `read`, `operate`). Keys are sent as `Authorization: Bearer <key>`; only their digests are configured. Generate one with `node apps/backend/dist/keygen.js --name NAME --role ROLE`.',
      insecureDefault: (s) =>
        !(s.operate_key_sha256 as readonly string[] | undefined)?.length &&
        !(s.read_key_sha256 as readonly string[] | undefined)?.length,
      insecureReason:
        'no API key is configured, so the backend would be open to anyone who reaches it (outside production it generates a development key in {data dir}/dev-api-key instead)',
      devSecret: true,
    }),
    operate_key_sha256: list({
      secret: true,
      itemPattern: /^[0-9a-fA-F]{64}$/,
      itemPatternText: 'SHA-256 hex digests (64 hex characters)',
      description:
        'SHA-256 digests (hex, comma-separated) of API keys with the `operate` role: everything `read` allows, plus start, cancel, resume, sweeps, drain and undrain.',
    }),
    read_key_sha256: list({
      secret: true,
      itemPattern: /^[0-9a-fA-F]{64}$/,
      itemPatternText: 'SHA-256 hex digests (64 hex characters)',
      description:
        'SHA-256 digests (hex, comma-separated) of API keys with the `read` role: list and get workers and operations, results, metrics, events.',
    }),
    public_metrics: bool({
      default: true,
      description:
        'Serve the Prometheus exposition `GET /metrics` without an API key (false: it needs a `read` key).',
    }),
    public_health: bool({
      default: true,
      description:
        'Serve `GET /api/v1/health` and `/api/v1/health/ready` without an API key (false: they need a `read` key; container health checks then fail).',
    }),
  },
});

export const ApiClientSettings = defineSettings({
  name: 'ApiClientSettings',
  prefix: 'KTRDR_API_CLIENT_',
  getter: 'getApiClientSettings',
  description: 'How workers and the `ktrdr` CLI reach the backend.',
  fields: {
    base_url: url({
      default: 'http://localhost:8000/api/v1',
      deprecated: ['KTRDR_API_URL'],
      description: 'Base URL of the backend REST API, including `/api/v1`.',
    }),
    timeout: num({
      default: 10,
      min: 0.1,
      max: 600,
      description: 'Seconds before a request to the backend is abandoned.',
    }),
    retries: int({
      default: 3,
      min: 0,
      max: 100,
      description:
        'Retries of an idempotent request to the backend before giving up on that attempt (the `ktrdr` CLI: GETs, and any request the backend never received, with exponential backoff).',
    }),
    api_key: str({
      env: 'KTRDR_API_KEY',
      secret: true,
      description:
        'API key the `ktrdr` CLI sends as `Authorization: Bearer <key>`. Unset: the CLI uses the development key the backend writes to `{data dir}/dev-api-key` when that file exists, else sends none.',
    }),
  },
});

export const WorkerSettings = defineSettings({
  name: 'WorkerSettings',
  prefix: 'KTRDR_WORKER_',
  getter: 'getWorkerSettings',
  description:
    'Worker identity, port and protocol timings (read by workers), and the worker health checks (read by the backend).',
  fields: {
    worker_id: str({
      env: 'KTRDR_WORKER_ID',
      deprecated: ['WORKER_ID'],
      description:
        'Stable id of this worker. When unset the worker generates `{worker_type}-worker-{8 hex}` at start.',
    }),
    port: int({
      default: 5003,
      min: 1,
      max: 65535,
      deprecated: ['WORKER_PORT'],
      description:
        'Port the worker listens on. 5003 is the canonical default for every worker type (in containers every worker listens on 5003).',
    }),
    public_base_url: url({
      deprecated: ['KTRDR_WORKER_ENDPOINT_URL', 'WORKER_ENDPOINT_URL', 'WORKER_PUBLIC_BASE_URL'],
      defaultDoc: 'http://{hostname}:{port}',
      description:
        'URL the worker advertises to the backend (the backend calls it for health checks and dispatch).',
    }),
    host: str({
      default: '0.0.0.0',
      description:
        'Interface the worker HTTP server listens on. `0.0.0.0` (all) suits containers; `127.0.0.1` keeps a worker that shares a host with its backend off the network.',
    }),
    heartbeat_interval: num({
      default: 5,
      min: 0.1,
      max: 3600,
      description: 'Seconds between worker heartbeats.',
    }),
    registration_token: str({
      secret: true,
      insecureDefault: true,
      productionMinLength: 32,
      insecureReason:
        'the backend and its workers need a shared secret to authenticate each other (outside production both use one generated in {data dir}/dev-worker-token)',
      devSecret: true,
      description:
        'Shared secret of the backend and its workers, in both directions: workers send it on registration, heartbeats and reports (header `x-ktrdr-worker-token`); the backend signs every call to a worker with it (HMAC-SHA256, headers `x-ktrdr-signature*`). Unset outside production: both read (or create) `{data dir}/dev-worker-token`.',
    }),
    signature_window: num({
      default: 30,
      min: 1,
      max: 3600,
      description:
        'Seconds a signed call from the backend stays valid at a worker (allowed clock difference; a signature is accepted once within it).',
    }),
    health_check_interval: num({
      default: 10,
      min: 0.1,
      max: 86400,
      deprecated: ['WORKER_HEALTH_CHECK_INTERVAL'],
      description: 'Seconds between the backend’s health checks of each worker.',
    }),
    health_check_timeout: num({
      default: 5,
      min: 0.1,
      max: 600,
      deprecated: ['WORKER_HEALTH_CHECK_TIMEOUT'],
      description: 'Seconds before one health check of a worker counts as failed.',
    }),
    health_check_failures: int({
      default: 3,
      min: 1,
      deprecated: ['WORKER_HEALTH_CHECK_FAILURES'],
      description: 'Consecutive failed checks after which a worker is `temporarily_unavailable`.',
    }),
    removal_threshold: num({
      default: 300,
      min: 1,
      max: 604800,
      deprecated: ['WORKER_REMOVAL_THRESHOLD'],
      description: 'Seconds after its last good check at which an unresponsive worker is removed.',
    }),
    health_check_concurrency: int({
      default: 50,
      min: 1,
      max: 10000,
      description:
        'Health checks the backend runs in parallel per lane: one lane for healthy workers, one for workers failing checks or not answering within a second (so hung workers never delay a healthy one).',
    }),
    dispatch_timeout: num({
      default: 10,
      min: 0.1,
      max: 600,
      description: 'Seconds the backend waits for a worker to accept a dispatched operation.',
    }),
    shutdown_grace_seconds: num({
      default: 20,
      min: 1,
      max: 3600,
      description:
        'Seconds a worker has on SIGTERM to abort its operation, save a checkpoint and report it.',
    }),
    progress_interval_ms: int({
      default: 500,
      min: 0,
      max: 3600000,
      description: 'Minimum milliseconds between two progress reports of a worker.',
    }),
    release: str({
      description:
        'Code release (git commit) the worker runs, reported as `metadata.release` when it registers. Set by `deploy/ktrdr-worker-start.sh` from the deployed release; rolling deploys wait for it.',
    }),
  },
});

/** `config/` at the repository root (this file is packages/config/{src,dist}/settings.*). */
export function defaultFleetDir(): string {
  return nodePath.resolve(__dirname, '..', '..', '..', 'config');
}

export const FleetSettings = defineSettings({
  name: 'FleetSettings',
  prefix: 'KTRDR_FLEET_',
  getter: 'getFleetSettings',
  description:
    'Where the fleet environment file is (`config/workers.<env>.yaml`, see “Fleet environment files” below). Its backend URL and health-check values are a source of the matching settings, below the variables.',
  fields: {
    file: path({
      description:
        'Fleet environment file to read instead of `{fleet dir}/workers.dev.yaml` or `workers.prod.yaml` (chosen by `KTRDR_ENV`). With `KTRDR_ENV=test` no file is read unless this is set.',
    }),
    dir: path({
      default: () => defaultFleetDir(),
      defaultDoc: '{repository}/config',
      description: 'Directory holding `workers.dev.yaml` and `workers.prod.yaml`.',
    }),
  },
});

export const DataSettings = defineSettings({
  name: 'DataSettings',
  prefix: 'KTRDR_DATA_',
  getter: 'getDataSettings',
  description: 'Where market data, models and (by default) the database and checkpoints live.',
  fields: {
    dir: path({
      env: 'KTRDR_DATA_DIR',
      deprecated: ['DATA_DIR'],
      default: () => nodePath.join(os.homedir(), '.ktrdr', 'data'),
      defaultDoc: '~/.ktrdr/data',
      description:
        'Data directory: OHLCV CSV files (`{SYMBOL}_{timeframe}.csv`), and the default parent of the models, database and checkpoint directories.',
    }),
    models_dir: path({
      deprecated: ['MODELS_DIR'],
      default: (ctx) => nodePath.join(String(ctx.values.dir), 'models'),
      defaultDoc: '{data dir}/models',
      description:
        'Where the training worker saves models and the backtest worker’s `model` strategy loads them.',
    }),
    bars_cache_mb: int({
      default: 512,
      min: 0,
      max: 1_048_576,
      description:
        'Memory (MiB of bar columns) the backtest worker keeps loaded bars in between jobs, least recently used first out: a sweep over one data set reads (or generates) it once. CSV entries are keyed by path, inode, size and mtime (a changed file is read again), SYNTH-* series by symbol, timeframe and range. 0 turns the cache off.',
    }),
  },
});

export const ResultsSettings = defineSettings({
  name: 'ResultsSettings',
  prefix: 'KTRDR_RESULTS_',
  getter: 'getResultsSettings',
  description:
    'How much of a backtest result the backtest worker uploads (in chunks, before it completes) for the backend to store and serve. The metrics are always computed over every bar and every trade; the result says how many rows a cap left out.',
  fields: {
    max_trades: int({
      default: 1_000_000,
      min: 1,
      max: 100_000_000,
      description:
        'Most trades stored per backtest (`GET /api/v1/operations/{id}/results/trades`, `trades.csv`); beyond it the first ones are kept and `trades_summary.omitted` counts the rest.',
    }),
    max_equity_points: int({
      default: 2_000_000,
      min: 4,
      max: 100_000_000,
      description:
        'Most points of the full-resolution equity curve stored per backtest (`equity.csv`); a longer curve is reduced by min/max buckets (extremes kept) and `equity_summary.omitted` counts what was left out.',
    }),
    upload_chunk_rows: int({
      default: 50_000,
      min: 100,
      max: 50_000,
      description:
        'Rows per uploaded chunk of the trade list and the equity curve (each chunk is one binary request to the backend: 800 kB of equity or 3.2 MB of trades at 50,000 rows).',
    }),
  },
});

export const CheckpointSettings = defineSettings({
  name: 'CheckpointSettings',
  prefix: 'KTRDR_CHECKPOINT_',
  getter: 'getCheckpointSettings',
  description: 'Checkpoints written by workers so an operation can be resumed.',
  fields: {
    epoch_interval: int({
      default: 10,
      min: 1,
      max: 1000000,
      deprecated: ['CHECKPOINT_EPOCH_INTERVAL'],
      description:
        'Write a periodic checkpoint every this many units (training epochs). Backtests do not use it: they follow backtest_interval_seconds.',
    }),
    time_interval_seconds: num({
      default: 300,
      min: 0.1,
      max: 86400,
      deprecated: ['CHECKPOINT_TIME_INTERVAL_SECONDS'],
      description:
        'Write a periodic checkpoint at least this often, in seconds (training; backtests follow backtest_interval_seconds).',
    }),
    backtest_interval_seconds: num({
      default: 2,
      min: 0.01,
      max: 86400,
      description:
        'Backtests write a periodic checkpoint this often, in seconds of running time (time-based: the engine looks every 1024 bars and builds the state only when one is due; a run shorter than this writes none, since replaying it costs less than the interval).',
    }),
    dir: path({
      deprecated: ['CHECKPOINT_DIR'],
      default: (ctx) => nodePath.join(ctx.dataDir(), 'checkpoints'),
      defaultDoc: '{data dir}/checkpoints',
      description:
        'Checkpoint state, one directory per operation (a volume shared by the workers in compose).',
    }),
    max_age_days: num({
      default: 30,
      min: 0.001,
      max: 3650,
      deprecated: ['CHECKPOINT_MAX_AGE_DAYS'],
      description: 'Checkpoints older than this many days are deleted.',
    }),
  },
});

export const OrphanDetectorSettings = defineSettings({
  name: 'OrphanDetectorSettings',
  prefix: 'KTRDR_ORPHAN_',
  getter: 'getOrphanDetectorSettings',
  description: 'Recovery of operations whose worker was lost.',
  fields: {
    timeout_seconds: num({
      default: 60,
      min: 0.1,
      max: 86400,
      deprecated: ['ORPHAN_TIMEOUT_SECONDS'],
      description:
        'Seconds an operation may stay `running` on a worker that no longer claims it before it is re-dispatched or failed.',
    }),
    check_interval_seconds: num({
      default: 15,
      min: 0.1,
      max: 86400,
      deprecated: ['ORPHAN_CHECK_INTERVAL_SECONDS'],
      description: 'Seconds between two orphan checks.',
    }),
  },
});

export const OperationsSettings = defineSettings({
  name: 'OperationsSettings',
  prefix: 'KTRDR_OPS_',
  getter: 'getOperationsSettings',
  description: 'Operations kept by the backend.',
  fields: {
    cleanup_interval_seconds: num({
      default: 3600,
      min: 1,
      max: 604800,
      description: 'Seconds between two purges of old finished operations.',
    }),
    retention_days: num({
      default: 7,
      min: 0.001,
      max: 3650,
      description: 'Finished operations older than this many days are purged.',
    }),
    max_attempts: int({
      default: 3,
      min: 1,
      max: 100,
      description:
        'Runs of one operation, the first included: an operation interrupted by a lost or stopped worker goes back to the queue while below it (a dispatch that no worker accepted does not count).',
    }),
    max_queued: int({
      default: 10000,
      min: 1,
      max: 10000000,
      description:
        'Most pending (queued) operations; a start request beyond it gets 429 with Retry-After.',
    }),
    max_sweep_children: int({
      default: 1000,
      min: 1,
      max: 100000,
      description: 'Most child operations one sweep may expand to (400 beyond it).',
    }),
    dispatch_interval_seconds: num({
      default: 5,
      min: 0.1,
      max: 3600,
      description:
        'Seconds between two safety passes of the dispatcher (dispatch is event-driven; this pass only catches what an event missed).',
    }),
  },
});

export const EventsSettings = defineSettings({
  name: 'EventsSettings',
  prefix: 'KTRDR_EVENTS_',
  getter: 'getEventsSettings',
  description: 'The live event stream `GET /api/v1/events` (Server-Sent Events).',
  fields: {
    heartbeat_interval: num({
      default: 15,
      min: 0.1,
      max: 3600,
      description:
        'Seconds between two heartbeat comments on every open stream (keeps proxies from closing idle streams).',
    }),
    replay_buffer_size: int({
      default: 1000,
      min: 1,
      max: 1000000,
      description:
        'Most recent events kept for clients that reconnect with `Last-Event-ID`; an older id gets a `stream.gap` event.',
    }),
    client_buffer_size: int({
      default: 500,
      min: 1,
      max: 100000,
      description:
        'Events queued for one client whose connection does not keep up (progress coalesced per operation); beyond it the client is dropped with a final `stream.dropped` event.',
    }),
    client_stall_timeout: num({
      default: 30,
      min: 0.1,
      max: 3600,
      description:
        'Seconds a client may leave its connection full (not reading) before it is dropped, even below the buffer bound.',
    }),
    max_clients: int({
      default: 1000,
      min: 1,
      max: 100000,
      description: 'Open event streams at most; one more is answered 503 with `Retry-After`.',
    }),
  },
});

export const DatabaseSettings = defineSettings({
  name: 'DatabaseSettings',
  prefix: 'KTRDR_DB_',
  getter: 'getDatabaseSettings',
  description: 'The operations store: embedded SQLite (default) or PostgreSQL.',
  fields: {
    driver: oneOf(['sqlite', 'postgres'], {
      default: 'sqlite',
      deprecated: ['DB_DRIVER'],
      deprecatedValues: {
        pglite: {
          value: 'sqlite',
          reason:
            'the PGlite driver was removed in 0.2.0; the embedded store is SQLite, and a PGlite directory of 0.1 is not read',
        },
      },
      description:
        '`sqlite`: embedded, one file (`ktrdr.sqlite`) in `KTRDR_DB_DIR`, no server needed. `postgres`: a PostgreSQL server (several backends may share it). `pglite` (0.1) is read as `sqlite`, with a warning.',
    }),
    dir: path({
      deprecated: ['DB_DIR'],
      default: (ctx) => nodePath.join(ctx.dataDir(), 'db'),
      defaultDoc: '{data dir}/db',
      description:
        'Embedded store directory (SQLite: `ktrdr.sqlite` in it); `memory://` keeps the database in memory (tests).',
    }),
    host: str({ default: 'localhost', deprecated: ['DB_HOST'], description: 'PostgreSQL host.' }),
    port: int({
      default: 5432,
      min: 1,
      max: 65535,
      deprecated: ['DB_PORT'],
      description: 'PostgreSQL port.',
    }),
    name: str({ default: 'ktrdr', deprecated: ['DB_NAME'], description: 'PostgreSQL database.' }),
    user: str({ default: 'ktrdr', deprecated: ['DB_USER'], description: 'PostgreSQL user.' }),
    password: str({
      default: 'ktrdr',
      secret: true,
      deprecated: ['DB_PASSWORD'],
      insecureDefault: (s) => s.driver === 'postgres',
      insecureReason: 'the default password is public',
      description: 'PostgreSQL password.',
    }),
  },
});

export const LoggingSettings = defineSettings({
  name: 'LoggingSettings',
  prefix: 'KTRDR_LOG_',
  getter: 'getLoggingSettings',
  description: 'Service logs.',
  fields: {
    level: oneOf(['error', 'warn', 'log', 'debug', 'verbose'], {
      default: 'log',
      deprecated: ['KTRDR_API_LOG_LEVEL', 'LOG_LEVEL'],
      description: 'Most verbose level written (`log` is NestJS’s info level).',
    }),
    json: bool({ default: false, description: 'Write one JSON object per log line.' }),
  },
});

export const ObservabilitySettings = defineSettings({
  name: 'ObservabilitySettings',
  prefix: 'KTRDR_OTEL_',
  getter: 'getObservabilitySettings',
  description:
    'OpenTelemetry tracing: every service exports its spans over OTLP/HTTP (JSON) — to Jaeger in compose and kinfra slots. Off by default (`npm run dev`).',
  fields: {
    enabled: bool({
      default: false,
      description:
        'Export traces (and put `trace_id`/`span_id` in JSON log lines). Read once at start-up.',
    }),
    endpoint: url({
      description:
        'OTLP/HTTP base URL, e.g. `http://jaeger:4318` (spans go to `{endpoint}/v1/traces`); `http://localhost:4318` when unset.',
    }),
    service_name: str({
      description:
        'Service name in traces; unset: `backend`, `backtest-worker` or `training-worker`.',
    }),
  },
});

export const SandboxSettings = defineSettings({
  name: 'SandboxSettings',
  prefix: 'KTRDR_',
  getter: 'getSandboxSettings',
  description: 'kinfra sandbox slots, and the host ports a slot’s compose project publishes.',
  fields: {
    dir: path({
      env: 'KTRDR_SANDBOXES_DIR',
      default: () => nodePath.join(os.homedir(), '.ktrdr', 'sandboxes'),
      defaultDoc: '~/.ktrdr/sandboxes',
      description: 'Where `kinfra` keeps `registry.json` and one `slot-N/` directory per slot.',
    }),
    publish_address: str({
      default: '127.0.0.1',
      description:
        'Host address `infra/compose/docker-compose.yml` publishes its ports on (`0.0.0.0`: every interface; kinfra slots always use 127.0.0.1).',
    }),
    grafana_port: int({
      default: 3000,
      min: 1,
      max: 65535,
      description: 'Host port of Grafana in a compose project (kinfra slot N: the default + N).',
    }),
    prometheus_port: int({
      default: 9090,
      min: 1,
      max: 65535,
      description: 'Host port of Prometheus in a compose project (kinfra slot N: the default + N).',
    }),
    jaeger_ui_port: int({
      default: 16686,
      min: 1,
      max: 65535,
      description:
        'Host port of the Jaeger UI in a compose project (kinfra slot N: the default + N).',
    }),
  },
});

export const TestSettings = defineSettings({
  name: 'TestSettings',
  prefix: 'KTRDR_TEST_',
  getter: 'getTestSettings',
  description: 'Test suites only (repository suite on PostgreSQL, Testcontainers e2e).',
  fields: {
    postgres_url: url({
      protocols: ['postgres', 'postgresql'],
      secret: true,
      description:
        'PostgreSQL URL for the repository suite on the `postgres` driver; `.ci/run` sets it. Unset: that suite is skipped (and says so).',
    }),
    node_image: str({
      default: 'ktrdr/node-runtime:20',
      description:
        'Base image (`NODE_IMAGE` build argument) of the e2e images; CI with a registry uses `node:20-bookworm-slim`.',
    }),
    keep_containers: bool({
      default: false,
      description: 'Leave e2e containers running after the suites, for debugging.',
    }),
    require_all: bool({
      default: false,
      description:
        'A suite that cannot run on this machine (the multi-host suite without root or `ip`, the script checks without shellcheck) fails instead of skipping; `.ci/run` sets it.',
    }),
    log_dir: path({
      description: 'Where e2e container logs are saved on failure (default `e2e/logs`).',
    }),
    docker_host: str({
      env: 'DOCKER_HOST',
      description: 'Docker Engine address used by Testcontainers (standard Docker variable).',
    }),
  },
});

export const CliSettings = defineSettings({
  name: 'CliSettings',
  prefix: '',
  getter: 'getCliSettings',
  description: 'Terminal output of the command-line tools (standard variables, not KTRDR_*).',
  fields: {
    no_color: str({
      env: 'NO_COLOR',
      description: 'Any non-empty value turns colours off (https://no-color.org).',
    }),
    force_color: str({
      env: 'FORCE_COLOR',
      description: 'Any non-empty value other than `0` turns colours on even without a TTY.',
    }),
  },
});

/** Every settings class, in documentation order. */
export const ALL_SETTINGS: readonly AnySettingsClass[] = [
  RuntimeSettings,
  ApiSettings,
  ApiClientSettings,
  WorkerSettings,
  FleetSettings,
  DataSettings,
  ResultsSettings,
  CheckpointSettings,
  OrphanDetectorSettings,
  OperationsSettings,
  EventsSettings,
  DatabaseSettings,
  LoggingSettings,
  ObservabilitySettings,
  SandboxSettings,
  TestSettings,
  CliSettings,
];

export type Component = 'backend' | 'worker' | 'cli' | 'all';

/** The classes each component needs (validated together at its start). */
export const COMPONENT_SETTINGS: Readonly<Record<Component, readonly AnySettingsClass[]>> = {
  backend: [
    RuntimeSettings,
    ApiSettings,
    WorkerSettings,
    FleetSettings,
    DataSettings,
    CheckpointSettings,
    OrphanDetectorSettings,
    OperationsSettings,
    EventsSettings,
    DatabaseSettings,
    LoggingSettings,
    ObservabilitySettings,
  ],
  // Every class a worker process touches: its own settings, and the shared ones it loads through
  // @ktrdr/config (orphan detector, operations, database), so a bad value stops it at start.
  worker: [
    RuntimeSettings,
    ApiClientSettings,
    WorkerSettings,
    FleetSettings,
    DataSettings,
    ResultsSettings,
    CheckpointSettings,
    OrphanDetectorSettings,
    OperationsSettings,
    DatabaseSettings,
    LoggingSettings,
    ObservabilitySettings,
  ],
  cli: [RuntimeSettings, ApiClientSettings, DataSettings, CliSettings],
  all: ALL_SETTINGS,
};

export type RuntimeSettingsValues = SettingsOf<typeof RuntimeSettings>;
export type ApiSettingsValues = SettingsOf<typeof ApiSettings>;
export type ApiClientSettingsValues = SettingsOf<typeof ApiClientSettings>;
export type WorkerSettingsValues = SettingsOf<typeof WorkerSettings>;
export type FleetSettingsValues = SettingsOf<typeof FleetSettings>;
export type DataSettingsValues = SettingsOf<typeof DataSettings>;
export type ResultsSettingsValues = SettingsOf<typeof ResultsSettings>;
export type CheckpointSettingsValues = SettingsOf<typeof CheckpointSettings>;
export type OrphanDetectorSettingsValues = SettingsOf<typeof OrphanDetectorSettings>;
export type OperationsSettingsValues = SettingsOf<typeof OperationsSettings>;
export type EventsSettingsValues = SettingsOf<typeof EventsSettings>;
export type DatabaseSettingsValues = SettingsOf<typeof DatabaseSettings>;
export type LoggingSettingsValues = SettingsOf<typeof LoggingSettings>;
export type ObservabilitySettingsValues = SettingsOf<typeof ObservabilitySettings>;
export type SandboxSettingsValues = SettingsOf<typeof SandboxSettings>;
export type TestSettingsValues = SettingsOf<typeof TestSettings> & {
  /** True when DOCKER_HOST is set or the default Docker socket exists. */
  readonly docker_available: boolean;
};
export type CliSettingsValues = {
  readonly no_color: boolean;
  readonly force_color: boolean;
};
