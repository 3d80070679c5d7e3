import { errorText } from '@ktrdr/contracts';
import { Pool } from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
import type {
  PersistenceLogger,
  SqlExecutor,
  SqlQueryable,
  SqlResult,
  SqlRow,
} from './sql-executor';

export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:port/name` (tests); otherwise the separate fields are used. */
  connectionString?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** Schema to use as search_path (tests use a fresh schema per run); it must exist. */
  schema?: string;
  /** Pool size, default 10. */
  max?: number;
  /** How long to wait for a connection, default 5000 ms. */
  connectTimeoutMs?: number;
}

interface Target {
  host: string;
  port: number;
  database: string;
  user: string;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
]);

/** PostgreSQL through a `pg` Pool; each transaction runs on one checked-out client. */
export class PostgresExecutor implements SqlExecutor {
  readonly dialect = 'postgres' as const;
  readonly description: string;
  private readonly target: Target;
  private readonly config: PoolConfig;
  private pool: Pool | undefined;

  constructor(
    options: PostgresConnectionOptions,
    private readonly logger?: PersistenceLogger,
  ) {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new Error(`Invalid PostgreSQL schema name '${options.schema}'`);
    }
    this.target = describeTarget(options);
    const { host, port, database, user } = this.target;
    this.description = `PostgreSQL at ${user}@${host}:${port}/${database}${
      options.schema ? ` (schema ${options.schema})` : ''
    }`;
    this.config = {
      ...(options.connectionString
        ? { connectionString: options.connectionString }
        : {
            host: options.host,
            port: options.port,
            database: options.database,
            user: options.user,
            password: options.password,
          }),
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    };
  }

  async open(): Promise<void> {
    if (this.pool) return;
    const pool = new Pool(this.config);
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', (err) => {
      this.logger?.warn(`${this.description}: idle connection error: ${errorText(err)}`);
    });
    try {
      const client = await pool.connect();
      client.release();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw this.connectionError(err);
    }
    this.pool = pool;
  }

  async query<R extends SqlRow = SqlRow>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<SqlResult<R>> {
    try {
      const result = await this.connection().query<R>(text, [...params]);
      return { rows: result.rows };
    } catch (err) {
      throw this.maybeConnectionError(err);
    }
  }

  async exec(script: string): Promise<void> {
    try {
      await this.connection().query(script);
    } catch (err) {
      throw this.maybeConnectionError(err);
    }
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.connection().connect();
    } catch (err) {
      throw this.maybeConnectionError(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(wrapClient(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection is unusable; destroy it instead of returning it to the pool.
        broken = new Error(errorText(rollbackErr));
      }
      throw this.maybeConnectionError(err);
    } finally {
      client.release(broken);
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await pool.end();
  }

  private connection(): Pool {
    if (!this.pool) throw new Error(`${this.description} is not open`);
    return this.pool;
  }

  private maybeConnectionError(err: unknown): unknown {
    return isConnectionFailure(err) ? this.connectionError(err) : err;
  }

  /** A message that says where we tried to connect and which settings control it. */
  private connectionError(err: unknown): Error {
    const { host, port, database, user } = this.target;
    const code = asErrorLike(err)?.code;
    let message: string;
    if (code === '28P01' || code === '28000') {
      message =
        `PostgreSQL at ${host}:${port} rejected user '${user}' ` +
        `(check KTRDR_DB_USER and KTRDR_DB_PASSWORD): ${errorText(err)}`;
    } else if (code === '3D000') {
      message = `PostgreSQL database '${database}' does not exist on ${host}:${port} (check KTRDR_DB_NAME): ${errorText(err)}`;
    } else if (isConnectionFailure(err)) {
      message =
        `Cannot reach PostgreSQL at ${host}:${port} ` +
        `(check KTRDR_DB_HOST and KTRDR_DB_PORT, or use KTRDR_DB_DRIVER=sqlite for the embedded store): ${errorText(err)}`;
    } else {
      message = `Cannot connect to PostgreSQL at ${host}:${port}/${database}: ${errorText(err)}`;
    }
    const wrapped = new Error(message, { cause: err });
    if (typeof code === 'string') (wrapped as Error & { code?: string }).code = code;
    return wrapped;
  }
}

function wrapClient(client: PoolClient): SqlQueryable {
  return {
    async query<R extends SqlRow = SqlRow>(text: string, params: readonly unknown[] = []) {
      const result = await client.query<R>(text, [...params]);
      return { rows: result.rows };
    },
    async exec(script: string) {
      await client.query(script);
    },
  };
}

function describeTarget(options: PostgresConnectionOptions): Target {
  if (options.connectionString) {
    try {
      const url = new URL(options.connectionString);
      return {
        host: decodeURIComponent(url.hostname) || 'localhost',
        port: url.port ? Number(url.port) : 5432,
        database: decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres',
        user: decodeURIComponent(url.username) || 'postgres',
      };
    } catch {
      throw new Error(
        'Invalid PostgreSQL connection string (expected postgres://user@host:port/name)',
      );
    }
  }
  return {
    host: options.host ?? 'localhost',
    port: options.port ?? 5432,
    database: options.database ?? 'postgres',
    user: options.user ?? 'postgres',
  };
}

// Errors are inspected by shape, not with `instanceof`: socket errors are created by Node's core
// modules, which under Jest live in another realm than the test's Error/AggregateError.
interface ErrorLike {
  message?: unknown;
  code?: unknown;
  name?: unknown;
  errors?: unknown;
}

function asErrorLike(err: unknown): ErrorLike | undefined {
  return typeof err === 'object' && err !== null ? (err as ErrorLike) : undefined;
}

function isConnectionFailure(err: unknown): boolean {
  const e = asErrorLike(err);
  if (!e) return false;
  if (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.some(isConnectionFailure)) return true;
  return (
    typeof e.message === 'string' &&
    /timeout expired|connection timeout|Connection terminated unexpectedly/i.test(e.message)
  );
}
