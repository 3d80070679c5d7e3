/** Start refused because an operation is running (HTTP 503 `Worker busy`). */
export class WorkerBusyError extends Error {
  constructor(readonly currentOperationId: string) {
    super(`Worker busy: operation ${currentOperationId} is running`);
    this.name = 'WorkerBusyError';
  }
}

/** Start refused because the worker is shutting down (HTTP 503). */
export class WorkerShuttingDownError extends Error {
  constructor() {
    super('Worker shutting down: not accepting operations');
    this.name = 'WorkerShuttingDownError';
  }
}
