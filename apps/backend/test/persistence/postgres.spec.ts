import type { Client } from 'pg';
import { getTestSettings } from '@ktrdr/config';
import { OperationStatus, OperationType } from '@ktrdr/contracts';
import { MIGRATIONS } from '../../src/persistence/migrations';
import type { OperationRecord } from '../../src/persistence/operations.repository';
import { PostgresOperationsRepository } from '../../src/persistence/postgres-operations.repository';
import { testSchemaName, withPgClient } from '../support/persistence-helpers';
import { checkAttemptsMigration, describeRepositoryContract } from '../support/repository.contract';
import { storedParams } from '../support/params';

const url = getTestSettings().postgres_url;

const schemaName = testSchemaName;

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  return withPgClient(url as string, fn);
}

if (!url) {
  console.warn(
    '[postgres] SKIPPED the PostgreSQL repository suite: KTRDR_TEST_POSTGRES_URL is not set ' +
      '(e.g. postgres://ktrdr_test:ktrdr_test@127.0.0.1:5432/ktrdr_test; infra/scripts/ci-postgres.sh starts one)',
  );
  describe.skip('PostgreSQL driver — SKIPPED because KTRDR_TEST_POSTGRES_URL is not set', () => {
    it('runs the repository contract against a real PostgreSQL', () => undefined);
  });
} else {
  const connectionString = url;
  const schema = schemaName('contract');
  describeRepositoryContract('PostgreSQL', {
    persistent: true,
    shared: true,
    create: (clock) => new PostgresOperationsRepository({ connectionString, schema, clock }),
    setup: () => admin((c) => c.query(`CREATE SCHEMA ${schema}`).then(() => undefined)),
    teardown: () => admin((c) => c.query(`DROP SCHEMA ${schema} CASCADE`).then(() => undefined)),
  });

  describe('PostgreSQL driver: several backends on one database', () => {
    const schemas: string[] = [];
    const repos: PostgresOperationsRepository[] = [];

    async function freshSchema(): Promise<string> {
      const name = schemaName('multi');
      await admin((c) => c.query(`CREATE SCHEMA ${name}`));
      schemas.push(name);
      return name;
    }

    function open(schema: string): PostgresOperationsRepository {
      const repo = new PostgresOperationsRepository({ connectionString, schema, max: 4 });
      repos.push(repo);
      return repo;
    }

    afterEach(async () => {
      await Promise.all(repos.splice(0).map((r) => r.close()));
      const names = schemas.splice(0);
      await admin(async (c) => {
        for (const name of names) await c.query(`DROP SCHEMA ${name} CASCADE`);
      });
    });

    it('two repositories migrating the same empty database at once: one applies, both work', async () => {
      const schema = await freshSchema();
      const [a, b] = [open(schema), open(schema)];
      await Promise.all([a.init(), b.init()]);
      const applied = [a.migrationOutcome?.applied, b.migrationOutcome?.applied];
      expect(applied).toContainEqual(MIGRATIONS.map((m) => m.version));
      expect(applied).toContainEqual([]);
      const { rows } = await a.executor.query(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      await a.create({
        operation_id: 'x',
        operation_type: OperationType.TRAINING,
        params: storedParams({}),
      });
      expect((await b.get('x'))?.operation_type).toBe(OperationType.TRAINING);
    });

    it('schema 3 → 4: existing operations get an empty attempt history; claims record attempts', async () => {
      const schema = await freshSchema();
      await checkAttemptsMigration(
        (migrations) => new PostgresOperationsRepository({ connectionString, schema, migrations }),
      );
    });

    it('six repositories starting together all succeed', async () => {
      const schema = await freshSchema();
      const many = Array.from({ length: 6 }, () => open(schema));
      await Promise.all(many.map((r) => r.init()));
      const appliedBy = many.filter((r) => (r.migrationOutcome?.applied.length ?? 0) > 0);
      expect(appliedBy).toHaveLength(1);
    });

    it('concurrent completions from two backends (separate pools) apply exactly once', async () => {
      const schema = await freshSchema();
      const [a, b] = [open(schema), open(schema)];
      await a.init();
      await b.init();
      await a.create({
        operation_id: 'op',
        operation_type: OperationType.BACKTESTING,
        params: storedParams({}),
      });
      await a.update('op', { status: OperationStatus.RUNNING, lease_token: 'L1' });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? a : b).update(
            'op',
            { status: OperationStatus.COMPLETED, result: { by: i } },
            { status: [OperationStatus.RUNNING], lease_token: 'L1' },
          ),
        ),
      );
      const winners = results.filter((r): r is OperationRecord => r !== null);
      expect(winners).toHaveLength(1);
      expect((await b.get('op'))?.result).toEqual(winners[0].result);
    });
  });
}
