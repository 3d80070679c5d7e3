import { MIGRATIONS, applyMigrations } from '../../src/persistence/migrations';
import type { Migration } from '../../src/persistence/migrations';
import { getTestSettings } from '@ktrdr/config';
import { PostgresExecutor } from '../../src/persistence/postgres-executor';
import type { SqlExecutor } from '../../src/persistence/sql-executor';
import { SqliteExecutor } from '../../src/persistence/sqlite-executor';
import { captureLogger, pgAdmin, testSchemaName } from '../support/persistence-helpers';
import { STORE_TIMEOUT_MS } from '../support/repository.contract';

const both = (sql: string): Pick<Migration, 'sql' | 'sqlite'> => ({ sql, sqlite: sql });
const m1: Migration = { version: 1, name: 'one', ...both('CREATE TABLE t1 (id int PRIMARY KEY);') };
const m2: Migration = {
  version: 2,
  name: 'two',
  ...both('CREATE TABLE t2 (id int); INSERT INTO t2 VALUES (1), (2);'),
};
const broken: Migration = {
  version: 2,
  name: 'broken',
  ...both('CREATE TABLE t2 (id int); SELEC oops;'),
};

const TABLES = {
  postgres: `SELECT table_name AS name FROM information_schema.tables
              WHERE table_schema = current_schema() ORDER BY table_name`,
  sqlite: `SELECT name FROM sqlite_master
            WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
};

const pgUrl = getTestSettings().postgres_url;
/** A fresh schema of the CI PostgreSQL, dropped afterwards (only when KTRDR_TEST_POSTGRES_URL is set). */
const pgSchema = testSchemaName('migrations');

type Target = [string, () => SqlExecutor, string, () => Promise<void>, () => Promise<void>];
const none = async (): Promise<void> => undefined;
const targets: Target[] = [
  ['SQLite in memory', () => new SqliteExecutor({ dir: 'memory://' }), TABLES.sqlite, none, none],
];
if (pgUrl) {
  targets.push([
    `PostgreSQL`,
    () => new PostgresExecutor({ connectionString: pgUrl, schema: pgSchema }),
    TABLES.postgres,
    () => pgAdmin(pgUrl, `CREATE SCHEMA ${pgSchema}`),
    () => pgAdmin(pgUrl, `DROP SCHEMA ${pgSchema} CASCADE`),
  ]);
}

describe.each(targets)('applyMigrations (on %s)', (name, make, tablesSql, setup, teardown) => {
  jest.setTimeout(STORE_TIMEOUT_MS);
  const executor = make();

  beforeAll(async () => {
    await setup();
    await executor.open();
  });
  afterAll(async () => {
    await executor.close();
    await teardown();
  });

  async function tables(): Promise<string[]> {
    const { rows } = await executor.query<{ name: string }>(tablesSql);
    return rows.map((r) => r.name);
  }

  it('rolls back every migration of the run when one fails, naming it', async () => {
    await expect(applyMigrations(executor, [m1, broken])).rejects.toThrow(
      new RegExp(`Migration 2 \\(broken\\) failed on ${name}.*: .*syntax error`),
    );
    expect(await tables()).toEqual([]);
  });

  it('applies pending migrations once, in order, and records them', async () => {
    expect(await applyMigrations(executor, [m1])).toEqual({ applied: [1], current: 1 });
    expect(await applyMigrations(executor, [m1])).toEqual({ applied: [], current: 1 });
    expect(await applyMigrations(executor, [m1, m2])).toEqual({ applied: [2], current: 2 });
    expect(await applyMigrations(executor, [m1, m2])).toEqual({ applied: [], current: 2 });
    const { rows } = await executor.query('SELECT count(*)::int AS n FROM t2');
    expect(rows[0].n).toBe(2); // m2's INSERT ran exactly once
    const recorded = await executor.query(
      'SELECT version, name FROM schema_migrations ORDER BY version',
    );
    expect(recorded.rows).toEqual([
      { version: 1, name: 'one' },
      { version: 2, name: 'two' },
    ]);
  });

  it('warns about versions recorded by a newer backend and keeps going', async () => {
    const logger = captureLogger();
    expect(await applyMigrations(executor, [m1], logger)).toEqual({ applied: [], current: 2 });
    expect(logger.lines).toEqual([expect.stringMatching(/^warn .*does not know \(2\)/)]);
  });

  it('refuses a migration list that is not numbered 1, 2, 3…', async () => {
    await expect(applyMigrations(executor, [m2])).rejects.toThrow(/numbered 1, 2, 3/);
    await expect(applyMigrations(executor, [m1, { ...m2, version: 3 }])).rejects.toThrow(
      /entry 1 has version 3/,
    );
  });

  it('ships a valid list of real migrations', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(MIGRATIONS[0].sql).toMatch(/CREATE TABLE operations/);
    expect(MIGRATIONS[0].sqlite).toMatch(/CREATE TABLE operations/);
  });
});
