/**
 * The queue survives a backend restart on the real stores: 20 operations queued while no worker is
 * registered, the backend "restarts" (the store is closed and opened again by a new set of services),
 * workers register, and every operation is dispatched exactly once and completes. On file-backed
 * SQLite always; on PostgreSQL when KTRDR_TEST_POSTGRES_URL is set (CI starts one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTestSettings } from '@ktrdr/config';
import { CompletionStatus, OperationStatus, OperationType, WorkerType } from '@ktrdr/contracts';
import type { OperationsRepository } from '../src/persistence/operations.repository';
import { SqliteOperationsRepository } from '../src/persistence/sqlite-operations.repository';
import { PostgresOperationsRepository } from '../src/persistence/postgres-operations.repository';
import { pgAdmin, testSchemaName } from './support/persistence-helpers';
import { STORE_TIMEOUT_MS } from './support/repository.contract';
import { BACKTEST_PARAMS, createHarness } from './support/harness';
import { ManualClock } from './support/manual-clock';

jest.setTimeout(STORE_TIMEOUT_MS);

interface Store {
  name: string;
  open(): OperationsRepository;
  cleanup(): Promise<void>;
}

const pgUrl = getTestSettings().postgres_url;
const stores: Store[] = [];
{
  const base = mkdtempSync(join(tmpdir(), 'ktrdr-queue-restart-'));
  stores.push({
    name: 'SQLite file-backed',
    open: () => new SqliteOperationsRepository({ dir: join(base, 'db') }),
    cleanup: async () => rmSync(base, { recursive: true, force: true }),
  });
}
if (pgUrl) {
  const schema = testSchemaName('queue');
  const admin = (sql: string): Promise<void> => pgAdmin(pgUrl, sql);
  let created = false;
  stores.push({
    name: 'PostgreSQL',
    open: () => {
      const repo = new PostgresOperationsRepository({ connectionString: pgUrl, schema });
      const init = repo.init.bind(repo);
      repo.init = async () => {
        if (!created) {
          await admin(`CREATE SCHEMA ${schema}`);
          created = true;
        }
        return init();
      };
      return repo;
    },
    cleanup: () => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  });
} else {
  console.warn('[queue-restart] PostgreSQL case SKIPPED: KTRDR_TEST_POSTGRES_URL is not set');
}

describe.each(stores)('queue across a backend restart on $name', (store) => {
  afterAll(() => store.cleanup());

  it('20 queued operations: none lost, each dispatched exactly once, all complete', async () => {
    const clock = new ManualClock(Date.now());
    const first = store.open();
    await first.init();
    const before = createHarness(undefined, { repo: first, clock });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      clock.advance(1);
      ids.push(
        (
          await before.operations.start(OperationType.BACKTESTING, {
            ...BACKTEST_PARAMS,
            priority: i % 2,
          })
        ).operation_id,
      );
    }
    await before.dispatcher.settle();
    await before.dispatcher.onModuleDestroy();
    await first.close();

    // A new backend process on the same store.
    const second = store.open();
    await second.init();
    const after = createHarness(undefined, { repo: second, clock });
    const queue = await after.operations.list({ status: OperationStatus.PENDING, limit: 100 });
    expect(queue.total_count).toBe(20);
    expect(queue.data.map((o) => o.queue_position)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    for (const id of ['w1', 'w2', 'w3']) {
      after.registry.upsert({
        worker_id: id,
        worker_type: WorkerType.BACKTESTING,
        endpoint_url: `http://${id}:5003`,
        current_operation_id: null,
      });
    }
    await after.dispatcher.settle();
    for (let round = 0; round < 40; round++) {
      const running = await second.findByStatus([OperationStatus.RUNNING]);
      if (running.length === 0) break;
      for (const op of running) {
        await after.operations.complete(op.operation_id, {
          lease_token: op.lease_token!,
          status: CompletionStatus.COMPLETED,
          result: {},
        });
      }
      await after.dispatcher.settle();
    }
    for (const id of ids) expect((await second.get(id))!.status).toBe('completed');
    const sent = after.client.starts.map((s) => s.body.operation_id as string);
    expect(sent.sort()).toEqual([...ids].sort()); // each exactly once
    await after.dispatcher.onModuleDestroy();
    await second.close();
  });
});
