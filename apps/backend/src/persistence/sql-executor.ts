/**
 * The thin SQL layer both drivers implement, so that every statement the operations store runs
 * (migrations included) is written once, in sql-operations.repository.ts and migrations.ts.
 */

export type SqlRow = Record<string, unknown>;

export interface SqlResult<R extends SqlRow = SqlRow> {
  rows: R[];
}

/** Something that runs SQL: the executor itself, or the connection of an open transaction. */
export interface SqlQueryable {
  /** One statement with `$1…$n` parameters (extended protocol). */
  query<R extends SqlRow = SqlRow>(
    text: string,
    params?: readonly unknown[],
  ): Promise<SqlResult<R>>;
  /** A script of several statements without parameters (simple protocol), e.g. a migration. */
  exec(script: string): Promise<void>;
}

export type SqlDialect = 'postgres' | 'sqlite';

/** Logger used by the persistence code (Nest's Logger fits). */
export interface PersistenceLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface SqlExecutor extends SqlQueryable {
  readonly dialect: SqlDialect;
  /** Where the data lives, for logs and errors; never contains a password. */
  readonly description: string;
  /** Connects (PostgreSQL: checks a connection can be made; SQLite: opens or creates the file). */
  open(): Promise<void>;
  /**
   * Runs `fn` inside BEGIN … COMMIT (ROLLBACK when it throws) on one connection. Statements of other
   * callers never interleave with the transaction's statements on that connection.
   */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A duplicate key: PostgreSQL's unique_violation, or SQLite's primary-key/unique constraint. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}
