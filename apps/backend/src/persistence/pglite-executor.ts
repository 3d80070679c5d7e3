import { mkdirSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { resolve } from 'node:path';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import { acquirePgliteLock } from './pglite-lock';
import type {
  PersistenceLogger,
  SqlExecutor,
  SqlQueryable,
  SqlResult,
  SqlRow,
} from './sql-executor';

const JSON_OID = 114;
const JSONB_OID = 3802;
const identity = (text: string): string => text;

type PgliteModule = typeof import('@electric-sql/pglite');

let pgliteModule: PgliteModule | undefined;

/**
 * Loads PGlite with Node's own `require`. PGlite's CommonJS build calls dynamic `import()` internally
 * (fs/promises, node:module, zlib); inside Jest's VM sandbox those calls throw
 * ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG unless Jest runs with --experimental-vm-modules. A
 * module loaded by Node itself keeps Node's loader, so the embedded store works in every test
 * that uses it without special Jest flags. Outside Jest this is exactly `require('@electric-sql/pglite')`.
 */
function loadPglite(): PgliteModule {
  pgliteModule ??= nodeCreateRequire()(__filename)('@electric-sql/pglite') as PgliteModule;
  return pgliteModule;
}

function nodeCreateRequire(): typeof nodeModule.createRequire {
  // Under Jest, `node:module` is Jest's subclass of Node's Module whose createRequire returns Jest's
  // sandboxed require; the parent class is Node's Module with the real createRequire. Without Jest,
  // the parent is Function.prototype and we use the normal export.
  const parent: unknown = Object.getPrototypeOf(nodeModule.Module);
  const real = (parent as { createRequire?: unknown } | null)?.createRequire;
  return typeof real === 'function'
    ? (real as typeof nodeModule.createRequire)
    : nodeModule.createRequire;
}

/** The `KTRDR_DB_DIR` value that selects an in-memory PGlite database (tests). */
export const PGLITE_MEMORY_DIR = 'memory://';

export interface PgliteExecutorOptions {
  /** A directory (created when missing) or `memory://`. */
  dir: string;
  logger?: PersistenceLogger;
}

/**
 * PGlite (Postgres compiled to WASM, in this process). It has ONE connection, so concurrency is
 * handled by PGlite's own locks: `db.query()` / `db.exec()` wait for any open `db.transaction()`,
 * and the statements of a transaction run through its `tx` object only; our executor never issues
 * BEGIN/COMMIT by hand, so callers' statements cannot interleave with a transaction.
 */
export class PgliteExecutor implements SqlExecutor {
  readonly dialect = 'pglite' as const;
  readonly description: string;
  private readonly dir: string | undefined;
  private db: PGlite | undefined;
  private releaseLock: (() => void) | undefined;
  private readonly logger: PersistenceLogger | undefined;

  constructor(options: PgliteExecutorOptions) {
    this.logger = options.logger;
    const memory = options.dir === PGLITE_MEMORY_DIR || options.dir.trim() === '';
    this.dir = memory ? undefined : resolve(options.dir);
    this.description = this.dir ? `PGlite at ${this.dir}` : 'PGlite in memory';
  }

  async open(): Promise<void> {
    if (this.db) return;
    if (this.dir) {
      try {
        mkdirSync(this.dir, { recursive: true });
      } catch (err) {
        throw new Error(
          `Cannot create the PGlite data directory ${this.dir} (KTRDR_DB_DIR): ${errorText(err)}`,
        );
      }
      this.releaseLock = acquirePgliteLock(this.dir, (m) => this.logger?.warn(m));
    }
    try {
      const { PGlite: PGliteClass } = loadPglite();
      // JSON comes back as text and is parsed by the repository, so that records hold objects of
      // the caller's realm (see loadPglite), like the `pg` driver's.
      const parsers = { [JSON_OID]: identity, [JSONB_OID]: identity };
      const db = new PGliteClass({ ...(this.dir ? { dataDir: this.dir } : {}), parsers });
      await db.waitReady;
      this.db = db;
    } catch (err) {
      this.releaseLock?.();
      this.releaseLock = undefined;
      const where = this.dir ? `data directory ${this.dir} (KTRDR_DB_DIR)` : 'in-memory database';
      throw new Error(`Cannot open the PGlite ${where}: ${errorText(err)}`);
    }
  }

  async query<R extends SqlRow = SqlRow>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<SqlResult<R>> {
    const db = this.connection();
    try {
      const result = await db.query<R>(text, [...params]);
      return { rows: result.rows };
    } catch (err) {
      throw localError(err);
    }
  }

  async exec(script: string): Promise<void> {
    const db = this.connection();
    try {
      await db.exec(script);
    } catch (err) {
      throw localError(err);
    }
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    // PGlite's transaction(): BEGIN, callback, COMMIT, or ROLLBACK when the callback throws; holds
    // the transaction lock throughout, so db.query() calls from other callers wait for it.
    const db = this.connection();
    try {
      return await db.transaction((tx) => fn(wrapTransaction(tx)));
    } catch (err) {
      throw localError(err);
    }
  }

  async ping(): Promise<void> {
    await this.connection().query('SELECT 1');
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    try {
      if (db && !db.closed) await db.close();
    } finally {
      this.releaseLock?.();
      this.releaseLock = undefined;
    }
  }

  private connection(): PGlite {
    if (!this.db) throw new Error(`${this.description} is not open`);
    return this.db;
  }
}

function wrapTransaction(tx: Transaction): SqlQueryable {
  return {
    async query<R extends SqlRow = SqlRow>(text: string, params: readonly unknown[] = []) {
      try {
        const result = await tx.query<R>(text, [...params]);
        return { rows: result.rows };
      } catch (err) {
        throw localError(err);
      }
    },
    async exec(script: string) {
      try {
        await tx.exec(script);
      } catch (err) {
        throw localError(err);
      }
    },
  };
}

/**
 * PGlite's errors come from Node's realm (see loadPglite), where `instanceof Error` fails inside Jest;
 * rebuild them as local Errors keeping the PostgreSQL fields callers look at (code, detail, …).
 */
function localError(err: unknown): unknown {
  if (err instanceof Error || typeof err !== 'object' || err === null) return err;
  const source = err as Record<string, unknown>;
  if (typeof source.message !== 'string') return err;
  const copy = new Error(source.message, { cause: err }) as Error & Record<string, unknown>;
  for (const key of [
    'code',
    'detail',
    'hint',
    'constraint',
    'table',
    'column',
    'severity',
    'query',
  ]) {
    if (source[key] !== undefined) copy[key] = source[key];
  }
  return copy;
}

function errorText(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}
