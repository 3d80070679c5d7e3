import {
  ACTIVE_OPERATION_STATUSES,
  OperationStatus,
  OperationType,
  TERMINAL_OPERATION_STATUSES,
} from '@ktrdr/contracts';
import type {
  NewOperation,
  OperationFilter,
  OperationPage,
  OperationPatch,
  OperationRecord,
  OperationsRepository,
  QueueClaim,
  SweepRecord,
  UpdateExpectation,
} from '../../src/persistence/operations.repository';
import {
  DuplicateOperationError,
  validateOperationInput,
} from '../../src/persistence/sql-operations.repository';

const DATE_FIELDS = [
  'created_at',
  'started_at',
  'completed_at',
  'updated_at',
  'queued_at',
] as const;

/**
 * A deep copy made of this realm's objects (structuredClone would hand Jest's sandbox Dates and
 * objects of Node's own realm): Dates rebuilt, everything else through JSON as a store would.
 */
function clone<T>(r: T): T {
  if (r === null || typeof r !== 'object') return r;
  const copy = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
  const src = r as Record<string, unknown>;
  for (const k of DATE_FIELDS) {
    const v = src[k];
    if (v instanceof Date || Object.prototype.toString.call(v) === '[object Date]') {
      copy[k] = new Date((v as Date).getTime());
    }
  }
  return copy as T;
}

const byId = (a: OperationRecord, b: OperationRecord): number =>
  a.operation_id < b.operation_id ? -1 : a.operation_id > b.operation_id ? 1 : 0;

/** Dispatch order: priority desc, queued_at asc, operation_id asc (as the SQL store). */
export const queueOrder = (a: OperationRecord, b: OperationRecord): number =>
  b.priority - a.priority || a.queued_at.getTime() - b.queued_at.getTime() || byId(a, b);

/**
 * An in-memory OperationsRepository for the backend's service tests (a PGlite start costs seconds).
 * It runs through the same contract suite as the SQL drivers (in-memory.spec.ts), so it keeps their
 * semantics: compare-and-set updates, `undefined` patch fields left alone, the queue order, the
 * duplicate error, and the purge rule.
 */
export class InMemoryOperationsRepository implements OperationsRepository {
  private readonly rows = new Map<string, OperationRecord>();
  private readonly sweeps = new Map<string, SweepRecord>();
  private closed = false;
  /** Set to make ping() fail (readiness tests). */
  failPing: Error | null = null;

  constructor(private readonly now: () => Date = () => new Date()) {}

  async init(): Promise<void> {
    this.closed = false;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('store is closed');
    if (this.failPing) throw this.failPing;
  }

  /** Empties the store (the contract suite's per-test reset). */
  clear(): void {
    this.rows.clear();
    this.sweeps.clear();
  }

  private insert(op: NewOperation): OperationRecord {
    validateOperationInput.create(op);
    if (this.rows.has(op.operation_id)) throw new DuplicateOperationError(op.operation_id);
    const now = this.now();
    const created = op.created_at ?? now;
    const record: OperationRecord = {
      operation_id: op.operation_id,
      operation_type: op.operation_type,
      status: op.status ?? OperationStatus.PENDING,
      worker_id: null,
      attempt: 0,
      lease_token: null,
      created_at: created,
      started_at: null,
      completed_at: null,
      updated_at: now,
      progress: clone(op.progress ?? { percentage: 0 }),
      params: clone(op.params ?? {}),
      result: null,
      error_message: null,
      checkpoint: null,
      priority: op.priority ?? 0,
      queued_at: op.queued_at ?? created,
      sweep_id: op.sweep_id ?? null,
      resume_from: null,
      attempt_base: 0,
      attempts: [],
    };
    this.rows.set(record.operation_id, record);
    return clone(record);
  }

  private pendingCount(): number {
    let n = 0;
    for (const r of this.rows.values()) if (r.status === OperationStatus.PENDING) n += 1;
    return n;
  }

  async create(op: NewOperation): Promise<OperationRecord> {
    return this.insert(op);
  }

  async enqueue(op: NewOperation, maxPending: number): Promise<OperationRecord | null> {
    if (this.pendingCount() >= maxPending) return null;
    return this.insert({ ...op, status: OperationStatus.PENDING });
  }

  async createSweep(
    sweep: SweepRecord,
    children: NewOperation[],
    maxPending: number,
  ): Promise<OperationRecord[] | null> {
    if (this.pendingCount() + children.length > maxPending) return null;
    if (this.sweeps.has(sweep.sweep_id)) throw new DuplicateOperationError(sweep.sweep_id);
    for (const c of children) {
      if (this.rows.has(c.operation_id)) throw new DuplicateOperationError(c.operation_id);
    }
    this.sweeps.set(sweep.sweep_id, clone(sweep));
    return children.map((c) =>
      this.insert({ ...c, status: OperationStatus.PENDING, sweep_id: sweep.sweep_id }),
    );
  }

  async getSweep(sweepId: string): Promise<SweepRecord | null> {
    const s = this.sweeps.get(sweepId);
    return s ? clone(s) : null;
  }

  async findBySweep(sweepId: string): Promise<OperationRecord[]> {
    return [...this.rows.values()]
      .filter((r) => r.sweep_id === sweepId)
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || byId(a, b))
      .map(clone);
  }

  async claimNext(type: OperationType, claim: QueueClaim): Promise<OperationRecord | null> {
    const head = [...this.rows.values()]
      .filter((r) => r.status === OperationStatus.PENDING && r.operation_type === type)
      .sort(queueOrder)[0];
    if (!head) return null;
    head.status = OperationStatus.DISPATCHED;
    head.worker_id = claim.worker_id;
    head.lease_token = claim.lease_token;
    head.attempt += 1;
    head.attempts = [
      ...head.attempts,
      {
        attempt: head.attempt,
        worker_id: claim.worker_id,
        dispatched_at: claim.at.toISOString(),
        started_at: null,
        ended_at: null,
        outcome: null,
        reason: null,
        resumed_from: head.resume_from ? clone(head.resume_from) : null,
      },
    ];
    head.started_at ??= claim.at;
    head.completed_at = null;
    head.error_message = null;
    head.updated_at = claim.at;
    return clone(head);
  }

  async queuePositions(operationIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const wanted = new Set(operationIds);
    const counters = new Map<OperationType, number>();
    for (const r of [...this.rows.values()]
      .filter((x) => x.status === OperationStatus.PENDING)
      .sort(queueOrder)) {
      const n = (counters.get(r.operation_type) ?? 0) + 1;
      counters.set(r.operation_type, n);
      if (wanted.has(r.operation_id)) out.set(r.operation_id, n);
    }
    return out;
  }

  async pendingCounts(): Promise<Record<OperationType, number>> {
    const out = { [OperationType.BACKTESTING]: 0, [OperationType.TRAINING]: 0 };
    for (const r of this.rows.values()) {
      if (r.status === OperationStatus.PENDING) out[r.operation_type] += 1;
    }
    return out;
  }

  async get(operationId: string): Promise<OperationRecord | null> {
    const r = this.rows.get(operationId);
    return r ? clone(r) : null;
  }

  async list(filter: OperationFilter): Promise<OperationPage> {
    validateOperationInput.list(filter);
    const offset = filter.offset ?? 0;
    const all = [...this.rows.values()];
    const newest = (a: OperationRecord, b: OperationRecord): number =>
      b.created_at.getTime() - a.created_at.getTime() || byId(b, a);
    const matching = all
      .filter((r) => !filter.status || filter.status.includes(r.status))
      .filter((r) => !filter.operation_type || r.operation_type === filter.operation_type)
      .filter((r) => !filter.worker_id || r.worker_id === filter.worker_id)
      .filter((r) => !filter.sweep_id || r.sweep_id === filter.sweep_id)
      .sort(filter.order === 'queue' ? queueOrder : newest);
    return {
      data: matching.slice(offset, offset + filter.limit).map(clone),
      total_count: matching.length,
      active_count: all.filter((r) => ACTIVE_OPERATION_STATUSES.includes(r.status)).length,
    };
  }

  async update(
    operationId: string,
    patch: OperationPatch,
    expect?: UpdateExpectation,
  ): Promise<OperationRecord | null> {
    validateOperationInput.patch(operationId, patch);
    const r = this.rows.get(operationId);
    if (!r) return null;
    if (expect?.status && !expect.status.includes(r.status)) return null;
    if (expect?.lease_token !== undefined && expect.lease_token !== r.lease_token) return null;
    const defined = Object.fromEntries(
      Object.entries(patch).filter(([, v]) => v !== undefined),
    ) as OperationPatch;
    const next: OperationRecord = { ...r, ...clone(defined), updated_at: this.now() };
    this.rows.set(operationId, next);
    return clone(next);
  }

  async findByStatus(statuses: readonly OperationStatus[]): Promise<OperationRecord[]> {
    return [...this.rows.values()]
      .filter((r) => statuses.includes(r.status))
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || byId(a, b))
      .map(clone);
  }

  async purgeFinishedBefore(cutoff: Date): Promise<number> {
    let n = 0;
    for (const [id, r] of this.rows) {
      const at = (r.completed_at ?? r.updated_at).getTime();
      if (TERMINAL_OPERATION_STATUSES.includes(r.status) && at < cutoff.getTime()) {
        this.rows.delete(id);
        n += 1;
      }
    }
    return n;
  }
}
