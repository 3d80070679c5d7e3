import { Inject, Injectable } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  OperationStatus,
  OperationType,
  TERMINAL_OPERATION_STATUSES,
  WorkerStatus,
  WorkerType,
} from '@ktrdr/contracts';
import {
  OPERATIONS_REPOSITORY,
  type OperationsRepository,
} from '../persistence/operations.repository';
import { WorkerRegistry } from '../workers/worker-registry';

/** What one try of a dispatch ended with (`ktrdr_dispatch_tries_total{outcome}`). */
export type DispatchTryOutcome = 'accepted' | 'busy' | 'unreachable' | 'rejected' | 'invalid';

/** What the orphan detector did (`ktrdr_orphans_detected_total{action}`). */
export type OrphanAction = 'redispatched' | 'failed';

/** Buckets of operation durations, 1 s up to 4 h. */
export const OPERATION_DURATION_BUCKETS = [
  1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800, 14400,
];

/**
 * The app's Prometheus registry (one per application instance, never the global default registry)
 * with the default process metrics and the KTRDR metrics.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly operationsTotal: Counter<'operation_type' | 'status'>;
  readonly operationDuration: Histogram<'operation_type' | 'status'>;
  readonly dispatchDuration: Histogram<'operation_type' | 'outcome'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly queueWait: Histogram<'operation_type'>;
  readonly rejections: Counter<'operation_type' | 'reason'>;
  readonly requeues: Counter<'operation_type' | 'reason'>;
  /** Outcomes: one per operation that reached a final status. */
  readonly operationsCompleted: Counter<'operation_type' | 'status'>;
  /** One per worker tried by a dispatch (at most MAX_DISPATCH_TRIES per dispatch). */
  readonly dispatchTries: Counter<'operation_type' | 'outcome'>;
  readonly orphansDetected: Counter<'operation_type' | 'action'>;
  /** Failed /health probes, per worker (series removed with the worker). */
  readonly healthCheckFailures: Counter<'worker_id' | 'worker_type'>;
  /** A worker becoming temporarily unavailable or recovering, per worker (flapping alert). */
  readonly healthTransitions: Counter<'worker_id' | 'worker_type' | 'to'>;

  constructor(
    workers: WorkerRegistry,
    @Inject(OPERATIONS_REPOSITORY) repository: OperationsRepository,
  ) {
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges with a `_total` suffix, which Prometheus reserves for counters
    // (`promtool check metrics` rejects them). Drop them; the per-type gauges (nodejs_active_handles,
    // nodejs_active_requests, nodejs_active_resources with a `type` label) stay.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }
    const registers = [this.registry];
    new Gauge({
      name: 'ktrdr_workers_registered',
      help: 'Workers in the registry, by worker type',
      labelNames: ['worker_type'],
      registers,
      collect() {
        const { by_type } = workers.countsByType();
        for (const type of Object.values(WorkerType)) {
          this.set({ worker_type: type }, by_type[type].total);
        }
      },
    });
    new Gauge({
      name: 'ktrdr_workers',
      help: 'Workers in the registry, by worker type and status',
      labelNames: ['worker_type', 'status'],
      registers,
      collect() {
        const { by_type } = workers.countsByType();
        for (const type of Object.values(WorkerType)) {
          for (const status of Object.values(WorkerStatus)) {
            this.set({ worker_type: type, status }, by_type[type][status]);
          }
        }
      },
    });
    new Gauge({
      name: 'ktrdr_workers_available',
      help: 'Workers available for a new operation, by worker type',
      labelNames: ['worker_type'],
      registers,
      collect() {
        const { by_type } = workers.countsByType();
        for (const type of Object.values(WorkerType)) {
          this.set({ worker_type: type }, by_type[type].available);
        }
      },
    });
    new Gauge({
      name: 'ktrdr_workers_draining',
      help: 'Workers drained for a deploy (no new dispatches), by worker type',
      labelNames: ['worker_type'],
      registers,
      collect() {
        const counts = new Map<string, number>();
        for (const w of workers.all()) {
          if (w.draining) counts.set(w.worker_type, (counts.get(w.worker_type) ?? 0) + 1);
        }
        for (const type of Object.values(WorkerType)) {
          this.set({ worker_type: type }, counts.get(type) ?? 0);
        }
      },
    });
    new Gauge({
      name: 'ktrdr_operations_active',
      help: 'Operations pending, dispatched or running',
      registers,
      async collect() {
        try {
          const page = await repository.list({ limit: 1, offset: 0 });
          this.set(page.active_count);
        } catch {
          // Store unreachable: keep the last value; readiness reports the outage.
        }
      },
    });
    new Gauge({
      name: 'ktrdr_operations_queued',
      help: 'Operations pending in the queue, by operation type',
      labelNames: ['operation_type'],
      registers,
      async collect() {
        try {
          const counts = await repository.pendingCounts();
          for (const t of Object.values(OperationType)) this.set({ operation_type: t }, counts[t]);
        } catch {
          // Store unreachable: keep the last value; readiness reports the outage.
        }
      },
    });
    this.queueWait = new Histogram({
      name: 'ktrdr_queue_wait_seconds',
      help: 'Time an operation spent pending in the queue before a worker was claimed for it',
      labelNames: ['operation_type'],
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 14400],
      registers,
    });
    this.rejections = new Counter({
      name: 'ktrdr_operations_rejected_total',
      help: 'Start requests refused, by reason (queue_full, invalid)',
      labelNames: ['operation_type', 'reason'],
      registers,
    });
    this.requeues = new Counter({
      name: 'ktrdr_operations_requeued_total',
      help: 'Operations put back in the queue, by reason (dispatch_failed, worker_lost, worker_shutdown, resumed)',
      labelNames: ['operation_type', 'reason'],
      registers,
    });
    for (const t of Object.values(OperationType)) {
      this.rejections.inc({ operation_type: t, reason: 'queue_full' }, 0);
      for (const r of ['dispatch_failed', 'worker_lost', 'worker_shutdown', 'resumed']) {
        this.requeues.inc({ operation_type: t, reason: r }, 0);
      }
    }
    this.operationsTotal = new Counter({
      name: 'ktrdr_operations_total',
      help: 'Transitions into each status (pending on creation and on every re-queue, dispatched, running, then a final status)',
      labelNames: ['operation_type', 'status'],
      registers,
    });
    for (const t of Object.values(OperationType)) {
      for (const s of Object.values(OperationStatus)) {
        this.operationsTotal.inc({ operation_type: t, status: s }, 0);
      }
    }
    this.operationDuration = new Histogram({
      name: 'ktrdr_operation_duration_seconds',
      help: 'Time from first dispatch (or creation) to the final status of an operation',
      labelNames: ['operation_type', 'status'],
      buckets: OPERATION_DURATION_BUCKETS,
      registers,
    });
    this.dispatchDuration = new Histogram({
      name: 'ktrdr_dispatch_duration_seconds',
      help: 'Time to select a worker and have it accept an operation',
      labelNames: ['operation_type', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.operationsCompleted = new Counter({
      name: 'ktrdr_operations_completed_total',
      help: 'Operations that reached a final status (completed, failed, cancelled): one per operation',
      labelNames: ['operation_type', 'status'],
      registers,
    });
    this.dispatchTries = new Counter({
      name: 'ktrdr_dispatch_tries_total',
      help: 'Start requests sent to workers, by outcome (accepted, busy, unreachable, rejected, invalid)',
      labelNames: ['operation_type', 'outcome'],
      registers,
    });
    this.orphansDetected = new Counter({
      name: 'ktrdr_orphans_detected_total',
      help: 'Running operations no worker claims any more, by what was done (redispatched, failed)',
      labelNames: ['operation_type', 'action'],
      registers,
    });
    this.healthCheckFailures = new Counter({
      name: 'ktrdr_health_check_failures_total',
      help: 'Failed worker /health probes (error, timeout, non-2xx or healthy:false), per worker',
      labelNames: ['worker_id', 'worker_type'],
      registers,
    });
    this.healthTransitions = new Counter({
      name: 'ktrdr_health_transitions_total',
      help: 'Workers becoming temporarily unavailable (to="temporarily_unavailable") or recovering (to="recovered"), per worker',
      labelNames: ['worker_id', 'worker_type', 'to'],
      registers,
    });
    for (const t of Object.values(OperationType)) {
      for (const s of TERMINAL_OPERATION_STATUSES) {
        this.operationsCompleted.inc({ operation_type: t, status: s }, 0);
      }
      for (const o of ['accepted', 'busy', 'unreachable', 'rejected', 'invalid'] as const) {
        this.dispatchTries.inc({ operation_type: t, outcome: o }, 0);
      }
      for (const a of ['redispatched', 'failed'] as const) {
        this.orphansDetected.inc({ operation_type: t, action: a }, 0);
      }
    }
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  /** Records a transition into `status`; final statuses also count the outcome and observe the duration. */
  recordStatus(
    type: OperationType,
    status: OperationStatus,
    startedAt?: Date | null,
    completedAt?: Date | null,
  ): void {
    this.operationsTotal.inc({ operation_type: type, status });
    if (TERMINAL_OPERATION_STATUSES.includes(status)) {
      this.operationsCompleted.inc({ operation_type: type, status });
    }
    if (startedAt && completedAt) {
      const seconds = Math.max(0, (completedAt.getTime() - startedAt.getTime()) / 1000);
      this.operationDuration.observe({ operation_type: type, status }, seconds);
    }
  }

  dispatchTry(type: OperationType, outcome: DispatchTryOutcome): void {
    this.dispatchTries.inc({ operation_type: type, outcome });
  }

  orphanDetected(type: OperationType, action: OrphanAction): void {
    this.orphansDetected.inc({ operation_type: type, action });
  }

  healthCheckFailed(workerId: string, workerType: WorkerType): void {
    this.healthCheckFailures.inc({ worker_id: workerId, worker_type: workerType });
  }

  healthTransition(
    workerId: string,
    workerType: WorkerType,
    to: 'temporarily_unavailable' | 'recovered',
  ): void {
    this.healthTransitions.inc({ worker_id: workerId, worker_type: workerType, to });
  }

  /** Drops the per-worker series of a removed worker (worker ids are not reused). */
  forgetWorker(workerId: string, workerType: WorkerType): void {
    const labels = { worker_id: workerId, worker_type: workerType };
    this.healthCheckFailures.remove(labels);
    for (const to of ['temporarily_unavailable', 'recovered'] as const) {
      this.healthTransitions.remove({ ...labels, to });
    }
  }

  /** Express middleware timing every request; the route label is the matched route template. */
  httpMiddleware(): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
    // One labelled child per (method, route, status): prom-client hashes a label object on every
    // observe otherwise. Routes are templates, so the set is small and bounded.
    const children = new Map<string, { observe(v: number): void }>();
    return (req, res, next) => {
      const started = performance.now();
      res.on('finish', () => {
        // Express sets `req.route` to the matched route; its path is the template (`/api/v1/workers/:id`).
        const template = (req as IncomingMessage & { route?: { path?: unknown } }).route?.path;
        const route = typeof template === 'string' ? template : 'unmatched';
        const method = req.method ?? 'GET';
        const key = `${method} ${res.statusCode} ${route}`;
        let child = children.get(key);
        if (!child) {
          child = this.httpDuration.labels(method, route, String(res.statusCode));
          children.set(key, child);
        }
        child.observe((performance.now() - started) / 1000);
      });
      next();
    };
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
