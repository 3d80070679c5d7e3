import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationType } from '@ktrdr/contracts';
import {
  SQLITE_FILE,
  SQLITE_MEMORY_DIR,
  SqliteExecutor,
  toSqlite,
} from '../../src/persistence/sqlite-executor';
import { SqliteOperationsRepository } from '../../src/persistence/sqlite-operations.repository';
import { checkAttemptsMigration, describeRepositoryContract } from '../support/repository.contract';
import { storedParams } from '../support/params';

// A data directory that does not exist yet: the repository must create it.
const base = mkdtempSync(join(tmpdir(), 'ktrdr-sqlite-'));
const dir = join(base, 'nested', 'db');

describeRepositoryContract('SQLite file-backed', {
  persistent: true,
  shared: false,
  create: (clock) => new SqliteOperationsRepository({ dir, clock }),
  teardown: async () => rmSync(base, { recursive: true, force: true }),
});

describe('SQLite store files', () => {
  const root = mkdtempSync(join(tmpdir(), 'ktrdr-sqlite-files-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('keeps the database in KTRDR_DB_DIR/ktrdr.sqlite', async () => {
    const repo = new SqliteOperationsRepository({ dir: join(root, 'a') });
    await repo.init();
    await repo.close();
    expect(existsSync(join(root, 'a', SQLITE_FILE))).toBe(true);
    expect(repo.description).toBe(`SQLite at ${join(root, 'a', SQLITE_FILE)}`);
  });

  it('schema 3 → 4: existing operations get an empty attempt history; claims record attempts', () =>
    checkAttemptsMigration(
      (migrations) => new SqliteOperationsRepository({ dir: join(root, 'upgrade'), migrations }),
    ));

  it('two repositories on one file (two backends) never claim the same operation', async () => {
    const path = join(root, 'shared');
    const one = new SqliteOperationsRepository({ dir: path });
    const two = new SqliteOperationsRepository({ dir: path });
    await one.init();
    await two.init();
    try {
      for (let i = 0; i < 20; i++) {
        await (i % 2 ? one : two).enqueue(
          {
            operation_id: `op_${i}`,
            operation_type: OperationType.BACKTESTING,
            params: storedParams({}),
          },
          100,
        );
      }
      const claims = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 ? one : two).claimNext(OperationType.BACKTESTING, {
            worker_id: `w${i}`,
            lease_token: `l${i}`,
            at: new Date(),
          }),
        ),
      );
      const ids = claims.filter((c) => c !== null).map((c) => c.operation_id);
      expect(ids).toHaveLength(20);
      expect(new Set(ids).size).toBe(20);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('warns that a PGlite directory of KTRDR 0.1 is not read, and starts an empty store', async () => {
    const old = join(root, 'pglite');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'PG_VERSION'), '17\n');
    const warnings: string[] = [];
    const logger = {
      log: () => undefined,
      warn: (m: string) => warnings.push(m),
      error: () => undefined,
    };
    const repo = new SqliteOperationsRepository({ dir: old, logger });
    await repo.init();
    await repo.close();
    expect(warnings).toEqual([
      expect.stringMatching(
        /holds a PGlite database written by KTRDR 0\.1.*starts empty in .*ktrdr\.sqlite/,
      ),
    ]);
  });

  it('reports an unusable data directory with the variable name', async () => {
    const file = join(root, 'not-a-dir');
    writeFileSync(file, 'x');
    const repo = new SqliteOperationsRepository({ dir: join(file, 'db') });
    await expect(repo.init()).rejects.toThrow(
      /Cannot create the data directory .* \(KTRDR_DB_DIR\)/,
    );
  });
});

describe('SqliteExecutor transactions', () => {
  it('a COMMIT that fails rolls the transaction back and frees the connection', async () => {
    const ex = new SqliteExecutor({ dir: SQLITE_MEMORY_DIR });
    await ex.open();
    try {
      await ex.exec(
        'CREATE TABLE p (id text PRIMARY KEY); CREATE TABLE c (pid text REFERENCES p (id))',
      );
      await expect(
        ex.transaction(async (tx) => {
          await tx.exec('PRAGMA defer_foreign_keys = ON'); // the violation surfaces at COMMIT
          await tx.query("INSERT INTO c VALUES ('nope')");
        }),
      ).rejects.toThrow(/FOREIGN KEY/);
      expect((await ex.query('SELECT count(*) AS n FROM c')).rows).toEqual([{ n: 0 }]);
      await ex.transaction(async (tx) => {
        await tx.query("INSERT INTO p VALUES ('a')");
      });
      expect((await ex.query('SELECT id FROM p')).rows).toEqual([{ id: 'a' }]);
    } finally {
      await ex.close();
    }
  });
});

describe('toSqlite (PostgreSQL placeholders → SQLite)', () => {
  it('names parameters and drops casts, leaving JSON paths alone', () => {
    expect(
      toSqlite(
        "SELECT count(*)::int AS n, json_insert(a, '$[#]', 1) FROM t WHERE s = ANY($1::text[]) AND x = $12::timestamptz AND y = $2",
      ),
    ).toBe(
      "SELECT count(*) AS n, json_insert(a, '$[#]', 1) FROM t WHERE s = ANY(@p1) AND x = @p12 AND y = @p2",
    );
  });
});
