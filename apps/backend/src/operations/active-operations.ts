import { ASSIGNED_OPERATION_STATUSES } from '@ktrdr/contracts';
import type { OperationRecord } from '../persistence/operations.repository';

/** Most operations remembered (far above any fleet's concurrent work; the oldest go first). */
export const ACTIVE_OPERATIONS_LIMIT = 10_000;

/**
 * The dispatched and running operations as this process last wrote (or read) them, so that a
 * worker's report is applied with one statement instead of a read and a write. A remembered record
 * is only a hint: a write made from it also expects its `updated_at` (so a change by anybody else
 * since, e.g. another backend on a shared PostgreSQL, makes the write fail and the record is
 * forgotten), and a record is handed out only to a caller holding its lease (any other answer is
 * read from the store).
 *
 * It also knows which operations have a write in flight here, so that a report arriving while the
 * dispatcher is still recording the worker's acceptance waits for that write instead of racing it
 * (a lost race costs a failed compare-and-set and a retry).
 */
export class ActiveOperations {
  private readonly records = new Map<string, OperationRecord>();
  private readonly writes = new Map<string, Promise<unknown>>();

  constructor(private readonly limit = ACTIVE_OPERATIONS_LIMIT) {}

  get size(): number {
    return this.records.size;
  }

  /** The remembered record of `operationId` when it is held under `lease`. */
  get(operationId: string, lease: string): OperationRecord | undefined {
    const op = this.records.get(operationId);
    return op !== undefined && op.lease_token === lease ? op : undefined;
  }

  /** True when `op` is the version remembered here (a write from it can expect its updated_at). */
  isCurrent(op: OperationRecord): boolean {
    const known = this.records.get(op.operation_id);
    return known !== undefined && known.updated_at.getTime() === op.updated_at.getTime();
  }

  /** Remembers an active record (and forgets one that is no longer dispatched or running). */
  remember(op: OperationRecord): void {
    this.records.delete(op.operation_id);
    if (!ASSIGNED_OPERATION_STATUSES.includes(op.status) || op.lease_token === null) return;
    this.records.set(op.operation_id, op);
    if (this.records.size > this.limit) {
      const oldest = this.records.keys().next();
      if (!oldest.done) this.records.delete(oldest.value);
    }
  }

  forget(operationId: string): void {
    this.records.delete(operationId);
  }

  /**
   * Runs a write of `operationId`: while it is in flight, settled() waits for it; its row (or its
   * failure: null or an error) updates what is remembered.
   */
  track(
    operationId: string,
    write: Promise<OperationRecord | null>,
  ): Promise<OperationRecord | null> {
    const done = write.then(
      (row) => {
        if (row) this.remember(row);
        else this.forget(operationId);
        return row;
      },
      (err: unknown) => {
        this.forget(operationId);
        throw err;
      },
    );
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.writes.set(operationId, settled);
    void settled.then(() => {
      if (this.writes.get(operationId) === settled) this.writes.delete(operationId);
    });
    return done;
  }

  /** Resolves once no write of `operationId` started here is in flight. */
  async settled(operationId: string): Promise<void> {
    for (let w = this.writes.get(operationId); w !== undefined; w = this.writes.get(operationId)) {
      await w;
      if (this.writes.get(operationId) === w) return;
    }
  }
}
