/** Kinds of worker. `cpu_training` is accepted on input as an alias of `training`. */
export enum WorkerType {
  BACKTESTING = 'backtesting',
  TRAINING = 'training',
  GPU_HOST = 'gpu_host',
}

export enum WorkerStatus {
  AVAILABLE = 'available',
  BUSY = 'busy',
  TEMPORARILY_UNAVAILABLE = 'temporarily_unavailable',
}

export enum OperationType {
  BACKTESTING = 'backtesting',
  TRAINING = 'training',
}

export enum OperationStatus {
  PENDING = 'pending',
  RUNNING = 'running',
  COMPLETED = 'completed',
  FAILED = 'failed',
  CANCELLED = 'cancelled',
}

/** Terminal statuses a worker may report through `/operations/{id}/complete`. */
export enum CompletionStatus {
  COMPLETED = 'completed',
  FAILED = 'failed',
  CANCELLED = 'cancelled',
}

/** Why a checkpoint was written. */
export enum CheckpointType {
  PERIODIC = 'periodic',
  CANCELLATION = 'cancellation',
  SHUTDOWN = 'shutdown',
  FAILURE = 'failure',
}

/** What a worker says about itself on `GET /health`. */
export enum WorkerActivity {
  IDLE = 'idle',
  BUSY = 'busy',
}

export const TERMINAL_OPERATION_STATUSES: readonly OperationStatus[] = [
  OperationStatus.COMPLETED,
  OperationStatus.FAILED,
  OperationStatus.CANCELLED,
];

export const ACTIVE_OPERATION_STATUSES: readonly OperationStatus[] = [
  OperationStatus.PENDING,
  OperationStatus.RUNNING,
];

/** Input aliases for worker types (old names still sent by some workers). */
export const WORKER_TYPE_ALIASES: Readonly<Record<string, WorkerType>> = {
  cpu_training: WorkerType.TRAINING,
};

/** The worker type that runs each operation type. */
export const WORKER_TYPE_FOR_OPERATION: Readonly<Record<OperationType, readonly WorkerType[]>> = {
  [OperationType.BACKTESTING]: [WorkerType.BACKTESTING],
  [OperationType.TRAINING]: [WorkerType.TRAINING, WorkerType.GPU_HOST],
};
