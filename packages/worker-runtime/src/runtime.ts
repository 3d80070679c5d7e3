import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism, totalmem } from 'node:os';
import {
  SignatureVerifier,
  toStorableText,
  CompletedOperationDto,
  errorText,
  HeartbeatRequestDto,
  RegisterWorkerRequestDto,
  WorkerActivity,
  WorkerCapabilitiesDto,
  WorkerHealthResponseDto,
  WorkerOperationStatusDto,
  WorkerStartResponseDto,
  WorkerStatus,
  type VerifyInput,
  type VerifyOutcome,
} from '@ktrdr/contracts';
import { systemClock, type Clock } from '@ktrdr/config';
import { ATTR, context, SPAN, withSpan } from '@ktrdr/telemetry';
import { BackendClient } from './backend-client';
import { CheckpointStore } from './checkpoint-store';
import { CompletionOutbox } from './completion-outbox';
import { advertisedEndpoint, RuntimeConfig } from './config';
import { WorkerBusyError, WorkerShuttingDownError } from './errors';
import { closeIdleJobThreads, JobEnd, prewarmJobThread, RunningJob } from './job';
import { nestLogger, RuntimeLogger } from './logger';
import { WorkerMetrics } from './metrics';
import { RegistrationManager } from './registration';
import type { AbortReason, CheckpointMeta, DispatchedRequest, WorkerEngine } from './types';

/** Version of @ktrdr/worker-runtime from its package.json (works from src/ and dist/). */
const RUNTIME_VERSION = (
  JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;

export interface WorkerRuntimeDeps {
  /** Time, timers and sleeps of the runtime (default: systemClock from @ktrdr/config). */
  clock?: Clock;
  logger?: RuntimeLogger;
  fetchImpl?: typeof fetch;
  /** Collect prom-client default (process) metrics; true by default. */
  defaultMetrics?: boolean;
  /** Package version reported in the registration metadata. */
  version?: string;
}

interface FinishedRecord {
  operation_id: string;
  status: string;
  checkpoint: CheckpointMeta | null;
}

const RECENT_LIMIT = 100;

/**
 * Error texts of engines name files (`Cannot read /data/x.csv`): API answers must not show server
 * paths, so every absolute path is shortened to its last part (`x.csv`). URLs are left alone.
 */
export function withoutServerPaths(text: string): string {
  return text.replace(
    /(^|[\s"'(=[])((?:\/[^\s"'()[\]/,;]+){2,}|\/[^\s"'()[\]/,;]+\/?(?=[\s"'),;]|$))/g,
    (_m, pre: string, path: string) => `${pre}${path.replace(/\/+$/, '').split('/').pop() ?? ''}`,
  );
}

/** Host capabilities every worker can report (training workers add GPU detection). */
export function hostCapabilities(): WorkerCapabilitiesDto {
  return {
    gpu: false,
    gpu_count: 0,
    cpu_count: availableParallelism(),
    memory_gb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
  };
}

/**
 * The worker: one operation at a time in a worker_thread, registration and heartbeats,
 * cancellation, at-least-once completions, checkpoints and graceful shutdown. The HTTP layer
 * (WorkerRuntimeModule) is a thin shell over this class.
 */
export class WorkerRuntime {
  readonly client: BackendClient;
  readonly store: CheckpointStore;
  readonly outbox: CompletionOutbox;
  readonly registration: RegistrationManager;
  readonly metrics: WorkerMetrics;
  readonly clock: Clock;
  readonly logger: RuntimeLogger;
  private current: RunningJob | null = null;
  private accepting = true;
  private readonly recent = new Map<string, FinishedRecord>();
  private capabilitiesCache: Promise<WorkerCapabilitiesDto> | null = null;
  private cleanupStop = new AbortController();
  private shutdownPromise: Promise<void> | null = null;
  private started = false;
  private readonly verifier: SignatureVerifier | null;
  /** Completions the backend refused inside a registration: sent only through /complete. */
  private readonly notInRegistration = new Set<string>();
  /** Every job end (tests observe it). */
  readonly jobEnds: JobEnd[] = [];

  readonly config: RuntimeConfig;

  constructor(
    readonly engine: WorkerEngine,
    config: RuntimeConfig,
    private readonly deps: WorkerRuntimeDeps = {},
  ) {
    this.config = { ...config, checkpoint: { ...config.checkpoint } };
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? nestLogger(engine.serviceName);
    this.verifier = config.registration_token
      ? new SignatureVerifier(config.registration_token, config.signature_window_ms, () =>
          Date.now(),
        )
      : null;
    this.client = new BackendClient({
      baseUrl: config.backend_url,
      timeoutMs: config.request_timeout_ms,
      registrationToken: config.registration_token,
      fetchImpl: deps.fetchImpl,
    });
    this.store = new CheckpointStore(config.checkpoint.dir, () => this.clock.now());
    this.metrics = new WorkerMetrics(
      engine.workerType,
      config.worker_id,
      deps.defaultMetrics ?? true,
    );
    this.outbox = new CompletionOutbox(this.client, this.clock, this.logger, {
      backoffInitialMs: config.backoff_initial_ms,
      backoffMaxMs: config.backoff_max_ms,
    });
    this.registration = new RegistrationManager(
      this.client,
      this.clock,
      this.logger,
      {
        workerId: config.worker_id,
        heartbeatIntervalMs: config.heartbeat_interval_ms,
        backoffInitialMs: config.backoff_initial_ms,
        backoffMaxMs: config.backoff_max_ms,
        shutdownPollMs: config.shutdown_poll_ms,
        verifyEveryHeartbeats: config.verify_every_heartbeats,
      },
      {
        registrationBody: () => this.registrationBody(),
        heartbeatBody: () => this.heartbeatBody(),
        completionsAcknowledged: (ids) => this.outbox.acknowledge(ids),
        completionsRefused: (ids) => {
          for (const id of ids) this.notInRegistration.add(id);
          this.logger.warn(
            `the backend refused a registration carrying ${ids.length} completion(s); registering without them (they are still delivered through /complete)`,
          );
        },
        stopOperations: (ids) => this.abortMatching(ids, 'stop'),
        cancelOperations: (ids) => this.abortMatching(ids, 'cancellation'),
        registeredChanged: (r) => this.metrics.setRegistered(r),
        registrationAttempt: (ok) => this.metrics.registrationAttempt(ok ? 'success' : 'failure'),
      },
    );
  }

  /**
   * Checks the signature of a call from the backend (dispatch, cancel, shutdown notice). Without a
   * registration token every call is refused: the worker is never open.
   */
  verifyCall(input: VerifyInput): VerifyOutcome {
    if (!this.verifier) {
      return {
        ok: false,
        reason:
          'this worker has no registration token (KTRDR_WORKER_REGISTRATION_TOKEN), so it accepts no calls',
      };
    }
    return this.verifier.verify(input);
  }

  get workerId(): string {
    return this.config.worker_id;
  }

  get registered(): boolean {
    return this.registration.registered;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  get currentOperationId(): string | null {
    return this.current?.operationId ?? null;
  }

  get currentJob(): RunningJob | null {
    return this.current;
  }

  /**
   * The HTTP server listens on `port` (it may differ from the configured one, e.g. port 0 in
   * tests): the advertised endpoint follows unless a public base URL is configured.
   */
  listening(port: number): void {
    this.config.port = port;
    this.config.endpoint_url = advertisedEndpoint(this.config.public_base_url, port);
  }

  /** Starts registration (background) and checkpoint cleanup. Call once the server listens. */
  start(): void {
    if (this.started) return;
    this.started = true;
    // A reusable job thread is started (and its job module loaded) now, not by the first job.
    if (this.engine.reuseThread) prewarmJobThread(this.engine.jobModulePath);
    this.registration.start();
    void this.cleanupLoop();
  }

  capabilities(): Promise<WorkerCapabilitiesDto> {
    this.capabilitiesCache ??= this.engine.capabilities().catch((err: unknown) => {
      this.logger.warn(`capability detection failed: ${errorText(err)}`);
      return hostCapabilities();
    });
    return this.capabilitiesCache;
  }

  async registrationBody(): Promise<RegisterWorkerRequestDto> {
    const body: RegisterWorkerRequestDto = {
      worker_id: this.config.worker_id,
      worker_type: this.engine.workerType,
      endpoint_url: this.config.endpoint_url,
      capabilities: await this.capabilities(),
      metadata: {
        service: this.engine.serviceName,
        version: this.deps.version ?? RUNTIME_VERSION,
        pid: process.pid,
        // The deployed commit (deploy/ktrdr-worker-start.sh): rolling deploys wait for it.
        ...(this.config.release ? { release: this.config.release } : {}),
      },
      current_operation_id: this.currentOperationId,
    };
    const completed = this.outbox
      .list()
      .filter((c) => !this.notInRegistration.has(c.operation_id))
      .slice(0, 100);
    if (completed.length > 0) body.completed_operations = completed;
    return body;
  }

  heartbeatBody(): HeartbeatRequestDto {
    const job = this.current;
    const body: HeartbeatRequestDto = {
      // Busy until the backend has the last completion too: a heartbeat sent between the end of a
      // job and the backend storing its completion would otherwise make the backend dispatch the
      // next operation while it still records the last one as running (two at once, on its books).
      status: job || this.outbox.size > 0 ? WorkerStatus.BUSY : WorkerStatus.AVAILABLE,
      current_operation_id: job?.operationId ?? null,
    };
    if (job?.latestProgress) body.progress = { ...job.latestProgress };
    if (job?.latestCheckpoint) body.checkpoint = { ...job.latestCheckpoint };
    return body;
  }

  health(): WorkerHealthResponseDto {
    return {
      healthy: true,
      service: this.engine.serviceName,
      worker_id: this.config.worker_id,
      worker_status: this.current ? WorkerActivity.BUSY : WorkerActivity.IDLE,
      current_operation: this.currentOperationId,
      registered: this.registered,
    };
  }

  /**
   * Takes the busy slot synchronously (no await before it), then runs the job in the
   * background. Throws WorkerBusyError / WorkerShuttingDownError.
   */
  startOperation(request: DispatchedRequest): WorkerStartResponseDto {
    // The start request's trace context (W3C traceparent from the backend's dispatch) is active
    // here: the accept span and the job's spans join the operation attempt's trace.
    return withSpan(
      SPAN.WORKER_ACCEPT,
      {
        attributes: {
          [ATTR.OPERATION_ID]: request.operation_id,
          [ATTR.ATTEMPT]: request.attempt,
          [ATTR.OPERATION_TYPE]: this.engine.operationType,
          [ATTR.WORKER_ID]: this.config.worker_id,
          [ATTR.WORKER_TYPE]: this.engine.workerType,
        },
      },
      () => this.accept(request),
    );
  }

  private accept(request: DispatchedRequest): WorkerStartResponseDto {
    if (!this.accepting) throw new WorkerShuttingDownError();
    const running = this.current;
    if (running) {
      // A repeated dispatch (same operation and lease, e.g. the answer to the first was lost)
      // is acknowledged again instead of refused.
      if (
        running.operationId === request.operation_id &&
        running.leaseToken === request.lease_token
      ) {
        return { success: true, operation_id: running.operationId, status: 'started' };
      }
      throw new WorkerBusyError(running.operationId);
    }
    const job = new RunningJob(
      this.engine,
      request,
      this.client,
      this.store,
      this.clock,
      this.logger,
      {
        progressIntervalMs: this.config.progress_interval_ms,
        checkpoint: {
          every_units: this.config.checkpoint.every_units,
          every_ms: this.config.checkpoint.every_ms,
        },
      },
      context.active(),
    );
    this.current = job;
    this.recent.delete(job.operationId);
    this.metrics.setBusy(true);
    this.logger.log(
      `operation ${job.operationId} started (attempt ${request.attempt}${request.resume_from ? `, resuming from ${request.resume_from.type} checkpoint at ${request.resume_from.unit}` : ''})`,
    );
    job.run();
    void job.finished.then((end) => this.onJobEnd(job, end));
    return { success: true, operation_id: job.operationId, status: 'started' };
  }

  private onJobEnd(job: RunningJob, end: JobEnd): void {
    if (this.current === job) this.current = null;
    this.metrics.setBusy(false);
    this.metrics.operationFinished(end.status, end.durationSeconds);
    this.remember({
      operation_id: job.operationId,
      status: end.status,
      checkpoint: end.checkpoint,
    });
    this.jobEnds.push(end);
    const detail = end.completion?.error_message ? `: ${end.completion.error_message}` : '';
    this.logger.log(
      `operation ${job.operationId} ${end.status} after ${end.durationSeconds.toFixed(1)} s${detail}`,
    );
    if (end.completion) {
      const c = end.completion;
      // Free text from the engine is made storable (no NUL, no unpaired surrogate) before it is sent.
      if (typeof c.error_message === 'string') {
        c.error_message = withoutServerPaths(toStorableText(c.error_message));
      }
      void this.outbox.add(c, end.trace);
    }
  }

  private remember(rec: FinishedRecord): void {
    this.recent.delete(rec.operation_id);
    this.recent.set(rec.operation_id, rec);
    while (this.recent.size > RECENT_LIMIT) {
      const oldest = this.recent.keys().next().value as string;
      this.recent.delete(oldest);
    }
  }

  /** GET /api/v1/operations/{id}: the running one or one of the last 100. */
  operationStatus(operationId: string): WorkerOperationStatusDto | null {
    const job = this.current;
    if (job && job.operationId === operationId) {
      return {
        operation_id: operationId,
        status: job.aborting ? 'cancelling' : 'running',
        checkpoint: job.latestCheckpoint,
      };
    }
    const rec = this.recent.get(operationId);
    if (!rec) return null;
    return { operation_id: operationId, status: rec.status, checkpoint: rec.checkpoint };
  }

  /**
   * DELETE /api/v1/operations/{id}/cancel and heartbeat cancel ids. Returns false when the
   * operation is not running here.
   */
  cancel(operationId: string, reason: AbortReason = 'cancellation'): boolean {
    const job = this.current;
    if (!job || job.operationId !== operationId) return false;
    if (!job.aborting) this.logger.log(`aborting ${operationId} (${reason})`);
    job.abort(reason);
    return true;
  }

  private abortMatching(ids: readonly string[], reason: AbortReason): void {
    for (const id of ids) this.cancel(id, reason);
  }

  /** POST /backend-shutdown. */
  backendShutdown(): void {
    this.logger.warn(
      'the backend announced its shutdown; re-registering every 2 s until it is back',
    );
    this.registration.backendShutdown();
  }

  /**
   * SIGTERM: stop accepting, abort the running operation with a shutdown checkpoint, report
   * it, stop registering. Bounded by `shutdown_grace_ms` (minus a margin for closing).
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<void> {
    this.accepting = false;
    const grace = this.config.shutdown_grace_ms;
    const deadline = this.clock.now() + Math.max(500, grace - Math.min(2_000, grace * 0.1));
    const job = this.current;
    if (job) {
      this.logger.log(`shutting down: aborting ${job.operationId} with a shutdown checkpoint`);
      job.abort('shutdown');
      const left = deadline - this.clock.now();
      const giveUp = new AbortController();
      const ended = await Promise.race([
        job.finished.then(() => true),
        this.clock.sleep(Math.max(0, left), giveUp.signal).then(() => false),
      ]);
      giveUp.abort();
      if (!ended) {
        this.logger.error(
          `${job.operationId} did not stop within the grace period; terminating its thread`,
        );
        await job.terminate();
        const wait = new AbortController();
        await Promise.race([job.finished, this.clock.sleep(200, wait.signal)]);
        wait.abort();
      }
      // Let onJobEnd queue the completion before flushing.
      await Promise.resolve();
    }
    const left = await this.outbox.flush(Math.max(0, deadline - this.clock.now()));
    if (left > 0) {
      this.logger.error(
        `${left} completion(s) not acknowledged by the backend before exit (the backend's orphan detection will handle them)`,
      );
    }
    this.cleanupStop.abort();
    this.outbox.stop();
    await this.registration.stop();
    await closeIdleJobThreads();
  }

  /** Stops background loops without aborting anything (tests, module destroy). */
  async close(): Promise<void> {
    this.cleanupStop.abort();
    this.outbox.stop();
    this.current?.abort('shutdown');
    await this.registration.stop();
    if (this.current) {
      const wait = new AbortController();
      await Promise.race([this.current.finished, this.clock.sleep(2_000, wait.signal)]);
      wait.abort();
      await this.current?.terminate();
    }
    await closeIdleJobThreads();
  }

  private async cleanupLoop(): Promise<void> {
    const signal = this.cleanupStop.signal;
    while (!signal.aborted) {
      try {
        const keep = new Set<string>();
        if (this.current) keep.add(this.current.operationId);
        const removed = await this.store.cleanup(this.config.checkpoint.max_age_ms, keep);
        if (removed.length > 0) {
          this.logger.log(`removed ${removed.length} checkpoint(s) older than the max age`);
        }
      } catch (err) {
        this.logger.warn(`checkpoint cleanup failed: ${errorText(err)}`);
      }
      await this.clock.sleep(this.config.checkpoint_cleanup_interval_ms, signal);
    }
  }
}

export type { CompletedOperationDto };
