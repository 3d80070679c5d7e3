import type {
  CheckpointInfoDto,
  OperationAttemptDto,
  OperationParams,
  OperationProgressDto,
  OperationStatus,
  OperationType,
} from '@ktrdr/contracts';

/**
 * One operation as stored. Times are Date objects here; the API layer renders ISO-8601 UTC strings.
 * `T` narrows the operation type and with it the type of `params`.
 */
export interface OperationRecord<T extends OperationType = OperationType> {
  operation_id: string;
  operation_type: T;
  status: OperationStatus;
  worker_id: string | null;
  attempt: number;
  /** Fences worker reports: only the latest dispatch's token is accepted. */
  lease_token: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
  progress: OperationProgressDto;
  /**
   * The start request of its type without the queue field `priority` (validated when it was
   * submitted), sent to the worker as the dispatch's `params`.
   */
  params: OperationParams<T>;
  result: Record<string, unknown> | null;
  error_message: string | null;
  checkpoint: CheckpointInfoDto | null;
  /** Queue priority: higher is dispatched first. */
  priority: number;
  /** When it (last) entered the queue: FIFO order among equal priorities. */
  queued_at: Date;
  /** The sweep it belongs to. */
  sweep_id: string | null;
  /** The checkpoint the next dispatch resumes from (null: from the start). */
  resume_from: CheckpointInfoDto | null;
  /** Attempts before the last manual resume (the automatic retry budget counts from here). */
  attempt_base: number;
  /**
   * Every dispatch, oldest first (times as ISO-8601 strings, as in `checkpoint`): claimNext appends
   * one; the lifecycle fills in its start and its end.
   */
  attempts: OperationAttemptDto[];
}

export type NewOperation = Pick<OperationRecord, 'operation_id' | 'operation_type' | 'params'> &
  Partial<
    Pick<
      OperationRecord,
      'status' | 'created_at' | 'progress' | 'priority' | 'sweep_id' | 'queued_at'
    >
  >;

/** An operation just queued, with its 1-based place in the queue of its type at that moment. */
export interface EnqueuedOperation {
  record: OperationRecord;
  queue_position: number;
}

/** A sweep as stored: the request it was expanded from. */
export interface SweepRecord {
  sweep_id: string;
  operation_type: OperationType;
  created_at: Date;
  base: Record<string, unknown>;
  grid: Record<string, unknown[]>;
  total: number;
  /** The children in grid order, with the grid values each one got. */
  children: { operation_id: string; grid_values: Record<string, unknown> }[];
}

/** What a dispatcher writes when it claims the next queued operation for a worker. */
export interface QueueClaim {
  worker_id: string;
  lease_token: string;
  at: Date;
}

/** Fields a caller may change; `updated_at` is always set by the repository. */
export type OperationPatch = Partial<
  Omit<
    OperationRecord,
    'operation_id' | 'operation_type' | 'created_at' | 'updated_at' | 'sweep_id'
  >
>;

/** Preconditions of a compare-and-set update; the update happens only when all of them hold. */
export interface UpdateExpectation {
  status?: readonly OperationStatus[];
  lease_token?: string | null;
  /**
   * The row's `updated_at` as the caller last saw it: the update happens only if nobody wrote the
   * row since (optimistic concurrency for a caller that works from a remembered record).
   */
  updated_at?: Date;
}

export interface OperationFilter {
  status?: readonly OperationStatus[];
  operation_type?: OperationType;
  worker_id?: string;
  sweep_id?: string;
  /** newest (default): created_at desc; queue: dispatch order (priority desc, queued_at, id). */
  order?: 'newest' | 'queue';
  /** 1–1000 */
  limit: number;
  offset: number;
}

export interface OperationPage {
  data: OperationRecord[];
  /** Rows matching the filter, ignoring limit/offset. */
  total_count: number;
  /** Rows in pending or running, ignoring the filter. */
  active_count: number;
}

/**
 * The operations store. Two drivers implement it with the same SQL and migrations: SQLite (embedded,
 * default; file-backed or in-memory) and PostgreSQL (`pg`). Every method is safe to call concurrently.
 */
export interface OperationsRepository {
  /** Opens the connection and applies pending migrations. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Throws when the store is unreachable (readiness). */
  ping(): Promise<void>;
  create(op: NewOperation): Promise<OperationRecord>;
  /**
   * Inserts a pending operation unless `maxPending` operations are pending already, and reports its
   * place in the queue (one statement); null when the queue is full.
   */
  enqueue(op: NewOperation, maxPending: number): Promise<EnqueuedOperation | null>;
  /**
   * Stores a sweep and its children (pending) in one transaction; null (nothing written) when the
   * queue cannot take them all.
   */
  createSweep(
    sweep: SweepRecord,
    children: NewOperation[],
    maxPending: number,
  ): Promise<OperationRecord[] | null>;
  getSweep(sweepId: string): Promise<SweepRecord | null>;
  /**
   * Atomic compare-and-set claim of the next pending operation of `type` in dispatch order
   * (priority desc, queued_at, operation_id): it becomes `dispatched` with the worker, the lease and
   * attempt + 1, and a new open entry in `attempts` (that worker, dispatched at `claim.at`, resumed
   * from `resume_from`). Two concurrent claims (even from two backends on one PostgreSQL) never get the same row.
   */
  claimNext(type: OperationType, claim: QueueClaim): Promise<OperationRecord | null>;
  /** 1-based place of each given pending operation in the queue of its type (absent: not pending). */
  queuePositions(operationIds: readonly string[]): Promise<Map<string, number>>;
  /** Pending operations per type. */
  pendingCounts(): Promise<Record<OperationType, number>>;
  get(operationId: string): Promise<OperationRecord | null>;
  /**
   * Newest first (created_at desc, then operation_id desc). `status` absent = any status; an empty
   * list matches nothing. Throws when limit is outside 1–1000 or offset is negative.
   */
  list(filter: OperationFilter): Promise<OperationPage>;
  /** Compare-and-set: returns the updated record, or null when it does not exist or `expect` fails. */
  update(
    operationId: string,
    patch: OperationPatch,
    expect?: UpdateExpectation,
  ): Promise<OperationRecord | null>;
  /** All operations in the given statuses (oldest first), for the orphan detector and start-up reconcile. */
  findByStatus(statuses: readonly OperationStatus[]): Promise<OperationRecord[]>;
  /** Every child of a sweep, in submission order. */
  findBySweep(sweepId: string): Promise<OperationRecord[]>;
  /** Deletes finished (completed/failed/cancelled) operations completed before `cutoff`; returns the count. */
  purgeFinishedBefore(cutoff: Date): Promise<number>;
}

/** Nest injection token of the repository. */
export const OPERATIONS_REPOSITORY = Symbol('OPERATIONS_REPOSITORY');
