import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'libsql';
import { errorText } from '@ktrdr/contracts';
import type {
  PersistenceLogger,
  SqlExecutor,
  SqlQueryable,
  SqlResult,
  SqlRow,
} from './sql-executor';

type Statement = Database.Statement;

/** The `KTRDR_DB_DIR` value that keeps the embedded database in memory (tests). */
export const SQLITE_MEMORY_DIR = 'memory://';

/** Name of the database file inside `KTRDR_DB_DIR`. */
export const SQLITE_FILE = 'ktrdr.sqlite';

/** How long a statement waits for another process's write lock before failing (SQLITE_BUSY). */
const BUSY_TIMEOUT_MS = 5_000;

/** Prepared statements kept per connection (the repository's statements are a small fixed set). */
const STATEMENT_CACHE_SIZE = 256;

export interface SqliteExecutorOptions {
  /** A directory (created when missing; the database is `ktrdr.sqlite` in it) or `memory://`. */
  dir: string;
  logger?: PersistenceLogger;
}

/**
 * SQLite (through libsql, in this process): the embedded store. The SQL the repository writes
 * once for both dialects uses PostgreSQL's placeholders; here `$n` becomes the named parameter
 * `@pn`, `::type` casts are dropped (SQLite's types are dynamic: text stays text, ISO-8601
 * timestamps compare as text), and arrays are bound as JSON text (read back with json_each).
 * Where the two dialects truly differ the repository asks `dialect` and writes each form.
 *
 * Statements run synchronously on one connection; a transaction holds it across its awaits, and
 * statements of other callers wait until it commits or rolls back. WAL journal: readers in other
 * processes never block, and two backends on one file are serialised by SQLite's own write lock
 * (waiting up to 5 s): no lock file of our own is needed.
 */
export class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  readonly description: string;
  private readonly file: string | undefined;
  private readonly logger: PersistenceLogger | undefined;
  private db: Database.Database | undefined;
  private readonly statements = new Map<string, Statement>();
  /** Settles when the open transaction ends (undefined: none open). */
  private transactionDone: Promise<void> | undefined;

  constructor(options: SqliteExecutorOptions) {
    this.logger = options.logger;
    const memory = options.dir === SQLITE_MEMORY_DIR || options.dir.trim() === '';
    this.file = memory ? undefined : join(resolve(options.dir), SQLITE_FILE);
    this.description = this.file ? `SQLite at ${this.file}` : 'SQLite in memory';
  }

  async open(): Promise<void> {
    if (this.db) return;
    if (this.file) {
      const dir = resolve(this.file, '..');
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        throw new Error(
          `Cannot create the data directory ${dir} (KTRDR_DB_DIR): ${errorText(err)}`,
        );
      }
      if (existsSync(join(dir, 'PG_VERSION')) && !existsSync(this.file)) {
        this.logger?.warn(
          `${dir} (KTRDR_DB_DIR) holds a PGlite database written by KTRDR 0.1; the embedded store ` +
            `is SQLite since 0.2.0 and starts empty in ${this.file} (the PGlite files are left as they are).`,
        );
      }
    }
    try {
      const db = new Database(this.file ?? ':memory:');
      try {
        // WAL: one fsync per commit at most (NORMAL), readers never wait for the writer; a crash of
        // this process loses nothing that was committed. Foreign keys: artifacts go with their operation.
        db.exec(
          `PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
           PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};`,
        );
      } catch (err) {
        db.close();
        throw err;
      }
      this.db = db;
    } catch (err) {
      const where = this.file ? `database ${this.file} (KTRDR_DB_DIR)` : 'in-memory database';
      throw new Error(`Cannot open the SQLite ${where}: ${errorText(err)}`);
    }
  }

  async query<R extends SqlRow = SqlRow>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<SqlResult<R>> {
    while (this.transactionDone) await this.transactionDone;
    return this.run<R>(text, params);
  }

  async exec(script: string): Promise<void> {
    while (this.transactionDone) await this.transactionDone;
    this.connection().exec(script);
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    while (this.transactionDone) await this.transactionDone;
    // From here to BEGIN nothing awaits, so no other caller can start a transaction in between.
    const db = this.connection();
    let end!: () => void;
    this.transactionDone = new Promise<void>((r) => (end = r));
    const tx: SqlQueryable = {
      query: async <R extends SqlRow = SqlRow>(text: string, params: readonly unknown[] = []) =>
        this.run<R>(text, params),
      exec: async (script: string) => {
        db.exec(script);
      },
    };
    try {
      // IMMEDIATE: take the write lock now, so a second backend on the same file waits here
      // (busy timeout) instead of failing at its first write.
      db.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(tx);
        db.exec('COMMIT');
        return out;
      } catch (err) {
        // The callback threw, or COMMIT itself failed: nothing of it stays, the connection is free.
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.transactionDone = undefined;
      end();
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    while (this.transactionDone) await this.transactionDone;
    const db = this.db;
    this.db = undefined;
    this.statements.clear();
    if (db?.open) db.close();
  }

  private run<R extends SqlRow>(text: string, params: readonly unknown[]): SqlResult<R> {
    const statement = this.prepare(text);
    const bound = bind(params);
    if (statement.reader) return { rows: statement.all(bound) as R[] };
    statement.run(bound);
    return { rows: [] };
  }

  private prepare(text: string): Statement {
    let statement = this.statements.get(text);
    if (statement) return statement;
    statement = this.connection().prepare(toSqlite(text));
    if (this.statements.size >= STATEMENT_CACHE_SIZE) {
      const oldest = this.statements.keys().next().value;
      if (oldest !== undefined) this.statements.delete(oldest);
    }
    this.statements.set(text, statement);
    return statement;
  }

  private connection(): Database.Database {
    if (!this.db) throw new Error(`${this.description} is not open`);
    return this.db;
  }
}

/** `$n::type[]`, `$n::type` and `$n` → `@pn`; other `::type` casts dropped. */
export function toSqlite(text: string): string {
  return text.replace(/\$(\d+)(?:::[a-z_]+(?:\[\])?)?/g, '@p$1').replace(/::[a-z_]+(?:\[\])?/g, '');
}

/** Positional parameters → `{ p1, p2, … }`; arrays become JSON text, booleans 1/0. */
function bind(params: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  params.forEach((value, i) => {
    out[`p${i + 1}`] = Array.isArray(value)
      ? JSON.stringify(value)
      : typeof value === 'boolean'
        ? Number(value)
        : value;
  });
  return out;
}
