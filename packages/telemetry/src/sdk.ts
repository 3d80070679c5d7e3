/**
 * Starts OpenTelemetry tracing for one service: a NodeTracerProvider with the service's resource,
 * a batching OTLP/HTTP exporter (JSON) to `KTRDR_OTEL_ENDPOINT`, W3C trace context propagation and
 * the instrumentations of http, express, @nestjs/core, pg and undici (Node's fetch).
 *
 * Call it before anything requires express, @nestjs/core or pg (each app's `main.ts` imports its
 * `tracing.ts` first). Off unless `KTRDR_OTEL_ENABLED=true`: then nothing is patched and every span
 * helper of this package is a no-op of @opentelemetry/api.
 */
import type { DiagLogger } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { getObservabilitySettings, getRuntimeSettings } from '@ktrdr/config';
import { errorText } from '@ktrdr/contracts/constants';

/** Default OTLP/HTTP endpoint when tracing is on and `KTRDR_OTEL_ENDPOINT` is unset. */
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

/**
 * Incoming requests that never start a trace: probes, scrapes, heartbeats and the Swagger UI. They
 * run every few seconds per worker and would bury the operation traces.
 */
export const UNTRACED_PATHS: readonly RegExp[] = [
  /^\/metrics(\/|$)/,
  /^\/api\/v1\/metrics\/prometheus$/,
  /^\/health(\/|$)/,
  /^\/api\/v1\/health(\/|$)/,
  /^\/api\/v1\/workers\/[^/]+\/heartbeat$/,
  /^\/api\/docs/,
  // The web dashboard's files and its event stream (one long-lived request per open tab).
  /^\/ui(\/|$)/,
  /^\/$/,
  /^\/api\/v1\/events$/,
];

/** The worker's periodic check that it is still registered (`GET /api/v1/workers/{id}`). */
const WORKER_VERIFY = /^\/api\/v1\/workers\/[^/]+$/;

export interface TelemetryOptions {
  /** Service name when `KTRDR_OTEL_SERVICE_NAME` is unset, e.g. `backend`, `backtest-worker`. */
  serviceName: string;
  /** Package version (`service.version`). */
  version?: string;
  /** Worker identity (resource attributes `ktrdr.worker.id`, `ktrdr.worker.type`). */
  workerId?: string;
  workerType?: string;
  /**
   * Replaces the settings read from `KTRDR_OTEL_*` (tests). `enabled` false: nothing starts.
   */
  settings?: { enabled: boolean; endpoint?: string; service_name?: string };
  /** Instead of the OTLP exporter (tests: an in-memory exporter). */
  exporter?: SpanExporter;
  /** Export each span when it ends instead of in batches (tests). */
  simpleProcessor?: boolean;
  /** Patch http/express/nest/pg/undici (default true). */
  instrumentations?: boolean;
  /** Where the SDK's own warnings go (default: stderr, each distinct message at most once a minute). */
  diagLogger?: DiagLogger;
}

export interface TelemetryHandle {
  serviceName: string;
  endpoint: string | null;
  provider: NodeTracerProvider;
  /** True when outgoing HTTP (node:http and fetch) is instrumented (it injects `traceparent` itself). */
  fetchInstrumented: boolean;
}

let active: TelemetryHandle | null = null;

/** The running telemetry, or null when tracing is off. */
export function telemetry(): TelemetryHandle | null {
  return active;
}

/** True when spans are recorded and exported. */
export function tracingEnabled(): boolean {
  return active !== null;
}

/** True when the http and undici instrumentations inject trace context into every request. */
export function fetchInstrumented(): boolean {
  return active?.fetchInstrumented ?? false;
}

/** `http://collector:4318` → `http://collector:4318/v1/traces` (a full `/v1/traces` URL is kept). */
export function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

/** Writes each distinct SDK diagnostic at most once per minute (an unreachable collector is one line). */
export function rateLimitedDiagLogger(
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  intervalMs = 60_000,
): DiagLogger {
  const last = new Map<string, number>();
  const emit =
    (level: string) =>
    (message: string, ...args: unknown[]): void => {
      const text = [message, ...args.map((a) => (a instanceof Error ? errorText(a) : String(a)))]
        .join(' ')
        .slice(0, 500);
      const now = Date.now();
      const seen = last.get(text);
      if (seen !== undefined && now - seen < intervalMs) return;
      if (last.size > 200) last.clear();
      last.set(text, now);
      write(`[telemetry] ${level} ${text}`);
    };
  return {
    error: emit('ERROR'),
    warn: emit('WARN'),
    info: emit('INFO'),
    debug: () => undefined,
    verbose: () => undefined,
  };
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** True for incoming requests that must not start a trace (see UNTRACED_PATHS). */
export function isUntracedRequest(
  method: string | undefined,
  url: string | undefined,
  hasTraceparent: boolean,
): boolean {
  const path = pathOf(url);
  if (UNTRACED_PATHS.some((re) => re.test(path))) return true;
  // A worker's registration check carries no trace context; a traced caller's GET is kept.
  return method === 'GET' && !hasTraceparent && WORKER_VERIFY.test(path);
}

/**
 * Starts tracing when `KTRDR_OTEL_ENABLED` is true (or `options.settings.enabled`). Returns null
 * when off. Idempotent: a second call returns the running handle. Never throws: invalid settings
 * leave tracing off (the service's own configuration check reports them).
 */
export function startTelemetry(options: TelemetryOptions): TelemetryHandle | null {
  if (active) return active;
  let settings: { enabled: boolean; endpoint?: string; service_name?: string };
  let environment = 'development';
  try {
    settings = options.settings ?? getObservabilitySettings();
    environment = getRuntimeSettings().environment;
  } catch {
    return null;
  }
  if (!settings.enabled) return null;

  // The SDK, the exporter and the instrumentations load only now: off, they cost nothing.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createProvider } = require('./provider') as typeof import('./provider');
  active = createProvider(options, settings, environment);
  return active;
}

/** Flushes and stops the exporter (call before the process exits). Safe when tracing is off. */
export async function shutdownTelemetry(timeoutMs = 5_000): Promise<void> {
  const handle = active;
  if (!handle) return;
  active = null;
  await Promise.race([
    handle.provider.shutdown().catch(() => undefined),
    new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
  ]);
}

/** Exports what has ended so far (tests, before a process is killed). */
export async function flushTelemetry(): Promise<void> {
  await active?.provider.forceFlush().catch(() => undefined);
}
