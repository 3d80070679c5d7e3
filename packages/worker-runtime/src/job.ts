import {
  encodeArtifactChunk,
  envelopeMessage,
  errorText,
  type ArtifactChunkMeta,
} from '@ktrdr/contracts';
import { Worker } from 'node:worker_threads';
import {
  CheckpointType,
  CompletedOperationDto,
  CompletionStatus,
  OperationProgressDto,
} from '@ktrdr/contracts';
import {
  ATTR,
  context,
  contextWithSpan,
  failSpan,
  runInContext,
  SPAN,
  startSpan,
  withSpan,
  type Context,
  type Span,
} from '@ktrdr/telemetry';
import { backoffDelayMs, type Clock } from '@ktrdr/config';
import { responseText, type BackendClient } from './backend-client';
import type { CheckpointStore } from './checkpoint-store';
import { JOB_THREAD_PATH } from './job-thread-path';
import type { JobThreadData, RunMessage } from './job-thread';
import type { RuntimeLogger } from './logger';
import type {
  AbortReason,
  CheckpointMeta,
  JobArtifact,
  DispatchedRequest,
  JobInput,
  JobOutcome,
  SpanAttributes,
  ThreadMessage,
  WorkerEngine,
} from './types';

export interface JobOptions {
  progressIntervalMs: number;
  checkpoint: { every_units: number; every_ms: number };
}

/** How a job ended, before the completion is delivered. */
export interface JobEnd {
  /** null: no completion is reported (the lease was lost). */
  completion: CompletedOperationDto | null;
  status: CompletionStatus | 'superseded';
  checkpoint: CheckpointMeta | null;
  durationSeconds: number;
  /** Trace context of the job (its completion report joins the operation attempt's trace). */
  trace?: Context;
}

type ThreadEnd = { kind: 'done'; outcome: JobOutcome } | { kind: 'error'; message: string };

/** Phase errors that mean "aborted" (cancel, shutdown), not a failure. */
const ABORT_ERROR = /abort/i;

function attrs(a: SpanAttributes | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(a ?? {})) {
    if (v !== null && v !== undefined) out[k] = v;
  }
  return out;
}

/** Rows per artifact upload when the job does not say. */
export const ARTIFACT_DEFAULT_CHUNK_ROWS = 50_000;
/** Artifact chunks in flight at once (per artifact). */
export const ARTIFACT_UPLOAD_LANES = 2;
/** Tries of one artifact chunk before the operation fails (jittered backoff, steps of 1 s doubling to 30 s). */
export const ARTIFACT_UPLOAD_ATTEMPTS = 8;
const PERMANENT_UPLOAD_REJECTIONS = new Set([400, 401, 403, 404, 413, 422]);

type UploadOutcome = { kind: 'done' } | { kind: 'failed'; message: string } | { kind: 'aborted' };

/**
 * One operation: runs the engine's job module in a worker_thread, forwards throttled progress
 * with the lease token, writes checkpoints, aborts through a shared flag and builds the
 * completion report.
 */
export class RunningJob {
  readonly operationId: string;
  readonly leaseToken: string;
  readonly startedAt: number;
  status: 'running' | CompletionStatus | 'superseded' = 'running';
  abortReason: AbortReason | null = null;
  latestProgress: OperationProgressDto | null = null;
  latestCheckpoint: CheckpointMeta | null = null;
  private readonly abortBuffer = new SharedArrayBuffer(4);
  private readonly abortCell = new Int32Array(this.abortBuffer);
  /** The checkpoint being written (one at a time) and the newest one waiting behind it. */
  private writing: Promise<void> | null = null;
  private pendingCheckpoint: { unit: number; state: unknown } | null = null;
  private progressDirty = false;
  private pumping: Promise<void> | null = null;
  /** Set at the end of the thread: the pump sends the last report without waiting out the throttle. */
  private flushing = false;
  private readonly pumpWake = new AbortController();
  private lastProgressSent = 0;
  private worker: Worker | null = null;
  private terminated = false;
  /** Wakes an artifact upload's backoff sleep when the job is aborted. */
  private readonly abortWake = new AbortController();
  /** The job's span (`ktrdr.job`) and the context its reports and phases run in. */
  private span: Span | null = null;
  private trace: Context;
  private readonly phases = new Map<number, Span>();
  /** Resolves when the job has ended (completion built, not necessarily delivered). */
  readonly finished: Promise<JobEnd>;
  private resolveFinished!: (end: JobEnd) => void;

  constructor(
    private readonly engine: WorkerEngine,
    readonly request: DispatchedRequest,
    private readonly client: BackendClient,
    private readonly store: CheckpointStore,
    private readonly clock: Clock,
    private readonly logger: RuntimeLogger,
    private readonly options: JobOptions,
    /** The context of the accepted start request (the dispatch's trace). */
    parentTrace: Context = context.active(),
  ) {
    this.trace = parentTrace;
    this.operationId = request.operation_id;
    this.leaseToken = request.lease_token;
    this.startedAt = clock.now();
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
  }

  /** Sets the abort flag; the engine sees it at its next check. The first reason wins. */
  abort(reason: AbortReason): void {
    if (this.status !== 'running') return;
    if (this.abortReason === null) this.abortReason = reason;
    Atomics.store(this.abortCell, 0, 1);
    this.abortWake.abort();
  }

  get aborting(): boolean {
    return this.abortReason !== null;
  }

  /** Trace context of the job (the job span once it runs). */
  get traceContext(): Context {
    return this.trace;
  }

  /** Starts the thread; never rejects (failures become a `failed` completion). */
  run(): void {
    this.span = startSpan(SPAN.JOB, {
      parent: this.trace,
      attributes: {
        [ATTR.OPERATION_ID]: this.operationId,
        [ATTR.ATTEMPT]: this.request.attempt,
        [ATTR.OPERATION_TYPE]: this.engine.operationType,
        ...(this.request.resume_from ? { [ATTR.RESUME_UNIT]: this.request.resume_from.unit } : {}),
      },
    });
    this.trace = contextWithSpan(this.span, this.trace);
    void runInContext(this.trace, () => this.execute()).then(
      (end) => this.resolveFinished(end),
      (err: unknown) => {
        // Defensive: execute() handles its own errors.
        this.logger.error(`job ${this.operationId} crashed: ${errorText(err)}`);
        this.resolveFinished(this.finish(CompletionStatus.FAILED, null, errorText(err), null));
      },
    );
  }

  private async execute(): Promise<JobEnd> {
    let resumeState: unknown = null;
    let resumeUnit = 0;
    const resumeFrom = this.request.resume_from;
    if (resumeFrom) {
      const stored = await this.store.read(this.operationId).catch(() => null);
      if (stored) {
        resumeState = stored.state;
        resumeUnit = stored.meta.unit;
        this.latestCheckpoint = stored.meta;
        this.logger.log(
          `resuming ${this.operationId} from its ${stored.meta.type} checkpoint at ${stored.meta.unit} ${this.engine.unitName}`,
        );
      } else {
        this.logger.warn(
          `resume of ${this.operationId} requested but no checkpoint found under ${this.store.operationDir(this.operationId)}; starting from the beginning`,
        );
      }
    }
    let data: object;
    try {
      data = this.engine.prepareJob ? this.engine.prepareJob(this.request) : {};
    } catch (err) {
      return this.finish(CompletionStatus.FAILED, null, errorText(err), null);
    }
    const input: JobInput = {
      operation_id: this.operationId,
      attempt: this.request.attempt,
      // Plain data for postMessage (the validated params are class instances).
      params: JSON.parse(JSON.stringify(this.request.params)) as Record<string, unknown>,
      resume_state: resumeState,
      resume_unit: resumeUnit,
      checkpoint: this.options.checkpoint,
      data,
    };
    if (this.abortReason !== null) {
      // Aborted before the thread even started.
      return this.endAborted(resumeUnit, resumeState);
    }

    const outcome = await this.runThread(input);
    // A completed or aborted run supersedes any periodic checkpoint still queued (completion removes
    // the checkpoints, an abort writes its own, newer one). An abort waits for the write in
    // progress; a completion does not wait for it at all (the removal follows it). A failed thread
    // keeps its newest periodic checkpoint (one more write at most).
    if (outcome.kind === 'done') this.pendingCheckpoint = null;
    const completed = outcome.kind === 'done' && outcome.outcome.status === 'completed';
    if (!completed) await this.checkpointWrites();
    await this.flushProgress();
    if (outcome.kind === 'error') {
      return this.finish(CompletionStatus.FAILED, null, outcome.message, this.latestCheckpoint);
    }
    const o = outcome.outcome;
    if (o.status === 'completed') {
      // Finished even if an abort raced with the end: report it (a stale lease gets a 409).
      if (o.artifacts && o.artifacts.length > 0) {
        const artifacts = o.artifacts;
        const up = await withSpan(
          `${SPAN.PHASE_PREFIX}upload_artifacts`,
          {
            parent: this.trace,
            attributes: {
              [ATTR.OPERATION_ID]: this.operationId,
              [ATTR.PHASE]: 'upload_artifacts',
              'ktrdr.artifacts': artifacts.map((a) => a.kind).join(','),
              'ktrdr.artifacts.rows': artifacts.reduce((n, a) => n + (a.data[0]?.length ?? 0), 0),
            },
          },
          async (span) => {
            const r = await this.uploadArtifacts(artifacts);
            if (r.kind === 'failed') failSpan(span, r.message);
            if (r.kind === 'aborted') span.setAttribute('ktrdr.job.aborted', true);
            return r;
          },
        );
        if (up.kind === 'failed') {
          return this.finish(CompletionStatus.FAILED, null, up.message, this.latestCheckpoint);
        }
        if (up.kind === 'aborted') {
          // Cancelled or SIGTERM while uploading: the last periodic checkpoint (if any) becomes
          // the cancellation / shutdown checkpoint.
          await this.checkpointWrites();
          const stored = await this.store.read(this.operationId).catch(() => null);
          return this.endAborted(stored?.meta.unit ?? 0, stored?.state ?? null);
        }
      }
      if (this.writing) {
        // A periodic checkpoint still being written: remove the checkpoints once it is on disk,
        // without holding the completion for it.
        void this.checkpointWrites()
          .then(() => this.store.remove(this.operationId))
          .catch(() => undefined);
      } else {
        await this.store.remove(this.operationId).catch(() => undefined);
      }
      return this.finish(CompletionStatus.COMPLETED, o.result, null, null);
    }
    return this.endAborted(o.unit, o.state);
  }

  /**
   * Uploads each artifact in chunks (lease-fenced) before the completion is sent, so the backend
   * has every row when it marks the operation completed. A chunk is retried with backoff on
   * network errors and 5xx (at most ARTIFACT_UPLOAD_ATTEMPTS tries); a 4xx rejection fails the
   * operation with the backend's reason (never a silently shorter result); a 409 (stale lease, or
   * the operation already finished, e.g. cancelled) stops the uploads and lets the completion
   * report find out how the backend sees it.
   */
  private async uploadArtifacts(artifacts: JobArtifact[]): Promise<UploadOutcome> {
    for (const a of artifacts) {
      const total = a.data.length > 0 ? a.data[0].length : 0;
      if (a.data.length !== a.columns.length || a.data.some((col) => col.length !== total)) {
        return {
          kind: 'failed',
          message: `artifact ${a.kind}: ${a.columns.length} columns but ${a.data.length} arrays of differing lengths`,
        };
      }
      const size = Math.max(1, Math.floor(a.chunk_rows ?? ARTIFACT_DEFAULT_CHUNK_ROWS));
      const chunks = Math.max(1, Math.ceil(total / size));
      // ARTIFACT_UPLOAD_LANES chunks in flight: the next one is encoded and sent while the backend
      // stores the last. The first refusal, 409 or abort stops every lane.
      let next = 0;
      let stop: UploadOutcome | null = null;
      // Wakes a lane sleeping out a retry's backoff once another lane has ended the uploads.
      const ended = new AbortController();
      const wake = AbortSignal.any([this.abortWake.signal, ended.signal]);
      const lane = async (): Promise<void> => {
        while (stop === null && next < chunks) {
          if (this.abortReason !== null) {
            stop = { kind: 'aborted' };
            return;
          }
          const c = next++;
          const from = c * size;
          const to = Math.min(total, from + size);
          const outcome = await this.uploadChunk(
            a,
            { chunk_index: c, chunk_count: chunks, first_row: from, total_rows: total },
            to,
            { wake, stopped: () => stop },
          );
          if (outcome !== null) {
            stop ??= outcome;
            ended.abort();
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(ARTIFACT_UPLOAD_LANES, chunks) }, lane));
      if (stop !== null) return stop;
      this.logger.log(
        `${this.operationId}: uploaded ${total} ${a.kind} rows in ${chunks} chunk(s)`,
      );
    }
    return { kind: 'done' };
  }

  /**
   * One chunk, retried with backoff on network errors and 5xx. Null when it is stored; otherwise
   * how the uploads end (409: done, the completion report finds out the rest; a refusal: failed).
   * `lanes.wake` cuts a backoff short (abort, or another lane ended the uploads: `stopped()` says
   * how). `place` says where the chunk is (rows first_row .. end - 1 of total_rows).
   */
  private async uploadChunk(
    a: JobArtifact,
    place: Pick<ArtifactChunkMeta, 'chunk_index' | 'chunk_count' | 'first_row' | 'total_rows'>,
    end: number,
    lanes: { wake: AbortSignal; stopped: () => UploadOutcome | null },
  ): Promise<UploadOutcome | null> {
    const meta: ArtifactChunkMeta = { ...place, lease_token: this.leaseToken, columns: a.columns };
    const { chunk_index: c, chunk_count: chunks, total_rows: total } = place;
    const { wake, stopped } = lanes;
    const bytes = encodeArtifactChunk(a.data, place.first_row, end);
    for (let attempt = 0; ; attempt++) {
      const res = await this.client.uploadArtifactChunk(
        this.operationId,
        a.kind,
        meta,
        bytes,
        context.active(),
      );
      if (res.status >= 200 && res.status < 300) return null;
      if (res.status === 409) {
        this.logger.warn(
          `upload of ${a.kind} for ${this.operationId} rejected with 409 (${envelopeMessage(res.body, 'stale lease: a newer attempt owns it')}); sending the completion without the rest`,
        );
        return { kind: 'done' };
      }
      const why = responseText(res);
      if (PERMANENT_UPLOAD_REJECTIONS.has(res.status) || attempt + 1 >= ARTIFACT_UPLOAD_ATTEMPTS) {
        return {
          kind: 'failed',
          message: `The job finished but its ${a.kind} (${total} rows) could not be stored by the backend: chunk ${c + 1}/${chunks} was refused (${why})`,
        };
      }
      const delay = backoffDelayMs(attempt, { baseMs: 1_000, capMs: 30_000 });
      this.logger.warn(
        `upload of ${a.kind} chunk ${c + 1}/${chunks} for ${this.operationId} failed (${why}); retrying in ${delay} ms`,
      );
      await this.clock.sleep(delay, wake);
      if (this.abortReason !== null) return { kind: 'aborted' };
      // Another lane ended the uploads meanwhile: its outcome stands.
      const other = stopped();
      if (other !== null) return other;
    }
  }

  private async endAborted(unit: number, state: unknown): Promise<JobEnd> {
    const reason = this.abortReason ?? 'cancellation';
    if (reason === 'lease_lost') {
      return this.finish('superseded', null, null, this.latestCheckpoint);
    }
    const type = reason === 'shutdown' ? CheckpointType.SHUTDOWN : CheckpointType.CANCELLATION;
    let checkpoint = this.latestCheckpoint;
    if (state !== null && state !== undefined) {
      try {
        checkpoint = await this.store.write(this.operationId, type, unit, state);
      } catch (err) {
        this.logger.error(
          `could not write the ${type} checkpoint of ${this.operationId}: ${errorText(err)}`,
        );
      }
    }
    if (reason === 'shutdown') {
      const where = checkpoint
        ? `; a ${checkpoint.type} checkpoint at ${checkpoint.unit} ${this.engine.unitName} was saved (the backend queues it again from there while attempts remain; otherwise POST /api/v1/operations/${this.operationId}/resume)`
        : '';
      return this.finish(
        CompletionStatus.FAILED,
        null,
        `Worker shut down (SIGTERM) while running the operation${where}`,
        checkpoint,
      );
    }
    return this.finish(
      CompletionStatus.CANCELLED,
      null,
      reason === 'stop' ? 'Stopped at the backend request' : 'Cancelled',
      checkpoint,
    );
  }

  private finish(
    status: CompletionStatus | 'superseded',
    result: Record<string, unknown> | null,
    error: string | null,
    checkpoint: CheckpointMeta | null,
  ): JobEnd {
    this.status = status;
    const durationSeconds = (this.clock.now() - this.startedAt) / 1000;
    this.endSpans(status, error);
    const trace = this.trace;
    if (status === 'superseded') {
      return { completion: null, status, checkpoint, durationSeconds, trace };
    }
    const completion: CompletedOperationDto = {
      operation_id: this.operationId,
      lease_token: this.leaseToken,
      status,
      result,
      // The wire limit of error_message (CompleteOperationRequestDto).
      error_message: error === null ? null : error.slice(0, 4000),
    };
    if (checkpoint) completion.checkpoint = { ...checkpoint };
    // Stopped by SIGTERM before the end: the backend queues it again while attempts remain.
    if (status === CompletionStatus.FAILED && this.abortReason === 'shutdown') {
      completion.interrupted = true;
    }
    return { completion, status, checkpoint, durationSeconds, trace };
  }

  private endSpans(status: string, error: string | null): void {
    for (const [id, phase] of this.phases) {
      failSpan(phase, `the job ended (${status}) before this phase finished`);
      phase.end();
      this.phases.delete(id);
    }
    const span = this.span;
    if (!span) return;
    this.span = null;
    span.setAttribute(ATTR.STATUS, status);
    if (this.abortReason) span.setAttribute('ktrdr.abort.reason', this.abortReason);
    if (status === CompletionStatus.FAILED) failSpan(span, error ?? 'failed');
    else if (error) span.setAttribute(ATTR.ERROR_MESSAGE, error.slice(0, 4_000));
    span.end();
  }

  /** The innermost open phase span, else the job span. */
  private currentSpan(): Span | null {
    let last: Span | null = null;
    for (const s of this.phases.values()) last = s;
    return last ?? this.span;
  }

  private onPhaseStart(id: number, name: string, time: number, a?: SpanAttributes): void {
    const parent = this.currentSpan();
    if (!parent) return;
    const span = startSpan(`${SPAN.PHASE_PREFIX}${name}`, {
      parent: contextWithSpan(parent, this.trace),
      startTime: time,
      attributes: { ...attrs(a), [ATTR.PHASE]: name, [ATTR.OPERATION_ID]: this.operationId },
    });
    this.phases.set(id, span);
  }

  private onPhaseEnd(
    id: number,
    time: number,
    error: string | undefined,
    errorName: string | undefined,
    a?: SpanAttributes,
  ): void {
    const span = this.phases.get(id);
    if (!span) return;
    this.phases.delete(id);
    span.setAttributes(attrs(a));
    if (error !== undefined) {
      if (ABORT_ERROR.test(errorName ?? '') || ABORT_ERROR.test(error)) {
        span.setAttribute('ktrdr.job.aborted', true);
      } else {
        failSpan(span, error);
      }
    }
    span.end(time);
  }

  private onEvent(name: string, time: number, a?: SpanAttributes): void {
    this.currentSpan()?.addEvent(name, attrs(a), time);
  }

  private runThread(input: JobInput): Promise<ThreadEnd> {
    return new Promise((resolve) => {
      const modulePath = this.engine.jobModulePath;
      const reuse = this.engine.reuseThread === true;
      let worker: Worker;
      let reusable = reuse;
      let settled = false;
      const onMessage = (msg: ThreadMessage): void =>
        runInContext(this.trace, () => this.onThreadMessage(msg, settle));
      const onError = (err: Error): void => {
        reusable = false;
        settle({ kind: 'error', message: err.message });
      };
      const onExit = (code: number): void => {
        reusable = false;
        this.worker = null;
        settle({ kind: 'error', message: `job thread exited unexpectedly (code ${code})` });
      };
      const settle = (v: ThreadEnd): void => {
        if (settled) return;
        settled = true;
        if (reuse) {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
          this.worker = null;
          if (reusable && !this.terminated) releaseThread(modulePath, worker);
          else void worker.terminate();
        }
        resolve(v);
      };
      try {
        const idle = reuse ? takeIdleThread(modulePath) : undefined;
        worker =
          idle ??
          new Worker(JOB_THREAD_PATH, {
            workerData: (reuse
              ? { modulePath }
              : { modulePath, input, abortBuffer: this.abortBuffer }) satisfies JobThreadData,
          });
      } catch (err) {
        settle({
          kind: 'error',
          message: `cannot start the job thread: ${errorText(err)}`,
        });
        return;
      }
      this.worker = worker;
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      if (reuse) {
        worker.ref();
        worker.postMessage({
          kind: 'run',
          input,
          abortBuffer: this.abortBuffer,
        } satisfies RunMessage);
      }
    });
  }

  private onThreadMessage(msg: ThreadMessage, settle: (v: ThreadEnd) => void): void {
    switch (msg.kind) {
      case 'progress':
        this.onProgress(msg.progress);
        break;
      case 'checkpoint':
        this.onCheckpoint(msg.unit, msg.state);
        break;
      case 'log':
        this.logger.log(`[${this.operationId}] ${msg.message}`);
        break;
      case 'done':
        settle({ kind: 'done', outcome: msg.outcome });
        break;
      case 'completed': {
        let result: Record<string, unknown>;
        try {
          result = JSON.parse(msg.result_json) as Record<string, unknown>;
        } catch (err) {
          settle({ kind: 'error', message: `result is not JSON: ${errorText(err)}` });
          break;
        }
        settle({
          kind: 'done',
          outcome: {
            status: 'completed',
            result,
            ...(msg.artifacts ? { artifacts: msg.artifacts } : {}),
          },
        });
        break;
      }
      case 'error':
        settle({ kind: 'error', message: msg.message });
        break;
      case 'phase_start':
        this.onPhaseStart(msg.id, msg.name, msg.time, msg.attributes);
        break;
      case 'phase_end':
        this.onPhaseEnd(msg.id, msg.time, msg.error, msg.error_name, msg.attributes);
        break;
      case 'event':
        this.onEvent(msg.name, msg.time, msg.attributes);
        break;
    }
  }

  /** Terminates the thread (last resort at the end of the shutdown grace period). */
  async terminate(): Promise<void> {
    this.terminated = true;
    await this.worker?.terminate();
  }

  /**
   * Periodic checkpoints are written one at a time, off the job thread; one that arrives while
   * another is being written replaces any still waiting (only the newest matters), so a slow disk
   * never builds a queue that the end of the job would have to wait for.
   */
  private onCheckpoint(unit: number, state: unknown): void {
    this.pendingCheckpoint = { unit, state };
    if (this.writing) return;
    this.writing = (async () => {
      try {
        for (let next = this.pendingCheckpoint; next; next = this.pendingCheckpoint) {
          this.pendingCheckpoint = null;
          try {
            this.latestCheckpoint = await this.store.write(
              this.operationId,
              CheckpointType.PERIODIC,
              next.unit,
              next.state,
            );
            this.progressDirty = true;
            void this.pump();
          } catch (err) {
            this.logger.error(
              `could not write a checkpoint of ${this.operationId}: ${errorText(err)}`,
            );
          }
        }
      } finally {
        this.writing = null;
      }
    })();
  }

  /** Resolves when no periodic checkpoint is being written (or waiting). */
  private async checkpointWrites(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private onProgress(progress: OperationProgressDto): void {
    // Keep reports within the wire limits (OperationProgressDto) whatever the engine sends.
    const p: OperationProgressDto = {
      ...progress,
      percentage: Math.min(
        100,
        Math.max(0, Number.isFinite(progress.percentage) ? progress.percentage : 0),
      ),
    };
    if (p.current_step !== undefined) p.current_step = String(p.current_step).slice(0, 200);
    if (p.message !== undefined) p.message = String(p.message).slice(0, 500);
    this.latestProgress = p;
    this.progressDirty = true;
    void this.pump();
  }

  /** Sends the latest progress at most once per progressIntervalMs (the last one always goes). */
  private pump(): Promise<void> {
    if (this.pumping) return this.pumping;
    this.pumping = (async () => {
      try {
        while (this.progressDirty && this.status === 'running') {
          const wait = this.lastProgressSent + this.options.progressIntervalMs - this.clock.now();
          if (wait > 0 && !this.flushing) await this.clock.sleep(wait, this.pumpWake.signal);
          if (!this.progressDirty || this.latestProgress === null) break;
          this.progressDirty = false;
          await this.sendProgress();
          this.lastProgressSent = this.clock.now();
        }
      } finally {
        this.pumping = null;
      }
    })();
    return this.pumping;
  }

  private async flushProgress(): Promise<void> {
    // On SIGTERM the completion (which carries the checkpoint) matters more than a last progress
    // report that may wait for a request timeout when the backend is unreachable.
    if (this.abortReason === 'shutdown') return;
    // The job has ended: its last report goes now, not when the throttle window closes.
    this.flushing = true;
    this.pumpWake.abort();
    if (this.pumping) await this.pumping;
    if (this.progressDirty && this.latestProgress) {
      this.progressDirty = false;
      await this.sendProgress();
    }
  }

  private async sendProgress(): Promise<void> {
    if (!this.latestProgress) return;
    const body: {
      lease_token: string;
      progress: OperationProgressDto;
      checkpoint?: CheckpointMeta;
    } = { lease_token: this.leaseToken, progress: this.latestProgress };
    if (this.latestCheckpoint) body.checkpoint = { ...this.latestCheckpoint };
    const res = await withSpan(
      SPAN.REPORT_PROGRESS,
      {
        parent: this.trace,
        attributes: {
          [ATTR.OPERATION_ID]: this.operationId,
          'ktrdr.progress.percentage': body.progress.percentage,
        },
      },
      async (span) => {
        const r = await this.client.progress(this.operationId, body, context.active());
        span.setAttribute('http.response.status_code', r.status);
        if (r.status === 409) span.setAttribute('ktrdr.lease.stale', true);
        return r;
      },
    );
    if (res.status === 409) {
      this.logger.warn(
        `progress of ${this.operationId} rejected with 409: the lease is stale (re-dispatched elsewhere); aborting`,
      );
      this.abort('lease_lost');
    }
  }
}

/** Idle reusable job threads, one per job module (WorkerEngine.reuseThread). */
const idleThreads = new Map<string, Worker>();

/** Watches a pooled thread: one that fails or exits while idle leaves the pool. */
function watchIdle(modulePath: string, worker: Worker): void {
  const drop = (): void => {
    if (idleThreads.get(modulePath) === worker) idleThreads.delete(modulePath);
  };
  worker.once('exit', drop);
  worker.once('error', drop);
}

function takeIdleThread(modulePath: string): Worker | undefined {
  const w = idleThreads.get(modulePath);
  if (w) idleThreads.delete(modulePath);
  return w;
}

function releaseThread(modulePath: string, worker: Worker): void {
  const previous = idleThreads.get(modulePath);
  if (previous && previous !== worker) {
    // One idle thread per module is enough (one job at a time per worker).
    void worker.terminate();
    return;
  }
  // An idle thread does not keep the process alive.
  worker.unref();
  if (!watched.has(worker)) {
    watched.add(worker);
    watchIdle(modulePath, worker);
  }
  idleThreads.set(modulePath, worker);
}

const watched = new WeakSet<Worker>();

/**
 * Starts an idle reusable job thread for `modulePath` (which loads the job module at once), so
 * the first job does not pay for the thread start and the module loading. A no-op when one is
 * idle already; a module that fails to load reports its error when a job runs.
 */
export function prewarmJobThread(modulePath: string): void {
  if (idleThreads.has(modulePath)) return;
  let worker: Worker;
  try {
    worker = new Worker(JOB_THREAD_PATH, {
      workerData: { modulePath, preload: true } satisfies JobThreadData,
    });
  } catch {
    return; // the first job starts its own thread (and reports why it cannot)
  }
  releaseThread(modulePath, worker);
}

/** Terminates the idle reusable job threads (shutdown, tests). */
export async function closeIdleJobThreads(): Promise<void> {
  const threads = [...idleThreads.values()];
  idleThreads.clear();
  await Promise.all(threads.map((w) => w.terminate()));
}
