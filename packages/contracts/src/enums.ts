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
  /** Queued: waiting for a worker of its type. */
  PENDING = 'pending',
  /** Claimed from the queue and sent to a worker that has not accepted it yet. */
  DISPATCHED = 'dispatched',
  /** Accepted by its worker. */
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

/** How one dispatch attempt of an operation ended (`OperationAttemptDto.outcome`). */
export enum AttemptOutcome {
  COMPLETED = 'completed',
  FAILED = 'failed',
  CANCELLED = 'cancelled',
  /** Back to the queue: the worker did not take it (busy, unreachable, refused) or shut down. */
  REQUEUED = 'requeued',
  /** Its worker was lost (no sign of it running the operation): requeued, or failed when no attempts were left. */
  ORPHANED = 'orphaned',
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
  OperationStatus.DISPATCHED,
  OperationStatus.RUNNING,
];

/** Statuses of an operation that a worker holds (or is being handed). */
export const ASSIGNED_OPERATION_STATUSES: readonly OperationStatus[] = [
  OperationStatus.DISPATCHED,
  OperationStatus.RUNNING,
];

/**
 * The operation lifecycle, written down once: every status change the backend makes must be one of
 * these (the backend's OperationLifecycle refuses any other). `pending` is the queue; an operation goes
 * back to it for a retry (dispatch refused, worker lost or shut down, resume by a user).
 */
export const OPERATION_TRANSITIONS: Readonly<Record<OperationStatus, readonly OperationStatus[]>> =
  {
    [OperationStatus.PENDING]: [
      OperationStatus.DISPATCHED,
      OperationStatus.CANCELLED,
      OperationStatus.FAILED,
    ],
    [OperationStatus.DISPATCHED]: [
      OperationStatus.RUNNING,
      OperationStatus.PENDING,
      OperationStatus.COMPLETED,
      OperationStatus.FAILED,
      OperationStatus.CANCELLED,
    ],
    [OperationStatus.RUNNING]: [
      OperationStatus.PENDING,
      OperationStatus.COMPLETED,
      OperationStatus.FAILED,
      OperationStatus.CANCELLED,
    ],
    [OperationStatus.COMPLETED]: [],
    [OperationStatus.FAILED]: [OperationStatus.PENDING],
    [OperationStatus.CANCELLED]: [OperationStatus.PENDING],
  };

/** Whether the lifecycle allows `from` → `to`. */
export function isAllowedTransition(from: OperationStatus, to: OperationStatus): boolean {
  return OPERATION_TRANSITIONS[from].includes(to);
}

/** Input aliases for worker types (old names still sent by some workers). */
export const WORKER_TYPE_ALIASES: Readonly<Record<string, WorkerType>> = {
  cpu_training: WorkerType.TRAINING,
};

/** The worker type that runs each operation type. */
export const WORKER_TYPE_FOR_OPERATION: Readonly<Record<OperationType, readonly WorkerType[]>> = {
  [OperationType.BACKTESTING]: [WorkerType.BACKTESTING],
  [OperationType.TRAINING]: [WorkerType.TRAINING, WorkerType.GPU_HOST],
};
