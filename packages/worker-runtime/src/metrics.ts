import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * prom-client names these default gauges with a `_total` suffix, which Prometheus reserves for
 * counters (`promtool check metrics` rejects them). They are dropped; the per-type gauges
 * (`nodejs_active_handles{type}`, `nodejs_active_requests{type}`, `nodejs_active_resources{type}`)
 * carry the same information. The backend drops the same three.
 */
export const NON_CONFORMING_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** Why a worker refused a start request (`ktrdr_worker_start_rejections_total{reason}`). */
export type StartRejectionReason = 'busy' | 'shutting_down' | 'invalid_request';

/**
 * Prometheus metrics of one worker, in its own Registry (never the global one). Every series,
 * including the standard `process_*` and `nodejs_*` metrics (under their usual names), carries
 * the labels `worker_id` and `worker_type`; the scrape target (job, instance) tells the service.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly operationsTotal: Counter<'status'>;
  readonly operationDuration: Histogram<'status'>;
  readonly busy: Gauge;
  readonly registered: Gauge;
  readonly registrationAttempts: Counter<'outcome'>;
  readonly startRejections: Counter<'reason'>;

  constructor(workerType: string, workerId: string, withDefaults = true) {
    this.registry.setDefaultLabels({ worker_id: workerId, worker_type: workerType });
    const registers = [this.registry];
    this.operationsTotal = new Counter({
      name: 'ktrdr_worker_operations_total',
      help: 'Operations run by this worker, by final status',
      labelNames: ['status'],
      registers,
    });
    this.operationDuration = new Histogram({
      name: 'ktrdr_worker_operation_duration_seconds',
      help: 'Wall time of operations run by this worker, by final status',
      labelNames: ['status'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
      registers,
    });
    this.busy = new Gauge({
      name: 'ktrdr_worker_busy',
      help: '1 while the worker runs an operation',
      registers,
    });
    this.registered = new Gauge({
      name: 'ktrdr_worker_registered',
      help: '1 while the backend has accepted this worker registration',
      registers,
    });
    this.registrationAttempts = new Counter({
      name: 'ktrdr_worker_registration_attempts_total',
      help: 'Registration attempts, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.startRejections = new Counter({
      name: 'ktrdr_worker_start_rejections_total',
      help: 'Start requests this worker refused, by reason (busy, shutting_down, invalid_request)',
      labelNames: ['reason'],
      registers,
    });
    for (const status of ['completed', 'failed', 'cancelled']) {
      this.operationsTotal.inc({ status }, 0);
    }
    for (const outcome of ['success', 'failure']) this.registrationAttempts.inc({ outcome }, 0);
    for (const reason of ['busy', 'shutting_down', 'invalid_request'] as const) {
      this.startRejections.inc({ reason }, 0);
    }
    this.busy.set(0);
    this.registered.set(0);
    if (withDefaults) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of NON_CONFORMING_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  setBusy(busy: boolean): void {
    this.busy.set(busy ? 1 : 0);
  }

  setRegistered(registered: boolean): void {
    this.registered.set(registered ? 1 : 0);
  }

  registrationAttempt(outcome: 'success' | 'failure'): void {
    this.registrationAttempts.inc({ outcome });
  }

  startRejected(reason: StartRejectionReason): void {
    this.startRejections.inc({ reason });
  }

  operationFinished(status: string, seconds: number): void {
    this.operationsTotal.inc({ status });
    this.operationDuration.observe({ status }, seconds);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
