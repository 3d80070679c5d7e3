import type {
  DispatchedStartRequest,
  CheckpointType,
  OperationProgressDto,
  OperationType,
  WorkerCapabilitiesDto,
  WorkerType,
} from '@ktrdr/contracts';

/**
 * A validated worker start request: the dispatch fields and the operation's parameters nested in
 * `params` (the contracts' Worker*StartRequestDto).
 */
export type DispatchedRequest<TParams extends object = object> = DispatchedStartRequest<TParams>;

/**
 * What an app plugs into the runtime: the kind of work it does, its start route and request DTO,
 * and the compiled JavaScript module that runs one job inside a worker_thread.
 */
export interface WorkerEngine<
  TRequest extends DispatchedRequest = DispatchedRequest,
  TData extends object = object,
> {
  /** e.g. `backtest-worker` (the `service` of GET /health, the metrics label). */
  serviceName: string;
  workerType: WorkerType;
  operationType: OperationType;
  /** Absolute route of the start endpoint, e.g. WORKER_ROUTES.backtestStart. */
  startRoute: string;
  /**
   * Earlier names of the start route, still served (deprecated) so a backend of the previous
   * release can dispatch during a rolling upgrade, e.g. WORKER_ROUTES.trainingStartLegacy.
   */
  legacyStartRoutes?: readonly string[];
  /** The contracts' Worker*StartRequestDto the start body is validated with. */
  startRequestDto: new () => TRequest;
  /**
   * Absolute path of a CommonJS module exporting `runJob(input: JobInput, ctx: JobContext)`,
   * loaded inside the worker_thread (compiled JavaScript, e.g. `join(__dirname, 'job.js')`).
   */
  jobModulePath: string;
  /**
   * Keep the job thread after a job ends normally and run the next job in it (the job module stays
   * loaded, JIT-warm, with its module-level caches, e.g. the backtest worker's bars cache). A thread
   * that crashed, exited or was terminated is never reused. Default false: a fresh thread per job.
   */
  reuseThread?: boolean;
  /** What one unit of work is (`bars`, `epochs`), used in messages. */
  unitName: string;
  /** Capabilities sent on registration. */
  capabilities(): Promise<WorkerCapabilitiesDto>;
  /**
   * Builds the engine-specific part of the job input on the main thread (e.g. directories from
   * settings), so the thread never reads configuration (plain JSON data: it is posted to the
   * thread). Defaults to `{}`.
   */
  prepareJob?(request: TRequest): TData;
}

/** Checkpoint cadence passed to the thread: a checkpoint is due after `every_units` or `every_ms`. */
export interface CheckpointCadence {
  every_units: number;
  every_ms: number;
}

/**
 * What the thread's `runJob` receives: `TParams` is the start request's `params` type (e.g.
 * BacktestStartRequestDto), `TData` what the engine's `prepareJob` returns.
 */
export interface JobInput<
  TParams extends object = Record<string, unknown>,
  TData extends object = object,
> {
  operation_id: string;
  attempt: number;
  /** The start request's `params` (the operation's parameters, without the dispatch fields). */
  params: TParams;
  /** State saved by an earlier checkpoint of this operation, when resuming. */
  resume_state: unknown;
  /** Unit of that checkpoint (0 when not resuming). */
  resume_unit: number;
  checkpoint: CheckpointCadence;
  /** From WorkerEngine.prepareJob. */
  data: TData;
}

/** Abort flag readable from the running (synchronous) engine loop. */
export interface AbortLike {
  readonly aborted: boolean;
}

/** What the thread's `runJob` can call. */
export interface JobContext {
  /** Checked by the engine between bars/epochs; set by cancel, stop and SIGTERM. */
  signal: AbortLike;
  /** Reports progress (the runtime throttles what reaches the backend). */
  progress(progress: OperationProgressDto): void;
  /**
   * True when a periodic checkpoint is due: `units` (a counter that only grows, e.g. epochs
   * done) advanced by `every_units` since the last one, or `every_ms` elapsed.
   */
  checkpointDue(units: number): boolean;
  /** Saves a periodic checkpoint (`unit` = bars/epochs done; `state` = plain JSON). */
  checkpoint(unit: number, state: unknown): void;
  log(message: string): void;
  /**
   * Runs `fn` as a named phase of the job (`load_data`, `run`, …): a child span of the job's span
   * in the operation's trace (a no-op when tracing is off). A throw ends the phase as failed and
   * propagates.
   */
  phase<T>(name: string, fn: () => T, attributes?: SpanAttributes): T;
  /** An event on the innermost open phase (or the job span), e.g. one per training epoch. */
  event(name: string, attributes?: SpanAttributes): void;
}

/**
 * A large part of a result (e.g. every trade, the full equity curve) that travels separately from
 * the completion report: column-wise (one array per column, all of one length; typed arrays are
 * fine), uploaded by the runtime in chunks of `chunk_rows` rows to
 * `PUT /operations/{id}/artifacts/{kind}/chunks/{index}` (binary, with the lease token), before the
 * completion is sent.
 */
export interface JobArtifact {
  kind: string;
  columns: string[];
  data: ArrayLike<number>[];
  /** Rows per upload request (default ARTIFACT_DEFAULT_CHUNK_ROWS). */
  chunk_rows?: number;
  /**
   * Move the buffers of its typed arrays (those that own their whole buffer) to the main thread
   * instead of copying them: they are detached in the job thread when the job returns, so set it
   * only for arrays made for the artifact (never for cached data the thread keeps).
   */
  transfer?: boolean;
}

/** Attribute values a job may put on its phases and events (plain JSON scalars). */
export type SpanAttributes = Record<string, string | number | boolean | null | undefined>;

/** What `runJob` returns. Throwing an Error means `failed` with its message. */
export type JobOutcome =
  | { status: 'completed'; result: Record<string, unknown>; artifacts?: JobArtifact[] }
  | { status: 'aborted'; unit: number; state: unknown };

/**
 * Signature of the job module's export, for the engine's request and job data types (a job module
 * types its `runJob` with the same ones as its WorkerEngine).
 */
export type RunJob<
  TRequest extends DispatchedRequest = DispatchedRequest,
  TData extends object = object,
> = (
  input: JobInput<TRequest['params'], TData>,
  ctx: JobContext,
) => JobOutcome | Promise<JobOutcome>;

/** Why a job is being aborted. */
export type AbortReason = 'cancellation' | 'shutdown' | 'stop' | 'lease_lost';

/** Messages from the job thread to the main thread. */
export type ThreadMessage =
  | { kind: 'progress'; progress: OperationProgressDto }
  | { kind: 'checkpoint'; unit: number; state: unknown }
  | { kind: 'log'; message: string }
  | { kind: 'done'; outcome: JobOutcome }
  /** A completed outcome whose result the thread serialised (phase `serialise_result`). */
  | { kind: 'completed'; result_json: string; artifacts?: JobArtifact[] }
  | { kind: 'error'; message: string }
  /** Phase spans and events; times are epoch milliseconds measured in the thread. */
  | { kind: 'phase_start'; id: number; name: string; time: number; attributes?: SpanAttributes }
  | {
      kind: 'phase_end';
      id: number;
      time: number;
      error?: string;
      error_name?: string;
      attributes?: SpanAttributes;
    }
  | { kind: 'event'; name: string; time: number; attributes?: SpanAttributes };

export type CheckpointMeta = { type: CheckpointType; created_at: string; unit: number };
