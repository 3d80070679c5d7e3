/** Global prefix of the backend's REST API. */
export const API_PREFIX = 'api/v1';

/** Header that carries the worker registration token when one is configured. */
export const REGISTRATION_TOKEN_HEADER = 'x-ktrdr-worker-token';

/** Scheme of user API keys: `Authorization: Bearer <key>`. */
export const API_KEY_HEADER = 'authorization';

/** Backend routes, relative to {@link API_PREFIX}. `:id` is a path parameter. */
export const BACKEND_ROUTES = {
  workers: 'workers',
  workerRegister: 'workers/register',
  worker: 'workers/:id',
  workerHeartbeat: 'workers/:id/heartbeat',
  workerDrain: 'workers/:id/drain',
  operations: 'operations',
  operation: 'operations/:id',
  operationResults: 'operations/:id/results',
  operationResultTrades: 'operations/:id/results/trades',
  operationResultTradesCsv: 'operations/:id/results/trades.csv',
  operationResultEquityCsv: 'operations/:id/results/equity.csv',
  operationArtifacts: 'operations/:id/artifacts/:kind',
  operationArtifactChunk: 'operations/:id/artifacts/:kind/chunks/:index',
  models: 'models',
  operationResume: 'operations/:id/resume',
  operationProgress: 'operations/:id/progress',
  operationComplete: 'operations/:id/complete',
  backtestsStart: 'backtests/start',
  trainingsStart: 'trainings/start',
  backtestsSweep: 'backtests/sweep',
  trainingsSweep: 'trainings/sweep',
  sweep: 'sweeps/:id',
  health: 'health',
  healthReady: 'health/ready',
  metricsWorkers: 'metrics/workers',
  metricsPrometheus: 'metrics/prometheus',
  events: 'events',
} as const;

/** Routes every worker serves (absolute paths, no global prefix). */
export const WORKER_ROUTES = {
  health: '/health',
  healthReady: '/health/ready',
  backtestStart: '/backtests/start',
  trainingStart: '/trainings/start',
  /** The training start route of release 0.1, still served for one deprecation period. */
  trainingStartLegacy: '/training/start',
  operation: '/api/v1/operations/:id',
  operationCancel: '/api/v1/operations/:id/cancel',
  backendShutdown: '/backend-shutdown',
  metrics: '/metrics',
} as const;

/** Replace `:name` parameters in a route template. */
export function buildPath(template: string, params: Record<string, string>): string {
  return template.replace(/:([a-zA-Z_]+)/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`Missing path parameter "${name}" for ${template}`);
    return encodeURIComponent(value);
  });
}
