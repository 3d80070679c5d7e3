import {
  ACTIVE_OPERATION_STATUSES,
  OperationStatus,
  OperationType,
  TERMINAL_OPERATION_STATUSES,
} from '@ktrdr/contracts';
import { toStorableText } from '@ktrdr/contracts';
import { systemClock, type Clock } from '@ktrdr/config';
import type {
  CheckpointInfoDto,
  OperationAttemptDto,
  OperationParams,
  OperationProgressDto,
} from '@ktrdr/contracts';
import { applyMigrations, MIGRATIONS } from './migrations';
import type { Migration, MigrationOutcome } from './migrations';
import type {
  EnqueuedOperation,
  NewOperation,
  QueueClaim,
  SweepRecord,
  OperationFilter,
  OperationPage,
  OperationPatch,
  OperationRecord,
  OperationsRepository,
  UpdateExpectation,
} from './operations.repository';
import { errorText } from '@ktrdr/contracts';
import { isUniqueViolation } from './sql-executor';
import type { PersistenceLogger, SqlExecutor, SqlQueryable, SqlRow } from './sql-executor';

/** Thrown by `create()` when the operation_id is taken. */
export class DuplicateOperationError extends Error {
  constructor(readonly operationId: string) {
    super(`Operation ${operationId} already exists`);
    this.name = 'DuplicateOperationError';
  }
}

/** Thrown when a caller passes an invalid value (names the field). */
export class InvalidOperationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidOperationInputError';
  }
}

export interface SqlOperationsRepositoryOptions {
  /**
   * Time of `created_at` defaults and `updated_at`: the backend's CLOCK (PersistenceModule passes
   * it; a ManualClock in tests). Default systemClock.
   */
  clock?: Clock;
  logger?: PersistenceLogger;
  /** Defaults to MIGRATIONS (tests only override it). */
  migrations?: readonly Migration[];
}

/** `jsonb_array`: a jsonb column holding an array (`jsonb` ones hold objects). */
type ColumnKind = 'text' | 'int' | 'sint' | 'timestamptz' | 'jsonb' | 'jsonb_array';

/** Columns an update may set, with their SQL type (the cast applied to the parameter). */
const PATCHABLE: Readonly<Record<keyof OperationPatch, ColumnKind>> = {
  status: 'text',
  worker_id: 'text',
  attempt: 'int',
  lease_token: 'text',
  started_at: 'timestamptz',
  completed_at: 'timestamptz',
  progress: 'jsonb',
  params: 'jsonb',
  result: 'jsonb',
  error_message: 'text',
  checkpoint: 'jsonb',
  priority: 'sint',
  queued_at: 'timestamptz',
  resume_from: 'jsonb',
  attempt_base: 'int',
  attempts: 'jsonb_array',
};

const SQL_TYPE: Readonly<Record<ColumnKind, string>> = {
  text: 'text',
  int: 'integer',
  sint: 'integer',
  timestamptz: 'timestamptz',
  jsonb: 'jsonb',
  jsonb_array: 'jsonb',
};

const STATUSES = new Set<string>(Object.values(OperationStatus));
const TYPES = new Set<string>(Object.values(OperationType));
const ORDER_NEWEST_FIRST = 'created_at DESC, operation_id DESC';
const ORDER_OLDEST_FIRST = 'created_at ASC, operation_id ASC';
/** Dispatch order of the queue (matches the partial index operations_queue_idx). */
const ORDER_QUEUE = 'priority DESC, queued_at ASC, operation_id ASC';

/**
 * The queue claim: $1 type, $2 worker, $3 lease, $4 = $5 the claim time. One statement: the
 * sub-select picks the head of the queue, the outer UPDATE re-checks it is still pending, so two
 * claimers never get the same row. On PostgreSQL the head is locked FOR UPDATE SKIP LOCKED (a
 * concurrent claim takes the next row instead of waiting); SQLite runs one writer at a time.
 */
const CLAIM_SET = `status = 'dispatched', worker_id = $2::text, lease_token = $3::text,
              attempt = attempt + 1, started_at = COALESCE(started_at, $4::timestamptz),
              completed_at = NULL, error_message = NULL, updated_at = $4::timestamptz`;
const CLAIM_HEAD = `SELECT operation_id FROM operations
                 WHERE status = 'pending' AND operation_type = $1::text
                 ORDER BY ${ORDER_QUEUE}
                 LIMIT 1`;
const CLAIM_POSTGRES = `UPDATE operations
          SET ${CLAIM_SET},
              attempts = attempts || jsonb_build_array(jsonb_build_object(
                'attempt', attempt + 1, 'worker_id', $2::text, 'dispatched_at', $5::text,
                'started_at', NULL::text, 'ended_at', NULL::text, 'outcome', NULL::text,
                'reason', NULL::text, 'resumed_from', resume_from))
        WHERE operation_id = (${CLAIM_HEAD} FOR UPDATE SKIP LOCKED)
          AND status = 'pending'
       RETURNING *`;
const CLAIM_SQLITE = `UPDATE operations
          SET ${CLAIM_SET},
              attempts = json_insert(attempts, '$[#]', json_object(
                'attempt', attempt + 1, 'worker_id', $2, 'dispatched_at', $5,
                'started_at', NULL, 'ended_at', NULL, 'outcome', NULL,
                'reason', NULL, 'resumed_from', json(resume_from)))
        WHERE operation_id = (${CLAIM_HEAD})
          AND status = 'pending'
       RETURNING *`;

/**
 * The operations store, written once in SQL for every driver; a driver only supplies the
 * SqlExecutor (SqliteOperationsRepository, PostgresOperationsRepository).
 * Statements use PostgreSQL's `$n::type` placeholders (the SQLite executor rewrites them); the few
 * constructs the dialects spell differently go through `inList()` and `claimNext()`.
 */
export class SqlOperationsRepository implements OperationsRepository {
  private readonly clock: Clock;
  private readonly logger: PersistenceLogger | undefined;
  private readonly migrations: readonly Migration[];
  private initPromise: Promise<void> | undefined;
  private closed = false;
  private lastMigration: MigrationOutcome | undefined;

  constructor(
    /** The SQL connection (public for tests and maintenance tools; services use the methods). */
    readonly executor: SqlExecutor,
    options: SqlOperationsRepositoryOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.migrations = options.migrations ?? MIGRATIONS;
  }

  private now(): Date {
    return new Date(this.clock.now());
  }

  /** Where the data lives (no password), e.g. `SQLite at /data/db/ktrdr.sqlite`. */
  get description(): string {
    return this.executor.description;
  }

  get dialect(): SqlExecutor['dialect'] {
    return this.executor.dialect;
  }

  /** Result of the last init()'s migration run (undefined before init). */
  get migrationOutcome(): MigrationOutcome | undefined {
    return this.lastMigration;
  }

  /** Idempotent: concurrent and repeated calls share one open + migrate. */
  init(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.description}: repository is closed`));
    this.initPromise ??= this.doInit().catch((err: unknown) => {
      this.initPromise = undefined; // allow a retry after e.g. the database came up
      throw err;
    });
    return this.initPromise;
  }

  private async doInit(): Promise<void> {
    await this.executor.open();
    try {
      const outcome = await applyMigrations(this.executor, this.migrations, this.logger);
      this.lastMigration = outcome;
      this.logger?.log(
        `Operations store: ${this.description}; schema version ${outcome.current}` +
          (outcome.applied.length > 0
            ? ` (applied migrations ${outcome.applied.join(', ')})`
            : ' (up to date)'),
      );
    } catch (err) {
      await this.executor.close().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.initPromise?.catch(() => undefined);
    await this.executor.close();
    this.logger?.log(`Operations store closed: ${this.description}`);
  }

  async ping(): Promise<void> {
    await this.ready();
    await this.executor.ping();
  }

  async create(op: NewOperation): Promise<OperationRecord> {
    await this.ready();
    const row = await this.insert(this.executor, op, null);
    return rowToRecord(row);
  }

  async enqueue(op: NewOperation, maxPending: number): Promise<EnqueuedOperation | null> {
    await this.ready();
    const row = await this.insert(
      this.executor,
      { ...op, status: OperationStatus.PENDING },
      maxPending,
    );
    return row ? { record: rowToRecord(row), queue_position: Number(row.queue_position) } : null;
  }

  async createSweep(
    sweep: SweepRecord,
    children: NewOperation[],
    maxPending: number,
  ): Promise<OperationRecord[] | null> {
    await this.ready();
    requireText('sweep_id', sweep.sweep_id);
    if (!TYPES.has(sweep.operation_type)) {
      throw invalid('operation_type', sweep.operation_type, [...TYPES]);
    }
    return this.executor.transaction(async (tx) => {
      const { rows } = await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM operations WHERE status = 'pending'`,
      );
      if (Number(rows[0]?.n ?? 0) + children.length > maxPending) return null;
      await tx.query(
        `INSERT INTO sweeps (sweep_id, operation_type, created_at, base, grid, total, children)
         VALUES ($1::text, $2::text, $3::timestamptz, $4::jsonb, $5::jsonb, $6::int, $7::jsonb)`,
        [
          sweep.sweep_id,
          sweep.operation_type,
          timestamp('created_at', sweep.created_at),
          json('base', sweep.base),
          json('grid', sweep.grid),
          sweep.total,
          JSON.stringify(sweep.children),
        ],
      );
      const out: OperationRecord[] = [];
      for (const child of children) {
        const row = await this.insert(
          tx,
          { ...child, status: OperationStatus.PENDING, sweep_id: sweep.sweep_id },
          null,
        );
        out.push(rowToRecord(row));
      }
      return out;
    });
  }

  async getSweep(sweepId: string): Promise<SweepRecord | null> {
    await this.ready();
    const { rows } = await this.executor.query('SELECT * FROM sweeps WHERE sweep_id = $1::text', [
      sweepId,
    ]);
    const r = rows[0];
    if (!r) return null;
    return {
      sweep_id: String(r.sweep_id),
      operation_type: r.operation_type as OperationType,
      created_at: toDate(r.created_at) as Date,
      base: fromJson(r.base) as Record<string, unknown>,
      grid: fromJson(r.grid) as Record<string, unknown[]>,
      total: Number(r.total),
      children: (fromJson(r.children) ?? []) as SweepRecord['children'],
    };
  }

  async findBySweep(sweepId: string): Promise<OperationRecord[]> {
    await this.ready();
    const { rows } = await this.executor.query(
      `SELECT * FROM operations WHERE sweep_id = $1::text ORDER BY ${ORDER_OLDEST_FIRST}`,
      [sweepId],
    );
    return rows.map(rowToRecord);
  }

  async claimNext(type: OperationType, claim: QueueClaim): Promise<OperationRecord | null> {
    await this.ready();
    if (!TYPES.has(type)) throw invalid('operation_type', type, [...TYPES]);
    requireText('worker_id', claim.worker_id);
    requireText('lease_token', claim.lease_token);
    const at = timestamp('at', claim.at);
    const { rows } = await this.executor.query(this.sqlite ? CLAIM_SQLITE : CLAIM_POSTGRES, [
      type,
      claim.worker_id,
      claim.lease_token,
      at,
      at,
    ]);
    return rows.length > 0 ? rowToRecord(rows[0]) : null;
  }

  async queuePositions(operationIds: readonly string[]): Promise<Map<string, number>> {
    await this.ready();
    const out = new Map<string, number>();
    if (operationIds.length === 0) return out;
    const { rows } = await this.executor.query<{ operation_id: string; pos: number }>(
      `SELECT operation_id, pos FROM (
         SELECT operation_id,
                row_number() OVER (PARTITION BY operation_type ORDER BY ${ORDER_QUEUE})::int AS pos
           FROM operations WHERE status = 'pending') AS q
        WHERE ${this.inList('operation_id', 1)}`,
      [[...operationIds]],
    );
    for (const r of rows) out.set(String(r.operation_id), Number(r.pos));
    return out;
  }

  async pendingCounts(): Promise<Record<OperationType, number>> {
    await this.ready();
    const { rows } = await this.executor.query<{ operation_type: string; n: number }>(
      `SELECT operation_type, count(*)::int AS n FROM operations
        WHERE status = 'pending' GROUP BY operation_type`,
    );
    const out = { [OperationType.BACKTESTING]: 0, [OperationType.TRAINING]: 0 };
    for (const r of rows) out[r.operation_type as OperationType] = Number(r.n);
    return out;
  }

  /** INSERT … RETURNING; with `maxPending`, only while fewer operations are pending (else null). */
  private async insert(q: SqlQueryable, op: NewOperation, maxPending: null): Promise<SqlRow>;
  private async insert(
    q: SqlQueryable,
    op: NewOperation,
    maxPending: number | null,
  ): Promise<SqlRow | null>;
  private async insert(
    q: SqlQueryable,
    op: NewOperation,
    maxPending: number | null,
  ): Promise<SqlRow | null> {
    requireText('operation_id', op.operation_id);
    if (!TYPES.has(op.operation_type)) {
      throw invalid('operation_type', op.operation_type, [...TYPES]);
    }
    const status = op.status ?? OperationStatus.PENDING;
    if (!STATUSES.has(status)) throw invalid('status', status, [...STATUSES]);
    const priority = op.priority ?? 0;
    if (!Number.isInteger(priority)) {
      throw new InvalidOperationInputError('priority must be an integer');
    }
    const now = this.now();
    const createdAt = op.created_at ?? now;
    const params = [
      op.operation_id,
      op.operation_type,
      status,
      timestamp('created_at', createdAt),
      timestamp('updated_at', now),
      json('progress', op.progress ?? { percentage: 0 }),
      json('params', op.params ?? {}),
      priority,
      timestamp('queued_at', op.queued_at ?? createdAt),
      op.sweep_id ?? null,
    ];
    const columns = `(operation_id, operation_type, status, attempt, created_at, updated_at, progress,
                      params, priority, queued_at, sweep_id)`;
    const values = `$1::text, $2::text, $3::text, 0, $4::timestamptz, $5::timestamptz, $6::jsonb,
                    $7::jsonb, $8::int, $9::timestamptz, $10::text`;
    // With maxPending (enqueue) the statement also returns the row's place in its queue: the pending
    // rows of its type at or ahead of it in dispatch order. PostgreSQL's sub-select does not see
    // the row being inserted (one snapshot per statement), SQLite's does: hence the + 1 there.
    const sql =
      maxPending === null
        ? `INSERT INTO operations ${columns} VALUES (${values}) RETURNING *`
        : `INSERT INTO operations ${columns}
           SELECT ${values}
            WHERE (SELECT count(*) FROM operations WHERE status = 'pending') < $11::int
           RETURNING *, (
             SELECT count(*) FROM operations AS q
              WHERE q.status = 'pending' AND q.operation_type = operations.operation_type
                AND (q.priority > operations.priority
                     OR (q.priority = operations.priority
                         AND (q.queued_at < operations.queued_at
                              OR (q.queued_at = operations.queued_at
                                  AND q.operation_id <= operations.operation_id)))))::int
             ${this.sqlite ? '' : '+ 1'} AS queue_position`;
    if (maxPending !== null) params.push(maxPending);
    try {
      const { rows } = await q.query(sql, params);
      return rows[0] ?? null;
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new DuplicateOperationError(op.operation_id);
      }
      throw err;
    }
  }

  async get(operationId: string): Promise<OperationRecord | null> {
    await this.ready();
    const { rows } = await this.executor.query(
      'SELECT * FROM operations WHERE operation_id = $1::text',
      [operationId],
    );
    return rows.length > 0 ? rowToRecord(rows[0]) : null;
  }

  /**
   * Newest first: created_at descending, ties by operation_id descending. An absent `status`
   * means any status; an empty list matches nothing (as in update() and findByStatus()).
   * `total_count` counts the filtered rows and `active_count` the pending/running ones of the
   * whole table, both in the same statement (one snapshot) as the page.
   */
  async list(filter: OperationFilter): Promise<OperationPage> {
    await this.ready();
    const limit = filter.limit;
    const offset = filter.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new InvalidOperationInputError(
        `limit must be an integer from 1 to 1000 (got ${limit})`,
      );
    }
    if (!Number.isInteger(offset) || offset < 0) {
      throw new InvalidOperationInputError(
        `offset must be an integer of at least 0 (got ${offset})`,
      );
    }
    const params: unknown[] = [];
    const conditions: string[] = [];
    if (filter.status !== undefined) {
      filter.status.forEach((s) => {
        if (!STATUSES.has(s)) throw invalid('status', s, [...STATUSES]);
      });
      params.push([...filter.status]);
      conditions.push(this.inList('status', params.length));
    }
    if (filter.operation_type !== undefined) {
      if (!TYPES.has(filter.operation_type)) {
        throw invalid('operation_type', filter.operation_type, [...TYPES]);
      }
      params.push(filter.operation_type);
      conditions.push(`operation_type = $${params.length}::text`);
    }
    if (filter.worker_id !== undefined) {
      params.push(filter.worker_id);
      conditions.push(`worker_id = $${params.length}::text`);
    }
    if (filter.sweep_id !== undefined) {
      params.push(filter.sweep_id);
      conditions.push(`sweep_id = $${params.length}::text`);
    }
    const order = filter.order === 'queue' ? ORDER_QUEUE : ORDER_NEWEST_FIRST;
    const outerOrder =
      filter.order === 'queue'
        ? 'o.priority DESC, o.queued_at ASC, o.operation_id ASC'
        : 'o.created_at DESC, o.operation_id DESC';
    const where = conditions.length > 0 ? conditions.join(' AND ') : 'TRUE';
    params.push([...ACTIVE_OPERATION_STATUSES]);
    const activeParam = params.length;
    params.push(limit, offset);
    const { rows } = await this.executor.query(
      `SELECT c.total_count, c.active_count, o.*
         FROM (SELECT count(*) FILTER (WHERE ${where})::int AS total_count,
                      count(*) FILTER (WHERE ${this.inList('status', activeParam)})::int AS active_count
                 FROM operations) AS c
         LEFT JOIN (
               SELECT * FROM operations WHERE ${where}
                ORDER BY ${order}
                LIMIT $${activeParam + 1}::int OFFSET $${activeParam + 2}::int) AS o ON TRUE
        ORDER BY ${outerOrder}`,
      params,
    );
    const head = rows[0] ?? {};
    return {
      data: rows
        .filter((r) => r.operation_id !== null && r.operation_id !== undefined)
        .map(rowToRecord),
      total_count: Number(head.total_count ?? 0),
      active_count: Number(head.active_count ?? 0),
    };
  }

  /**
   * Compare-and-set in one statement: the row changes only when it exists, its status is one of
   * `expect.status` (when given; an empty list never matches) and its lease_token equals
   * `expect.lease_token` (when given; null matches a row without lease) and its updated_at equals
   * `expect.updated_at` (when given). Concurrent callers with the same expectation cannot both win. Fields set to `undefined` in the patch are left alone.
   */
  async update(
    operationId: string,
    patch: OperationPatch,
    expect: UpdateExpectation = {},
  ): Promise<OperationRecord | null> {
    await this.ready();
    const params: unknown[] = [operationId];
    const sets: string[] = [];
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      const kind = PATCHABLE[key as keyof OperationPatch];
      if (!kind) {
        throw new InvalidOperationInputError(
          `update of operation ${operationId}: field '${key}' cannot be changed ` +
            `(allowed: ${Object.keys(PATCHABLE).join(', ')})`,
        );
      }
      params.push(encode(key, kind, value));
      sets.push(`${key} = $${params.length}::${SQL_TYPE[kind]}`);
    }
    if (patch.status !== undefined && !STATUSES.has(patch.status)) {
      throw invalid('status', patch.status, [...STATUSES]);
    }
    params.push(timestamp('updated_at', this.now()));
    sets.push(`updated_at = $${params.length}::timestamptz`);

    const conditions = ['operation_id = $1::text'];
    if (expect.status !== undefined) {
      params.push([...expect.status]);
      conditions.push(this.inList('status', params.length));
    }
    if (expect.lease_token !== undefined) {
      params.push(expect.lease_token);
      conditions.push(`lease_token IS NOT DISTINCT FROM $${params.length}::text`);
    }
    if (expect.updated_at !== undefined) {
      params.push(timestamp('expected updated_at', expect.updated_at));
      conditions.push(`updated_at = $${params.length}::timestamptz`);
    }
    const { rows } = await this.executor.query(
      `UPDATE operations SET ${sets.join(', ')} WHERE ${conditions.join(' AND ')} RETURNING *`,
      params,
    );
    return rows.length > 0 ? rowToRecord(rows[0]) : null;
  }

  async findByStatus(statuses: readonly OperationStatus[]): Promise<OperationRecord[]> {
    await this.ready();
    if (statuses.length === 0) return [];
    statuses.forEach((s) => {
      if (!STATUSES.has(s)) throw invalid('status', s, [...STATUSES]);
    });
    const { rows } = await this.executor.query(
      `SELECT * FROM operations WHERE ${this.inList('status', 1)} ORDER BY ${ORDER_OLDEST_FIRST}`,
      [[...statuses]],
    );
    return rows.map(rowToRecord);
  }

  /**
   * Deletes completed/failed/cancelled operations whose completed_at (or updated_at when a finished
   * row has no completed_at) is before `cutoff`. Pending and running operations are never purged.
   */
  async purgeFinishedBefore(cutoff: Date): Promise<number> {
    await this.ready();
    const { rows } = await this.executor.query(
      `DELETE FROM operations
        WHERE ${this.inList('status', 1)} AND COALESCE(completed_at, updated_at) < $2::timestamptz
       RETURNING 1 AS gone`,
      [[...TERMINAL_OPERATION_STATUSES], timestamp('cutoff', cutoff)],
    );
    return rows.length;
  }

  private get sqlite(): boolean {
    return this.executor.dialect === 'sqlite';
  }

  /** `column` is one of the texts in the array parameter `$n`. */
  private inList(column: string, n: number): string {
    return this.sqlite
      ? `${column} IN (SELECT value FROM json_each($${n}))`
      : `${column} = ANY($${n}::text[])`;
  }

  private async ready(): Promise<void> {
    if (this.closed) throw new Error(`${this.description}: repository is closed`);
    await this.init();
  }
}

/** Row (from either driver) → record with Date objects and parsed JSON. */
export function rowToRecord(row: SqlRow | undefined): OperationRecord {
  if (!row) throw new Error('Expected a row from the operations table');
  return {
    operation_id: String(row.operation_id),
    operation_type: row.operation_type as OperationType,
    status: row.status as OperationStatus,
    worker_id: nullableText(row.worker_id),
    attempt: Number(row.attempt),
    lease_token: nullableText(row.lease_token),
    created_at: toDate(row.created_at) as Date,
    started_at: toDate(row.started_at),
    completed_at: toDate(row.completed_at),
    updated_at: toDate(row.updated_at) as Date,
    progress: (fromJson(row.progress) ?? { percentage: 0 }) as OperationProgressDto,
    params: (fromJson(row.params) ?? {}) as OperationParams,
    result: fromJson(row.result) as Record<string, unknown> | null,
    error_message: nullableText(row.error_message),
    checkpoint: fromJson(row.checkpoint) as CheckpointInfoDto | null,
    priority: Number(row.priority ?? 0),
    queued_at: (toDate(row.queued_at) ?? toDate(row.created_at)) as Date,
    sweep_id: nullableText(row.sweep_id),
    resume_from: fromJson(row.resume_from) as CheckpointInfoDto | null,
    attempt_base: Number(row.attempt_base ?? 0),
    attempts: (fromJson(row.attempts) ?? []) as OperationAttemptDto[],
  };
}

function nullableText(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  // Not `instanceof Date`: a driver may hand us a Date of another realm (a module loaded outside
  // Jest's sandbox), and String(date) would drop the milliseconds. SQLite hands ISO-8601 text.
  if (Object.prototype.toString.call(value) === '[object Date]') {
    return new Date((value as Date).getTime());
  }
  const date = new Date(String(value));
  if (Number.isNaN(date.getTime()))
    throw new Error(`Unreadable timestamp from the database: ${String(value)}`);
  return date;
}

function fromJson(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? JSON.parse(value) : value;
}

function encode(field: string, kind: ColumnKind, value: unknown): unknown {
  if (value === null) return null;
  switch (kind) {
    case 'text':
      if (typeof value !== 'string') {
        throw new InvalidOperationInputError(`${field} must be a string or null`);
      }
      // PostgreSQL text cannot hold NUL (nor, via JSON, unpaired surrogates): store U+FFFD instead.
      return toStorableText(value);
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        throw new InvalidOperationInputError(`${field} must be a non-negative integer`);
      }
      return value;
    case 'sint':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new InvalidOperationInputError(`${field} must be an integer`);
      }
      return value;
    case 'timestamptz':
      return timestamp(field, value);
    case 'jsonb':
      return json(field, value);
    case 'jsonb_array':
      return jsonArray(field, value);
  }
}

function timestamp(field: string, value: unknown): string {
  const isDate = Object.prototype.toString.call(value) === '[object Date]';
  if (!isDate || Number.isNaN((value as Date).getTime())) {
    throw new InvalidOperationInputError(`${field} must be a valid Date`);
  }
  return (value as Date).toISOString();
}

function json(field: string, value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOperationInputError(`${field} must be a JSON object`);
  }
  return jsonText(field, value);
}

function jsonArray(field: string, value: unknown): string {
  if (!Array.isArray(value)) throw new InvalidOperationInputError(`${field} must be a JSON array`);
  return jsonText(field, value);
}

function jsonText(field: string, value: object): string {
  try {
    const text = JSON.stringify(value);
    // jsonb refuses \u0000 and unpaired surrogate escapes: store U+FFFD in their place (keys too).
    return /\\u(?:0000|d[89a-f])/i.test(text) ? JSON.stringify(storable(value)) : text;
  } catch (err) {
    throw new InvalidOperationInputError(`${field} cannot be stored as JSON: ${errorText(err)}`);
  }
}

/** A copy of a JSON value with every string (and key) made storable. */
function storable(value: unknown): unknown {
  if (typeof value === 'string') return toStorableText(value);
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === 'object') {
    // No prototype: a `__proto__` key stays a plain key.
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) out[toStorableText(k)] = storable(v);
    return out;
  }
  return value;
}

function requireText(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOperationInputError(`${field} must be a non-empty string`);
  }
}

function invalid(field: string, value: unknown, allowed: string[]): InvalidOperationInputError {
  return new InvalidOperationInputError(
    `${field} must be one of ${allowed.join(', ')} (got '${String(value)}')`,
  );
}
