import {
  OperationStatus,
  TERMINAL_OPERATION_STATUSES,
  ACTIVE_OPERATION_STATUSES,
} from '@ktrdr/contracts';
import type {
  NewOperation,
  OperationFilter,
  OperationPage,
  OperationPatch,
  OperationRecord,
  OperationsRepository,
  UpdateExpectation,
} from '../../persistence/operations.repository';

function clone(r: OperationRecord): OperationRecord {
  return structuredClone(r);
}

/**
 * A small in-memory OperationsRepository for unit tests and for generating the OpenAPI document
 * without a database. It follows the interface's semantics (compare-and-set updates, ordering).
 */
export class InMemoryOperationsRepository implements OperationsRepository {
  private readonly rows = new Map<string, OperationRecord>();
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

  async create(op: NewOperation): Promise<OperationRecord> {
    if (this.rows.has(op.operation_id)) {
      throw new Error(`operation ${op.operation_id} already exists`);
    }
    const created = op.created_at ?? this.now();
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
      updated_at: created,
      progress: op.progress ?? { percentage: 0 },
      params: op.params,
      result: null,
      error_message: null,
      checkpoint: null,
    };
    this.rows.set(record.operation_id, clone(record));
    return clone(record);
  }

  async get(operationId: string): Promise<OperationRecord | null> {
    const r = this.rows.get(operationId);
    return r ? clone(r) : null;
  }

  async list(filter: OperationFilter): Promise<OperationPage> {
    const all = [...this.rows.values()];
    const matching = all
      .filter((r) => !filter.status || filter.status.includes(r.status))
      .filter((r) => !filter.operation_type || r.operation_type === filter.operation_type)
      .filter((r) => !filter.worker_id || r.worker_id === filter.worker_id)
      .sort(
        (a, b) =>
          b.created_at.getTime() - a.created_at.getTime() ||
          (a.operation_id < b.operation_id ? 1 : a.operation_id > b.operation_id ? -1 : 0),
      );
    return {
      data: matching.slice(filter.offset, filter.offset + filter.limit).map(clone),
      total_count: matching.length,
      active_count: all.filter((r) => ACTIVE_OPERATION_STATUSES.includes(r.status)).length,
    };
  }

  async update(
    operationId: string,
    patch: OperationPatch,
    expect?: UpdateExpectation,
  ): Promise<OperationRecord | null> {
    const r = this.rows.get(operationId);
    if (!r) return null;
    if (expect?.status && !expect.status.includes(r.status)) return null;
    if (expect?.lease_token !== undefined && expect.lease_token !== r.lease_token) return null;
    const next: OperationRecord = { ...r, ...structuredClone(patch), updated_at: this.now() };
    this.rows.set(operationId, next);
    return clone(next);
  }

  async findByStatus(statuses: readonly OperationStatus[]): Promise<OperationRecord[]> {
    return [...this.rows.values()]
      .filter((r) => statuses.includes(r.status))
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime())
      .map(clone);
  }

  async purgeFinishedBefore(cutoff: Date): Promise<number> {
    let n = 0;
    for (const [id, r] of this.rows) {
      if (
        TERMINAL_OPERATION_STATUSES.includes(r.status) &&
        r.completed_at !== null &&
        r.completed_at.getTime() < cutoff.getTime()
      ) {
        this.rows.delete(id);
        n += 1;
      }
    }
    return n;
  }
}
