import { errorText } from '@ktrdr/contracts';
import type { PersistenceLogger, SqlExecutor } from './sql-executor';

/**
 * The schema of the operations store: ONE ordered list of migrations for every driver, each in
 * PostgreSQL's SQL (`sql`) and SQLite's (`sqlite`: same tables, columns and
 * checks; timestamps as ISO-8601 text, JSON as text checked with json_type).
 * Rules: never edit a migration once released, append a new one with the next version instead.
 * Each runs once, recorded in `schema_migrations`, all pending ones inside one transaction.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  sqlite: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create_operations',
    sql: `
CREATE TABLE operations (
  operation_id   text        PRIMARY KEY,
  operation_type text        NOT NULL CHECK (operation_type IN ('backtesting', 'training')),
  status         text        NOT NULL
                 CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  worker_id      text,
  attempt        integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  lease_token    text,
  created_at     timestamptz NOT NULL,
  started_at     timestamptz,
  completed_at   timestamptz,
  updated_at     timestamptz NOT NULL,
  progress       jsonb       NOT NULL DEFAULT '{"percentage": 0}'::jsonb
                 CHECK (jsonb_typeof(progress) = 'object'),
  params         jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(params) = 'object'),
  result         jsonb,
  error_message  text,
  checkpoint     jsonb
);
CREATE INDEX operations_status_idx ON operations (status);
CREATE INDEX operations_created_at_idx ON operations (created_at DESC, operation_id);
CREATE INDEX operations_operation_type_idx ON operations (operation_type);
CREATE INDEX operations_worker_id_idx ON operations (worker_id);
`,
    // First released for SQLite in 0.2.0, when `dispatched` (migration 2 on PostgreSQL) was a status.
    sqlite: `
CREATE TABLE operations (
  operation_id   text    NOT NULL PRIMARY KEY,
  operation_type text    NOT NULL CHECK (operation_type IN ('backtesting', 'training')),
  status         text    NOT NULL
                 CHECK (status IN ('pending', 'dispatched', 'running', 'completed', 'failed', 'cancelled')),
  worker_id      text,
  attempt        integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  lease_token    text,
  created_at     text    NOT NULL,
  started_at     text,
  completed_at   text,
  updated_at     text    NOT NULL,
  progress       text    NOT NULL DEFAULT '{"percentage":0}' CHECK (json_type(progress) = 'object'),
  params         text    NOT NULL DEFAULT '{}' CHECK (json_type(params) = 'object'),
  result         text    CHECK (result IS NULL OR json_type(result) = 'object'),
  error_message  text,
  checkpoint     text    CHECK (checkpoint IS NULL OR json_type(checkpoint) = 'object')
);
CREATE INDEX operations_status_idx ON operations (status);
CREATE INDEX operations_created_at_idx ON operations (created_at DESC, operation_id);
CREATE INDEX operations_operation_type_idx ON operations (operation_type);
CREATE INDEX operations_worker_id_idx ON operations (worker_id);
`,
  },
  {
    version: 2,
    name: 'durable_queue_and_sweeps',
    sql: `
ALTER TABLE operations DROP CONSTRAINT IF EXISTS operations_status_check;
ALTER TABLE operations ADD CONSTRAINT operations_status_check
  CHECK (status IN ('pending', 'dispatched', 'running', 'completed', 'failed', 'cancelled'));
ALTER TABLE operations ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN queued_at timestamptz;
UPDATE operations SET queued_at = created_at;
ALTER TABLE operations ALTER COLUMN queued_at SET NOT NULL;
ALTER TABLE operations ADD COLUMN sweep_id text;
ALTER TABLE operations ADD COLUMN resume_from jsonb;
ALTER TABLE operations ADD COLUMN attempt_base integer NOT NULL DEFAULT 0 CHECK (attempt_base >= 0);
CREATE INDEX operations_queue_idx ON operations (operation_type, priority DESC, queued_at, operation_id)
  WHERE status = 'pending';
CREATE INDEX operations_sweep_id_idx ON operations (sweep_id) WHERE sweep_id IS NOT NULL;
CREATE TABLE sweeps (
  sweep_id       text        PRIMARY KEY,
  operation_type text        NOT NULL CHECK (operation_type IN ('backtesting', 'training')),
  created_at     timestamptz NOT NULL,
  base           jsonb       NOT NULL CHECK (jsonb_typeof(base) = 'object'),
  grid           jsonb       NOT NULL CHECK (jsonb_typeof(grid) = 'object'),
  total          integer     NOT NULL CHECK (total >= 0),
  children       jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(children) = 'array')
);
`,
    // queued_at is NOT NULL in practice (every insert sets it) but SQLite cannot add a NOT NULL
    // column without a default; the status check already has `dispatched` (migration 1).
    sqlite: `
ALTER TABLE operations ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN queued_at text;
UPDATE operations SET queued_at = created_at;
ALTER TABLE operations ADD COLUMN sweep_id text;
ALTER TABLE operations ADD COLUMN resume_from text
  CHECK (resume_from IS NULL OR json_type(resume_from) = 'object');
ALTER TABLE operations ADD COLUMN attempt_base integer NOT NULL DEFAULT 0 CHECK (attempt_base >= 0);
CREATE INDEX operations_queue_idx ON operations (operation_type, priority DESC, queued_at, operation_id)
  WHERE status = 'pending';
CREATE INDEX operations_sweep_id_idx ON operations (sweep_id) WHERE sweep_id IS NOT NULL;
CREATE TABLE sweeps (
  sweep_id       text    NOT NULL PRIMARY KEY,
  operation_type text    NOT NULL CHECK (operation_type IN ('backtesting', 'training')),
  created_at     text    NOT NULL,
  base           text    NOT NULL CHECK (json_type(base) = 'object'),
  grid           text    NOT NULL CHECK (json_type(grid) = 'object'),
  total          integer NOT NULL CHECK (total >= 0),
  children       text    NOT NULL DEFAULT '[]' CHECK (json_type(children) = 'array')
);
`,
  },
  {
    version: 3,
    name: 'create_operation_artifacts',
    // Result artifacts a worker uploads in chunks before completing (trades, full equity curve).
    // `rows` is the chunk's JSON array of rows (text); chunks stored since migration 5 leave it ''
    // and keep their numbers in `data`.
    sql: `
CREATE TABLE operation_artifacts (
  operation_id text        NOT NULL REFERENCES operations (operation_id) ON DELETE CASCADE,
  kind         text        NOT NULL CHECK (kind IN ('trades', 'equity')),
  chunk_index  integer     NOT NULL CHECK (chunk_index >= 0),
  lease_token  text        NOT NULL,
  first_row    bigint      NOT NULL CHECK (first_row >= 0),
  row_count    integer     NOT NULL CHECK (row_count >= 0),
  total_rows   bigint      NOT NULL CHECK (total_rows >= 0),
  rows         text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (operation_id, kind, chunk_index)
);
`,
    sqlite: `
CREATE TABLE operation_artifacts (
  operation_id text    NOT NULL REFERENCES operations (operation_id) ON DELETE CASCADE,
  kind         text    NOT NULL CHECK (kind IN ('trades', 'equity')),
  chunk_index  integer NOT NULL CHECK (chunk_index >= 0),
  lease_token  text    NOT NULL,
  first_row    integer NOT NULL CHECK (first_row >= 0),
  row_count    integer NOT NULL CHECK (row_count >= 0),
  total_rows   integer NOT NULL CHECK (total_rows >= 0),
  rows         text    NOT NULL,
  created_at   text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (operation_id, kind, chunk_index)
);
`,
  },
  {
    version: 4,
    name: 'operation_attempts',
    // Every dispatch of an operation (OperationAttemptDto objects, oldest first): appended by the
    // queue claim, closed by the lifecycle. Rows from before start empty.
    sql: `
ALTER TABLE operations ADD COLUMN attempts jsonb NOT NULL DEFAULT '[]'::jsonb
  CHECK (jsonb_typeof(attempts) = 'array');
`,
    sqlite: `
ALTER TABLE operations ADD COLUMN attempts text NOT NULL DEFAULT '[]'
  CHECK (json_type(attempts) = 'array');
`,
  },
  {
    version: 5,
    name: 'binary_artifact_chunks',
    // A chunk's numbers as uploaded in binary (little-endian float64, column by column: see
    // artifact-chunk.ts in the contracts package); JSON uploads are stored in this form too.
    // Chunks stored before keep their JSON text in `rows` and NULL here.
    sql: `
ALTER TABLE operation_artifacts ADD COLUMN data bytea;
`,
    sqlite: `
ALTER TABLE operation_artifacts ADD COLUMN data blob;
`,
  },
];

/** Key of the PostgreSQL advisory lock that serializes migrations of concurrent backends. */
export const MIGRATION_LOCK_KEY: readonly [number, number] = [0x6b747264, 1]; // 'ktrd', 1

export interface MigrationOutcome {
  /** Versions applied by this call. */
  applied: number[];
  /** Highest version present after the call. */
  current: number;
}

/**
 * Applies pending migrations. Everything runs in one transaction that first takes a
 * transaction-scoped advisory lock, so two backends starting together on one PostgreSQL database
 * serialize here: the second waits, then sees the first one's rows in `schema_migrations` and
 * applies nothing. (On SQLite the transaction takes the database's write lock at BEGIN, which
 * serialises two backends on one file the same way.) A failing migration rolls back all of them.
 */
export async function applyMigrations(
  executor: SqlExecutor,
  migrations: readonly Migration[] = MIGRATIONS,
  logger?: PersistenceLogger,
): Promise<MigrationOutcome> {
  checkMigrationList(migrations);
  const sqlite = executor.dialect === 'sqlite';
  return executor.transaction(async (tx) => {
    if (!sqlite) {
      await tx.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [...MIGRATION_LOCK_KEY]);
    }
    await tx.exec(`
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at ${sqlite ? "text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))" : 'timestamptz NOT NULL DEFAULT now()'}
);`);
    const existing = await tx.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    const done = new Set(existing.rows.map((r) => Number(r.version)));
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...done].filter((v) => !known.has(v));
    if (unknown.length > 0) {
      logger?.warn(
        `Database has migrations this backend does not know (${unknown.join(', ')}): ` +
          'it was written by a newer version; continuing with the known schema.',
      );
    }
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      try {
        await tx.exec(sqlite ? migration.sqlite : migration.sql);
      } catch (err) {
        throw new Error(
          `Migration ${migration.version} (${migration.name}) failed on ${executor.description}: ${errorText(err)}`,
          { cause: err },
        );
      }
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2::text)', [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
      done.add(migration.version);
    }
    return { applied, current: Math.max(0, ...done) };
  });
}

function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (!Number.isInteger(m.version) || m.version !== i + 1) {
      throw new Error(
        `Migrations must be numbered 1, 2, 3… in order; entry ${i} has version ${m.version}`,
      );
    }
  });
}
