import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  WorkerActivity,
  WorkerStatus,
  WorkerType,
  type WorkerCapabilitiesDto,
  type WorkerDto,
} from '@ktrdr/contracts';
import { CLOCK, type Clock, isoOrNull } from '../common/clock';
import type { HealthOutcome } from './health-probe';
import { LifecycleEvents, type WorkerEventKind } from '../operations/lifecycle-events';

/** A registered worker as the backend keeps it in memory. Times are epoch milliseconds. */
export interface WorkerEntry {
  worker_id: string;
  worker_type: WorkerType;
  endpoint_url: string;
  status: WorkerStatus;
  current_operation_id: string | null;
  capabilities: WorkerCapabilitiesDto;
  metadata: Record<string, unknown>;
  registered_at: number;
  last_health_check: number | null;
  /** Last sign of life: a good health check, a heartbeat or a registration. */
  last_healthy_at: number;
  health_check_failures: number;
  /** Selection sequence number of the last time this worker was picked (0 = never). */
  last_selected_seq: number;
  /** When the backend marked it busy for a dispatch (the worker may not know yet). */
  reserved_at: number | null;
  /** Drained for a deploy: never selected; cleared by a re-registration or an undrain. */
  draining: boolean;
}

export interface WorkerRegistration {
  worker_id: string;
  worker_type: WorkerType;
  endpoint_url: string;
  capabilities?: WorkerCapabilitiesDto;
  metadata?: Record<string, unknown>;
  /** Keep the worker busy with this operation (it reported it and the backend agrees). */
  current_operation_id: string | null;
}

export interface UpsertResult {
  entry: WorkerEntry;
  /** Ids of other records that had the same endpoint_url and were dropped. */
  replaced: string[];
  created: boolean;
}

export interface WorkerFilter {
  worker_type?: WorkerType;
  status?: WorkerStatus;
}

export type StatusCounts = Record<WorkerStatus, number> & { total: number };

export type { HealthOutcome };

export type HealthTransition = 'recovered' | 'unavailable' | 'failure' | 'ok' | 'gone';

function emptyCounts(): StatusCounts {
  return {
    total: 0,
    [WorkerStatus.AVAILABLE]: 0,
    [WorkerStatus.BUSY]: 0,
    [WorkerStatus.TEMPORARILY_UNAVAILABLE]: 0,
  };
}

/**
 * The in-memory worker registry. Every method is synchronous, so a caller that selects a worker and
 * marks it busy in one call can never race another dispatch (Node runs JavaScript on one thread).
 * Lookups by id and by endpoint are O(1); listing, selection and expiry are O(n).
 */
@Injectable()
export class WorkerRegistry {
  private readonly workers = new Map<string, WorkerEntry>();
  private readonly byEndpoint = new Map<string, string>();
  private selectionSeq = 0;

  constructor(
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() private readonly events?: LifecycleEvents,
  ) {}

  private emit(kind: WorkerEventKind, w: WorkerEntry): void {
    if (this.events && this.events.listenerCount('worker') > 0) {
      this.events.worker(kind, toWorkerDto(w));
    }
  }

  /** Runs `fn` on the entry and emits status_changed when its status or operation changed. */
  private tracked<T>(w: WorkerEntry, fn: () => T): T {
    const status = w.status;
    const op = w.current_operation_id;
    const out = fn();
    if (w.status !== status || w.current_operation_id !== op) this.emit('status_changed', w);
    return out;
  }

  get size(): number {
    return this.workers.size;
  }

  get(workerId: string): WorkerEntry | undefined {
    return this.workers.get(workerId);
  }

  all(): WorkerEntry[] {
    return [...this.workers.values()];
  }

  list(filter: WorkerFilter = {}): WorkerEntry[] {
    const out: WorkerEntry[] = [];
    for (const w of this.workers.values()) {
      if (filter.worker_type && w.worker_type !== filter.worker_type) continue;
      if (filter.status && w.status !== filter.status) continue;
      out.push(w);
    }
    return out;
  }

  /** Idempotent upsert by worker_id; drops any other record with the same endpoint_url. */
  upsert(reg: WorkerRegistration): UpsertResult {
    const now = this.clock.now();
    const replaced: string[] = [];
    const endpoint = normalizeEndpoint(reg.endpoint_url);
    const holder = this.byEndpoint.get(endpoint);
    if (holder !== undefined && holder !== reg.worker_id) {
      this.remove(holder);
      replaced.push(holder);
    }
    const previous = this.workers.get(reg.worker_id);
    if (previous && normalizeEndpoint(previous.endpoint_url) !== endpoint) {
      this.byEndpoint.delete(normalizeEndpoint(previous.endpoint_url));
    }
    const busy = reg.current_operation_id !== null;
    const entry: WorkerEntry = {
      worker_id: reg.worker_id,
      worker_type: reg.worker_type,
      endpoint_url: endpoint,
      status: busy ? WorkerStatus.BUSY : WorkerStatus.AVAILABLE,
      current_operation_id: reg.current_operation_id,
      capabilities: { ...(reg.capabilities ?? {}) },
      metadata: { ...(reg.metadata ?? {}) },
      registered_at: now,
      last_health_check: previous?.last_health_check ?? null,
      last_healthy_at: now,
      health_check_failures: 0,
      last_selected_seq: previous?.last_selected_seq ?? 0,
      reserved_at: null,
      // A (re-)registration is a new start of the worker: it takes operations again.
      draining: false,
    };
    this.workers.set(reg.worker_id, entry);
    this.byEndpoint.set(endpoint, reg.worker_id);
    this.emit('registered', entry);
    return { entry, replaced, created: previous === undefined };
  }

  remove(workerId: string): WorkerEntry | undefined {
    const entry = this.workers.get(workerId);
    if (!entry) return undefined;
    this.workers.delete(workerId);
    const endpoint = normalizeEndpoint(entry.endpoint_url);
    if (this.byEndpoint.get(endpoint) === workerId) this.byEndpoint.delete(endpoint);
    this.emit('removed', entry);
    return entry;
  }

  /**
   * Stops new dispatches to a worker (a rolling deploy drains it before the update); the operation it
   * runs continues. Returns the entry, or undefined when it is not registered. Its next registration
   * clears the flag.
   */
  drain(workerId: string): WorkerEntry | undefined {
    const w = this.workers.get(workerId);
    if (w && !w.draining) {
      w.draining = true;
      this.emit('status_changed', w);
    }
    return w;
  }

  /**
   * Undoes {@link drain}: the worker takes operations again (a rollout stopped before it updated the
   * host). Its status is untouched: available, or busy while it runs an operation. Returns the entry,
   * or undefined when it is not registered. Idempotent: a worker that is not draining is returned as is.
   */
  undrain(workerId: string): WorkerEntry | undefined {
    const w = this.workers.get(workerId);
    if (w && w.draining) {
      w.draining = false;
      // An available worker wakes the dispatcher up: queued operations may go to it now.
      this.emit('status_changed', w);
    }
    return w;
  }

  /**
   * A dispatch could not reach the worker (connection refused, timeout): it is not chosen again until
   * it shows life (a heartbeat, a good health check or a registration).
   */
  markUnreachable(workerId: string, operationId: string | null): boolean {
    const w = this.workers.get(workerId);
    if (!w) return false;
    this.tracked(w, () => {
      if (operationId === null || w.current_operation_id === operationId) {
        w.current_operation_id = null;
        w.reserved_at = null;
      }
      w.status = WorkerStatus.TEMPORARILY_UNAVAILABLE;
    });
    return true;
  }

  /**
   * The worker a dispatch would pick now, without reserving it: an available worker of one of
   * `types`, least-recently-selected first; with `preferGpu`, workers whose capabilities.gpu is true
   * come first. Draining workers are never picked.
   */
  peekAvailable(
    types: readonly WorkerType[],
    options: { exclude?: ReadonlySet<string>; preferGpu?: boolean } = {},
  ): WorkerEntry | null {
    let bestGpu: WorkerEntry | null = null;
    let bestOther: WorkerEntry | null = null;
    for (const w of this.workers.values()) {
      if (w.status !== WorkerStatus.AVAILABLE || w.draining) continue;
      if (!types.includes(w.worker_type)) continue;
      if (options.exclude?.has(w.worker_id)) continue;
      if (options.preferGpu && w.capabilities.gpu === true) {
        if (!bestGpu || w.last_selected_seq < bestGpu.last_selected_seq) bestGpu = w;
      } else if (!bestOther || w.last_selected_seq < bestOther.last_selected_seq) {
        bestOther = w;
      }
    }
    return bestGpu ?? bestOther;
  }

  /** Marks an available worker busy with `operationId` (false when it is no longer available). */
  reserve(workerId: string, operationId: string): boolean {
    const w = this.workers.get(workerId);
    if (!w || w.status !== WorkerStatus.AVAILABLE || w.draining) return false;
    this.tracked(w, () => {
      w.status = WorkerStatus.BUSY;
      w.current_operation_id = operationId;
      w.reserved_at = this.clock.now();
      w.last_selected_seq = ++this.selectionSeq;
    });
    return true;
  }

  /** Picks (peekAvailable) and reserves a worker in one synchronous call. */
  selectAndMarkBusy(
    types: readonly WorkerType[],
    operationId: string,
    options: { exclude?: ReadonlySet<string>; preferGpu?: boolean } = {},
  ): WorkerEntry | null {
    const chosen = this.peekAvailable(types, options);
    if (!chosen || !this.reserve(chosen.worker_id, operationId)) return null;
    return chosen;
  }

  /** An available worker said it is busy (e.g. answered 503 to a start): busy until it says otherwise. */
  markBusy(workerId: string): void {
    const w = this.workers.get(workerId);
    if (w && w.status === WorkerStatus.AVAILABLE)
      this.tracked(w, () => (w.status = WorkerStatus.BUSY));
  }

  /** Frees the worker when it is still marked busy with `operationId`. */
  release(workerId: string | null, operationId: string): boolean {
    if (!workerId) return false;
    const w = this.workers.get(workerId);
    if (!w || w.current_operation_id !== operationId) return false;
    this.tracked(w, () => {
      w.current_operation_id = null;
      w.reserved_at = null;
      if (w.status === WorkerStatus.BUSY) w.status = WorkerStatus.AVAILABLE;
    });
    return true;
  }

  /**
   * Applies a heartbeat: a sign of life, and the worker's own view of what it runs. A worker that
   * says it is idle stays busy for `reservationGraceMs` after a dispatch reserved it (the start request
   * may still be in flight).
   */
  applyHeartbeat(
    workerId: string,
    report: { status: WorkerStatus; current_operation_id: string | null },
    reservationGraceMs: number,
  ): WorkerEntry | undefined {
    const w = this.workers.get(workerId);
    if (!w) return undefined;
    return this.tracked(w, () => this.heartbeatOf(w, report, reservationGraceMs));
  }

  private heartbeatOf(
    w: WorkerEntry,
    report: { status: WorkerStatus; current_operation_id: string | null },
    reservationGraceMs: number,
  ): WorkerEntry {
    const now = this.clock.now();
    w.last_healthy_at = now;
    w.health_check_failures = 0;
    if (report.current_operation_id) {
      w.status = WorkerStatus.BUSY;
      if (w.current_operation_id !== report.current_operation_id) w.reserved_at = null;
      w.current_operation_id = report.current_operation_id;
    } else if (report.status === WorkerStatus.BUSY) {
      w.status = WorkerStatus.BUSY;
    } else {
      const reserved =
        w.current_operation_id !== null &&
        w.reserved_at !== null &&
        now - w.reserved_at < reservationGraceMs;
      if (!reserved) {
        w.status = WorkerStatus.AVAILABLE;
        w.current_operation_id = null;
        w.reserved_at = null;
      }
    }
    return w;
  }

  /** Records one health probe and returns what changed. */
  recordHealth(
    workerId: string,
    endpointUrl: string,
    outcome: HealthOutcome,
    failureThreshold: number,
  ): HealthTransition {
    const w = this.workers.get(workerId);
    // The worker re-registered elsewhere (or was removed) while the probe ran: ignore the result.
    if (!w || w.endpoint_url !== endpointUrl) return 'gone';
    return this.tracked(w, () => this.healthOf(w, outcome, failureThreshold));
  }

  private healthOf(
    w: WorkerEntry,
    outcome: HealthOutcome,
    failureThreshold: number,
  ): HealthTransition {
    const now = this.clock.now();
    w.last_health_check = now;
    if (outcome.ok) {
      w.health_check_failures = 0;
      w.last_healthy_at = now;
      if (w.status === WorkerStatus.TEMPORARILY_UNAVAILABLE) {
        const current = outcome.report.current_operation ?? null;
        if (outcome.report.worker_status === WorkerActivity.BUSY || current) {
          w.status = WorkerStatus.BUSY;
          w.current_operation_id = current ?? w.current_operation_id;
        } else {
          w.status = WorkerStatus.AVAILABLE;
          w.current_operation_id = null;
        }
        w.reserved_at = null;
        return 'recovered';
      }
      return 'ok';
    }
    w.health_check_failures += 1;
    if (
      w.health_check_failures >= failureThreshold &&
      w.status !== WorkerStatus.TEMPORARILY_UNAVAILABLE
    ) {
      w.status = WorkerStatus.TEMPORARILY_UNAVAILABLE;
      return 'unavailable';
    }
    return 'failure';
  }

  /** Removes workers whose last sign of life is older than `thresholdMs`; returns them. */
  removeExpired(thresholdMs: number): WorkerEntry[] {
    const now = this.clock.now();
    const expired: WorkerEntry[] = [];
    for (const w of this.workers.values()) {
      if (now - w.last_healthy_at >= thresholdMs) expired.push(w);
    }
    for (const w of expired) this.remove(w.worker_id);
    return expired;
  }

  countsByType(): { all: StatusCounts; by_type: Record<WorkerType, StatusCounts> } {
    const all = emptyCounts();
    const byType = {
      [WorkerType.BACKTESTING]: emptyCounts(),
      [WorkerType.TRAINING]: emptyCounts(),
      [WorkerType.GPU_HOST]: emptyCounts(),
    };
    for (const w of this.workers.values()) {
      all.total += 1;
      all[w.status] += 1;
      byType[w.worker_type].total += 1;
      byType[w.worker_type][w.status] += 1;
    }
    return { all, by_type: byType };
  }
}

/** Endpoint URLs are compared without a trailing slash. */
export function normalizeEndpoint(url: string): string {
  return url.replace(/\/+$/, '');
}

export function toWorkerDto(w: WorkerEntry): WorkerDto {
  return {
    worker_id: w.worker_id,
    worker_type: w.worker_type,
    endpoint_url: w.endpoint_url,
    status: w.status,
    current_operation_id: w.current_operation_id,
    capabilities: { ...w.capabilities },
    last_health_check: isoOrNull(w.last_health_check),
    last_healthy_at: isoOrNull(w.last_healthy_at),
    health_check_failures: w.health_check_failures,
    registered_at: new Date(w.registered_at).toISOString(),
    draining: w.draining,
    metadata: { ...w.metadata },
  };
}
