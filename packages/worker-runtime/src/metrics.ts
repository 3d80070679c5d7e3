import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one worker, in its own Registry (never the global one). */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly operationsTotal: Counter<'worker_type' | 'status'>;
  readonly operationDuration: Histogram<'worker_type' | 'status'>;
  readonly busy: Gauge<'worker_type'>;
  readonly registered: Gauge<'worker_type'>;
  readonly registrationAttempts: Counter<'worker_type' | 'outcome'>;

  constructor(
    private readonly workerType: string,
    workerId: string,
    withDefaults = true,
  ) {
    this.registry.setDefaultLabels({ worker_id: workerId });
    this.operationsTotal = new Counter({
      name: 'ktrdr_worker_operations_total',
      help: 'Operations run by this worker, by final status',
      labelNames: ['worker_type', 'status'],
      registers: [this.registry],
    });
    this.operationDuration = new Histogram({
      name: 'ktrdr_worker_operation_duration_seconds',
      help: 'Wall time of operations run by this worker, by final status',
      labelNames: ['worker_type', 'status'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
      registers: [this.registry],
    });
    this.busy = new Gauge({
      name: 'ktrdr_worker_busy',
      help: '1 while the worker runs an operation',
      labelNames: ['worker_type'],
      registers: [this.registry],
    });
    this.registered = new Gauge({
      name: 'ktrdr_worker_registered',
      help: '1 while the backend has accepted this worker registration',
      labelNames: ['worker_type'],
      registers: [this.registry],
    });
    this.registrationAttempts = new Counter({
      name: 'ktrdr_worker_registration_attempts_total',
      help: 'Registration attempts, by outcome',
      labelNames: ['worker_type', 'outcome'],
      registers: [this.registry],
    });
    this.busy.set({ worker_type: workerType }, 0);
    this.registered.set({ worker_type: workerType }, 0);
    if (withDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'ktrdr_worker_' });
  }

  setBusy(busy: boolean): void {
    this.busy.set({ worker_type: this.workerType }, busy ? 1 : 0);
  }

  setRegistered(registered: boolean): void {
    this.registered.set({ worker_type: this.workerType }, registered ? 1 : 0);
  }

  registrationAttempt(outcome: 'success' | 'failure'): void {
    this.registrationAttempts.inc({ worker_type: this.workerType, outcome });
  }

  operationFinished(status: string, seconds: number): void {
    this.operationsTotal.inc({ worker_type: this.workerType, status });
    this.operationDuration.observe({ worker_type: this.workerType, status }, seconds);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
