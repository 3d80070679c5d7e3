/** Injection token of the WorkerRuntime in the worker's Nest application. */
export const WORKER_RUNTIME = Symbol('WORKER_RUNTIME');
