import { systemClock, type Clock } from '@ktrdr/config';
import { CheckpointType, OperationStatus, OperationType } from '@ktrdr/contracts';
import { MIGRATIONS } from '../../src/persistence/migrations';
import type { Migration } from '../../src/persistence/migrations';
import type {
  NewOperation,
  OperationRecord,
  OperationsRepository,
} from '../../src/persistence/operations.repository';
import {
  DuplicateOperationError,
  InvalidOperationInputError,
  SqlOperationsRepository,
} from '../../src/persistence/sql-operations.repository';
import { resultsRepositoryFor } from '../../src/results/results.repository';
import { storedParams } from './params';

/** How the contract suite reaches one store. */
export interface ContractTarget {
  /** A new, not yet initialised repository on the suite's store. */
  create(clock: Clock): OperationsRepository;
  /** Empties the store between tests (default: DELETE FROM the SQL tables). */
  reset?(repo: OperationsRepository): Promise<void>;
  /** A SQL driver (runs the migration tests); default true. */
  sql?: boolean;
  /** The store outlives a repository (file-backed SQLite, PostgreSQL). */
  persistent: boolean;
  /** Several repositories may have the store open at once (PostgreSQL). */
  shared: boolean;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

/** Generous: PostgreSQL in CI may be slow to accept connections on a loaded machine. */
export const STORE_TIMEOUT_MS = 60_000;

const T0 = new Date('2026-11-20T10:00:00.000Z');
const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = OperationStatus;
const { BACKTESTING, TRAINING } = OperationType;

function minutes(n: number): Date {
  return new Date(T0.getTime() + n * 60_000);
}

/**
 * Migration 4 (the attempt history) on a store written at schema 3: the existing operation gets an
 * empty history, and the next claim records its first attempt. `open` makes a repository on one
 * fresh store (with the given migrations; all when none are given).
 */
export async function checkAttemptsMigration(
  open: (migrations?: readonly Migration[]) => SqlOperationsRepository,
): Promise<void> {
  const before = MIGRATIONS.filter((m) => m.version < 4);
  const old = open(before);
  await old.init();
  expect(old.migrationOutcome?.current).toBe(3);
  await old.enqueue(
    { operation_id: 'op_old', operation_type: BACKTESTING, params: storedParams({}) },
    10,
  );
  await old.close();
  const current = open();
  await current.init();
  try {
    expect(current.migrationOutcome?.applied).toEqual(
      MIGRATIONS.filter((m) => m.version >= 4).map((m) => m.version),
    );
    expect((await current.get('op_old'))!.attempts).toEqual([]);
    const claimed = await current.claimNext(BACKTESTING, {
      worker_id: 'w-up',
      lease_token: 'lease-up',
      at: T0,
    });
    expect(claimed!.attempts).toMatchObject([
      { attempt: 1, worker_id: 'w-up', dispatched_at: T0.toISOString(), outcome: null },
    ]);
  } finally {
    await current.close();
  }
}

/**
 * The behaviour every OperationsRepository driver must have. Each spec file runs it against one
 * driver; the tests share one repository per suite and empty the table before each test.
 */
export function describeRepositoryContract(name: string, target: ContractTarget): void {
  describe(`OperationsRepository contract: ${name}`, () => {
    jest.setTimeout(STORE_TIMEOUT_MS);
    let clock = T0;
    /** The repositories' Clock: reads `clock`, which the tests set. */
    const time: Clock = { ...systemClock, now: () => clock.getTime() };
    let repo: OperationsRepository;
    const sqlRepo = (): SqlOperationsRepository => repo as SqlOperationsRepository;
    const reset = async (): Promise<void> => {
      if (target.reset) return target.reset(repo);
      await sqlRepo().executor.query('DELETE FROM operations');
      await sqlRepo().executor.query('DELETE FROM sweeps');
    };

    const op = (id: string, extra: Partial<NewOperation> = {}): NewOperation => ({
      operation_id: id,
      operation_type: BACKTESTING,
      params: storedParams({ symbol: 'SYNTH-A', timeframe: '1h' }),
      ...extra,
    });

    /** Creates and moves an operation into `status` (with lease/worker/completed_at as a service would). */
    async function seed(
      id: string,
      status: OperationStatus,
      createdAt: Date,
      extra: Partial<NewOperation> & { completed_at?: Date; worker_id?: string } = {},
    ): Promise<OperationRecord> {
      const { completed_at, worker_id, ...rest } = extra;
      await repo.create(op(id, { created_at: createdAt, ...rest }));
      const updated = await repo.update(id, {
        status,
        worker_id: worker_id ?? null,
        completed_at: completed_at ?? null,
      });
      if (!updated) throw new Error(`seed ${id} failed`);
      return updated;
    }

    beforeAll(async () => {
      await target.setup?.();
      repo = target.create(time);
      await repo.init();
    });

    beforeEach(async () => {
      clock = T0;
      await reset();
    });

    afterAll(async () => {
      await repo?.close();
      await target.teardown?.();
    });

    describe('create / get', () => {
      it('stores a new operation with defaults and reads it back', async () => {
        const created = await repo.create(op('op_1'));
        expect(created).toEqual({
          operation_id: 'op_1',
          operation_type: BACKTESTING,
          status: PENDING,
          worker_id: null,
          attempt: 0,
          lease_token: null,
          created_at: T0,
          started_at: null,
          completed_at: null,
          updated_at: T0,
          progress: { percentage: 0 },
          params: { symbol: 'SYNTH-A', timeframe: '1h' },
          result: null,
          error_message: null,
          checkpoint: null,
          priority: 0,
          queued_at: T0,
          sweep_id: null,
          resume_from: null,
          attempt_base: 0,
          attempts: [],
        });
        expect(created.created_at).toBeInstanceOf(Date);
        expect(await repo.get('op_1')).toEqual(created);
      });

      it('honours explicit status, created_at and progress', async () => {
        const created = await repo.create(
          op('op_2', {
            operation_type: TRAINING,
            status: RUNNING,
            created_at: minutes(-5),
            progress: { percentage: 12.5, current_step: 'epoch 1/8' },
          }),
        );
        expect(created).toMatchObject({
          operation_type: TRAINING,
          status: RUNNING,
          created_at: minutes(-5),
          updated_at: T0,
          progress: { percentage: 12.5, current_step: 'epoch 1/8' },
        });
      });

      it('returns null for an unknown id', async () => {
        expect(await repo.get('op_missing')).toBeNull();
      });

      it('rejects a duplicate id with DuplicateOperationError and keeps the first', async () => {
        await repo.create(op('op_dup', { params: storedParams({ n: 1 }) }));
        await expect(
          repo.create(op('op_dup', { params: storedParams({ n: 2 }) })),
        ).rejects.toBeInstanceOf(DuplicateOperationError);
        expect((await repo.get('op_dup'))?.params).toEqual({ n: 1 });
      });

      it('rejects invalid input naming the field', async () => {
        await expect(
          repo.create(op('op_bad', { operation_type: 'mining' as OperationType })),
        ).rejects.toThrow(/operation_type must be one of/);
        await expect(
          repo.create(op('op_bad', { status: 'done' as OperationStatus })),
        ).rejects.toThrow(InvalidOperationInputError);
        await expect(repo.create(op(''))).rejects.toThrow(/operation_id/);
        expect(await repo.get('op_bad')).toBeNull();
      });
    });

    describe('JSON and time round trip', () => {
      it('keeps nested JSON, unicode, numbers, nulls and millisecond times', async () => {
        const params = {
          symbol: 'SYNTH-É',
          dates: ['2026-01-01', '2026-02-01'],
          strategy: {
            name: 'sma_crossover',
            parameters: { fast: 5, slow: 20, weights: [0.1, -2.5e-7] },
          },
          flags: { dry: true, note: null, emoji: '📈', quote: 'it\'s "quoted" \\ back' },
          big: 9007199254740991,
        };
        await repo.create(op('op_json', { params: storedParams(params) }));
        const started = new Date('2026-11-20T10:00:00.123Z');
        const completed = new Date('2026-11-20T11:30:59.999Z');
        const checkpoint = {
          type: CheckpointType.PERIODIC,
          created_at: completed.toISOString(),
          unit: 420,
        };
        const result = { metrics: { sharpe: 1.25, trades: 17, equity: [1000, 1010.5] }, empty: {} };
        const progress = {
          percentage: 100,
          current_step: 'done',
          items_processed: 10,
          items_total: 10,
          message: 'ok',
          details: { losses: [0.9, 0.5] },
        };
        const updated = await repo.update('op_json', {
          status: COMPLETED,
          started_at: started,
          completed_at: completed,
          result,
          checkpoint,
          progress,
          error_message: 'none — really',
        });
        const read = await repo.get('op_json');
        expect(read).toEqual(updated);
        expect(read).toMatchObject({
          params,
          result,
          checkpoint,
          progress,
          error_message: 'none — really',
        });
        // Values of this realm (plain objects, real Dates), whatever the driver hands back.
        expect(read?.params).toBeInstanceOf(Object);
        expect(read?.result?.metrics).toBeInstanceOf(Object);
        expect(read?.started_at).toBeInstanceOf(Date);
        expect(read?.started_at?.toISOString()).toBe('2026-11-20T10:00:00.123Z');
        expect(read?.completed_at?.getTime()).toBe(completed.getTime());
      });
    });

    describe('list', () => {
      beforeEach(async () => {
        // Created a minute apart; b1/b2 share a timestamp to check the operation_id tie-break.
        await seed('a', COMPLETED, minutes(1), { completed_at: minutes(2) });
        await seed('b2', RUNNING, minutes(2), { worker_id: 'w1' });
        await seed('b1', PENDING, minutes(2));
        await seed('c', FAILED, minutes(3), { operation_type: TRAINING, completed_at: minutes(4) });
        await seed('d', RUNNING, minutes(4), { operation_type: TRAINING, worker_id: 'w1' });
        await seed('e', CANCELLED, minutes(5), { completed_at: minutes(6) });
      });

      const ids = (records: OperationRecord[]): string[] => records.map((r) => r.operation_id);

      it('returns newest first (created_at desc, then operation_id desc) with counts', async () => {
        const page = await repo.list({ limit: 100, offset: 0 });
        expect(ids(page.data)).toEqual(['e', 'd', 'c', 'b2', 'b1', 'a']);
        expect(page.total_count).toBe(6);
        expect(page.active_count).toBe(3);
        expect(page.data[0].created_at).toBeInstanceOf(Date);
      });

      it('pages with limit and offset while total_count stays the full match count', async () => {
        const first = await repo.list({ limit: 2, offset: 0 });
        const second = await repo.list({ limit: 2, offset: 2 });
        const third = await repo.list({ limit: 2, offset: 4 });
        const beyond = await repo.list({ limit: 2, offset: 10 });
        expect([ids(first.data), ids(second.data), ids(third.data), ids(beyond.data)]).toEqual([
          ['e', 'd'],
          ['c', 'b2'],
          ['b1', 'a'],
          [],
        ]);
        for (const page of [first, second, third, beyond]) {
          expect(page.total_count).toBe(6);
          expect(page.active_count).toBe(3);
        }
      });

      it('filters by status, operation_type and worker_id; active_count ignores the filter', async () => {
        const running = await repo.list({ status: [RUNNING], limit: 10, offset: 0 });
        expect(ids(running.data)).toEqual(['d', 'b2']);
        expect(running.total_count).toBe(2);
        expect(running.active_count).toBe(3);

        const finished = await repo.list({
          status: [COMPLETED, FAILED, CANCELLED],
          limit: 10,
          offset: 0,
        });
        expect(ids(finished.data)).toEqual(['e', 'c', 'a']);
        expect(finished.active_count).toBe(3);

        const training = await repo.list({ operation_type: TRAINING, limit: 10, offset: 0 });
        expect(ids(training.data)).toEqual(['d', 'c']);
        expect(training.total_count).toBe(2);

        const both = await repo.list({
          operation_type: TRAINING,
          status: [RUNNING],
          limit: 10,
          offset: 0,
        });
        expect(ids(both.data)).toEqual(['d']);
        expect(both.total_count).toBe(1);

        const onWorker = await repo.list({ worker_id: 'w1', limit: 1, offset: 1 });
        expect(ids(onWorker.data)).toEqual(['b2']);
        expect(onWorker.total_count).toBe(2);

        const none = await repo.list({
          status: [RUNNING],
          operation_type: BACKTESTING,
          worker_id: 'w9',
          limit: 5,
          offset: 0,
        });
        expect(none).toEqual({ data: [], total_count: 0, active_count: 3 });

        const noStatus = await repo.list({ status: [], limit: 10, offset: 0 });
        expect(noStatus).toEqual({ data: [], total_count: 0, active_count: 3 });
      });

      it('counts zero on an empty store', async () => {
        await reset();
        expect(await repo.list({ limit: 10, offset: 0 })).toEqual({
          data: [],
          total_count: 0,
          active_count: 0,
        });
      });

      it('rejects limit outside 1–1000 and a negative offset, naming the field', async () => {
        await expect(repo.list({ limit: 0, offset: 0 })).rejects.toThrow(/limit/);
        await expect(repo.list({ limit: 1001, offset: 0 })).rejects.toThrow(/limit/);
        await expect(repo.list({ limit: 10, offset: -1 })).rejects.toThrow(/offset/);
        await expect(
          repo.list({ limit: 10, offset: 0, status: ['bogus' as OperationStatus] }),
        ).rejects.toThrow(/status must be one of/);
        expect((await repo.list({ limit: 1000, offset: 0 })).data).toHaveLength(6);
      });
    });

    describe('update (compare-and-set)', () => {
      beforeEach(async () => {
        await repo.create(op('op_u'));
        await repo.update('op_u', {
          status: RUNNING,
          worker_id: 'w1',
          lease_token: 'L1',
          attempt: 1,
        });
      });

      it('applies the patch, leaves other fields and undefined keys alone, and stamps updated_at', async () => {
        clock = minutes(7);
        const updated = await repo.update('op_u', {
          progress: { percentage: 40 },
          error_message: undefined,
        });
        expect(updated).toMatchObject({
          status: RUNNING,
          worker_id: 'w1',
          lease_token: 'L1',
          attempt: 1,
          progress: { percentage: 40 },
          error_message: null,
          created_at: T0,
          updated_at: minutes(7),
        });
        expect(await repo.get('op_u')).toEqual(updated);
      });

      it('sets fields to null', async () => {
        const updated = await repo.update('op_u', { worker_id: null, lease_token: null });
        expect(updated).toMatchObject({ worker_id: null, lease_token: null });
      });

      it('succeeds when status and lease match', async () => {
        const updated = await repo.update(
          'op_u',
          { status: COMPLETED, result: { ok: true }, completed_at: minutes(1) },
          { status: [RUNNING], lease_token: 'L1' },
        );
        expect(updated).toMatchObject({
          status: COMPLETED,
          result: { ok: true },
          completed_at: minutes(1),
        });
      });

      it('fails without changing anything when the status does not match', async () => {
        const before = await repo.get('op_u');
        clock = minutes(9);
        expect(await repo.update('op_u', { status: FAILED }, { status: [PENDING] })).toBeNull();
        expect(await repo.update('op_u', { status: FAILED }, { status: [] })).toBeNull();
        expect(await repo.get('op_u')).toEqual(before);
      });

      it('fails when the lease does not match (stale lease, or expecting no lease)', async () => {
        expect(await repo.update('op_u', { status: COMPLETED }, { lease_token: 'L0' })).toBeNull();
        expect(await repo.update('op_u', { status: COMPLETED }, { lease_token: null })).toBeNull();
        expect((await repo.get('op_u'))?.status).toBe(RUNNING);
      });

      it('with updated_at, applies only when nobody wrote the row since that version', async () => {
        const seen = (await repo.get('op_u'))!;
        clock = minutes(3);
        const progressed = await repo.update('op_u', { progress: { percentage: 10 } });
        expect(progressed?.updated_at).toEqual(minutes(3));
        // A caller still working from `seen` loses; one with the current version wins.
        expect(
          await repo.update('op_u', { status: COMPLETED }, { updated_at: seen.updated_at }),
        ).toBeNull();
        expect((await repo.get('op_u'))?.status).toBe(RUNNING);
        clock = minutes(4);
        const done = await repo.update(
          'op_u',
          { status: COMPLETED },
          { status: [RUNNING], lease_token: 'L1', updated_at: minutes(3) },
        );
        expect(done).toMatchObject({ status: COMPLETED, updated_at: minutes(4) });
      });

      it('matches a null lease with lease_token: null', async () => {
        await repo.create(op('op_nolease'));
        const updated = await repo.update(
          'op_nolease',
          { lease_token: 'L9', status: RUNNING },
          { status: [PENDING], lease_token: null },
        );
        expect(updated).toMatchObject({ lease_token: 'L9', status: RUNNING });
        expect(await repo.update('op_nolease', { attempt: 5 }, { lease_token: null })).toBeNull();
      });

      it('returns null for an unknown id', async () => {
        expect(await repo.update('op_missing', { status: FAILED })).toBeNull();
      });

      it('rejects fields that cannot change and invalid values, naming them', async () => {
        const patch = { operation_id: 'other' } as unknown as Parameters<
          SqlOperationsRepository['update']
        >[1];
        await expect(repo.update('op_u', patch)).rejects.toThrow(
          /field 'operation_id' cannot be changed/,
        );
        await expect(repo.update('op_u', { attempt: -1 })).rejects.toThrow(/attempt/);
        await expect(repo.update('op_u', { status: 'done' as OperationStatus })).rejects.toThrow(
          /status/,
        );
        await expect(repo.update('op_u', { started_at: new Date('nope') })).rejects.toThrow(
          /started_at/,
        );
        await expect(
          repo.update('op_u', { result: [1, 2] as unknown as Record<string, unknown> }),
        ).rejects.toThrow(/result must be a JSON object/);
        expect((await repo.get('op_u'))?.operation_id).toBe('op_u');
      });

      it('applies exactly one of 10 concurrent completions with the same expectation', async () => {
        const attempts = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            repo.update(
              'op_u',
              { status: COMPLETED, result: { winner: i }, completed_at: minutes(1) },
              { status: [RUNNING], lease_token: 'L1' },
            ),
          ),
        );
        const winners = attempts.filter((r): r is OperationRecord => r !== null);
        expect(winners).toHaveLength(1);
        expect(await repo.get('op_u')).toEqual(winners[0]);
      });

      it('lets exactly one of 10 concurrent dispatchers claim a pending operation', async () => {
        await repo.create(op('op_claim'));
        const claims = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            repo.update(
              'op_claim',
              { status: RUNNING, worker_id: `w${i}`, lease_token: `lease-${i}`, attempt: 1 },
              { status: [PENDING], lease_token: null },
            ),
          ),
        );
        const winners = claims.filter((r): r is OperationRecord => r !== null);
        expect(winners).toHaveLength(1);
        const stored = await repo.get('op_claim');
        expect(stored?.lease_token).toBe(winners[0].lease_token);
        expect(stored?.worker_id).toBe(winners[0].worker_id);
      });
    });

    describe('the queue (enqueue, claimNext, queuePositions, sweeps)', () => {
      const claim = (worker: string) => ({
        worker_id: worker,
        lease_token: `lease-${worker}`,
        at: minutes(10),
      });

      it('claims in dispatch order: priority desc, then queued_at, then id; per type', async () => {
        await repo.enqueue(op('op_a', { created_at: minutes(1) }), 100);
        await repo.enqueue(op('op_b', { created_at: minutes(2), priority: 5 }), 100);
        await repo.enqueue(op('op_c', { created_at: minutes(0) }), 100);
        await repo.enqueue(op('op_t', { operation_type: TRAINING, created_at: minutes(-1) }), 100);
        await repo.enqueue(op('op_d', { created_at: minutes(3), priority: -1 }), 100);
        const positions = await repo.queuePositions([
          'op_a',
          'op_b',
          'op_c',
          'op_d',
          'op_t',
          'op_x',
        ]);
        expect(Object.fromEntries(positions)).toEqual({
          op_b: 1,
          op_c: 2,
          op_a: 3,
          op_d: 4,
          op_t: 1,
        });
        expect(await repo.pendingCounts()).toEqual({ backtesting: 4, training: 1 });
        const order: string[] = [];
        for (;;) {
          const next = await repo.claimNext(BACKTESTING, claim('w1'));
          if (!next) break;
          expect(next).toMatchObject({
            status: 'dispatched',
            worker_id: 'w1',
            lease_token: 'lease-w1',
            attempt: 1,
            started_at: minutes(10),
          });
          order.push(next.operation_id);
        }
        expect(order).toEqual(['op_b', 'op_c', 'op_a', 'op_d']);
        expect((await repo.get('op_t'))!.status).toBe('pending');
        const page = await repo.list({ status: [PENDING], order: 'queue', limit: 10, offset: 0 });
        expect(page.data.map((o) => o.operation_id)).toEqual(['op_t']);
      });

      it('never hands one row to two concurrent claimers', async () => {
        for (let i = 0; i < 20; i++) {
          await repo.enqueue(
            op(`op_${String(i).padStart(2, '0')}`, { created_at: minutes(i) }),
            100,
          );
        }
        const claims = await Promise.all(
          Array.from({ length: 30 }, (_, i) => repo.claimNext(BACKTESTING, claim(`w${i}`))),
        );
        const got = claims.filter((c) => c !== null).map((c) => c!.operation_id);
        expect(got).toHaveLength(20);
        expect(new Set(got).size).toBe(20);
      });

      it('enqueue reports the place in its queue, the same as queuePositions', async () => {
        const placed: Record<string, number> = {};
        const add = async (id: string, extra: Partial<NewOperation>): Promise<void> => {
          const queued = await repo.enqueue(op(id, extra), 100);
          expect(queued!.record).toEqual(await repo.get(id));
          placed[id] = queued!.queue_position;
        };
        await add('op_a', { created_at: minutes(1) });
        await add('op_b', { created_at: minutes(2) });
        await add('op_t', { created_at: minutes(0), operation_type: TRAINING });
        await add('op_hi', { created_at: minutes(3), priority: 5 });
        await add('op_b2', { created_at: minutes(2) }); // same queued_at as op_b: id order
        expect(placed).toEqual({ op_a: 1, op_b: 2, op_t: 1, op_hi: 1, op_b2: 4 });
        const now = await repo.queuePositions(Object.keys(placed));
        expect(Object.fromEntries(now)).toEqual({ op_hi: 1, op_a: 2, op_b: 3, op_b2: 4, op_t: 1 });
      });

      it('enqueue refuses beyond maxPending, writing nothing', async () => {
        expect(await repo.enqueue(op('op_1'), 2)).not.toBeNull();
        expect(await repo.enqueue(op('op_2'), 2)).not.toBeNull();
        expect(await repo.enqueue(op('op_3'), 2)).toBeNull();
        expect(await repo.get('op_3')).toBeNull();
      });

      it('stores a sweep with its children in one go, or nothing when the queue cannot take them', async () => {
        const sweep = {
          sweep_id: 'sweep_1',
          operation_type: BACKTESTING,
          created_at: T0,
          base: { symbol: 'SYNTH-A' },
          grid: { fast_period: [5, 10] },
          total: 2,
          children: [
            { operation_id: 'op_s1', grid_values: { fast_period: 5 } },
            { operation_id: 'op_s2', grid_values: { fast_period: 10 } },
          ],
        };
        expect(await repo.createSweep(sweep, [op('op_s1'), op('op_s2')], 1)).toBeNull();
        expect(await repo.getSweep('sweep_1')).toBeNull();
        const created = await repo.createSweep(sweep, [op('op_s1'), op('op_s2')], 10);
        expect(created!.map((c) => [c.operation_id, c.sweep_id, c.status])).toEqual([
          ['op_s1', 'sweep_1', 'pending'],
          ['op_s2', 'sweep_1', 'pending'],
        ]);
        expect(await repo.getSweep('sweep_1')).toEqual(sweep);
        expect((await repo.findBySweep('sweep_1')).map((o) => o.operation_id).sort()).toEqual([
          'op_s1',
          'op_s2',
        ]);
        const page = await repo.list({ sweep_id: 'sweep_1', limit: 10, offset: 0 });
        expect(page.total_count).toBe(2);
      });

      it('keeps priority, queued_at, resume_from and attempt_base through updates', async () => {
        await repo.enqueue(op('op_q', { priority: -7 }), 10);
        const ckpt = { type: CheckpointType.PERIODIC, created_at: T0.toISOString(), unit: 3 };
        const updated = await repo.update('op_q', {
          resume_from: ckpt,
          attempt_base: 2,
          queued_at: minutes(5),
        });
        expect(updated).toMatchObject({
          priority: -7,
          resume_from: ckpt,
          attempt_base: 2,
          queued_at: minutes(5),
        });
      });
    });

    describe('attempt history', () => {
      it('a claim appends an open attempt: its number, the worker, the time, the checkpoint it resumes from', async () => {
        await repo.enqueue(op('op_h'), 10);
        const first = await repo.claimNext(BACKTESTING, {
          worker_id: 'w-1',
          lease_token: 'lease-1',
          at: minutes(1),
        });
        expect(first!.attempts).toEqual([
          {
            attempt: 1,
            worker_id: 'w-1',
            dispatched_at: minutes(1).toISOString(),
            started_at: null,
            ended_at: null,
            outcome: null,
            reason: null,
            resumed_from: null,
          },
        ]);
        // The lifecycle closes it and queues the operation again from a checkpoint.
        const ckpt = {
          type: CheckpointType.PERIODIC,
          created_at: minutes(2).toISOString(),
          unit: 40,
        };
        const closed = [{ ...first!.attempts[0], ended_at: minutes(3).toISOString() }];
        const requeued = await repo.update(
          'op_h',
          {
            status: PENDING,
            worker_id: null,
            lease_token: null,
            resume_from: ckpt,
            attempts: closed,
          },
          { status: [OperationStatus.DISPATCHED], lease_token: 'lease-1' },
        );
        expect(requeued!.attempts).toEqual(closed);
        const second = await repo.claimNext(BACKTESTING, {
          worker_id: 'w-2',
          lease_token: 'lease-2',
          at: minutes(4),
        });
        expect(second!.attempt).toBe(2);
        expect(second!.attempts.map((a) => [a.attempt, a.worker_id, a.resumed_from])).toEqual([
          [1, 'w-1', null],
          [2, 'w-2', ckpt],
        ]);
        expect(second!.attempts[1].dispatched_at).toBe(minutes(4).toISOString());
        expect((await repo.get('op_h'))!.attempts).toEqual(second!.attempts);
      });

      it('refuses attempts that are not an array, naming the field', async () => {
        await repo.create(op('op_h2'));
        await expect(
          repo.update('op_h2', { attempts: {} as unknown as OperationRecord['attempts'] }),
        ).rejects.toThrow(/attempts must be a JSON array/);
      });
    });

    describe('findByStatus', () => {
      it('returns the operations in the given statuses, oldest first', async () => {
        await seed('r2', RUNNING, minutes(3));
        await seed('p1', PENDING, minutes(1));
        await seed('r1', RUNNING, minutes(2));
        await seed('done', COMPLETED, minutes(0), { completed_at: minutes(1) });
        const running = await repo.findByStatus([RUNNING]);
        expect(running.map((r) => r.operation_id)).toEqual(['r1', 'r2']);
        const active = await repo.findByStatus([PENDING, RUNNING]);
        expect(active.map((r) => r.operation_id)).toEqual(['p1', 'r1', 'r2']);
        expect(await repo.findByStatus([])).toEqual([]);
        expect(await repo.findByStatus([CANCELLED])).toEqual([]);
      });
    });

    describe('purgeFinishedBefore', () => {
      it('deletes only finished operations completed before the cutoff', async () => {
        const old = minutes(-60 * 24 * 10);
        const cutoff = minutes(-60 * 24 * 7);
        await seed('old-completed', COMPLETED, old, { completed_at: old });
        await seed('old-failed', FAILED, old, { completed_at: old });
        await seed('old-cancelled', CANCELLED, old, { completed_at: old });
        await seed('at-cutoff', COMPLETED, old, { completed_at: cutoff });
        await seed('new-completed', COMPLETED, old, { completed_at: minutes(0) });
        await seed('old-running', RUNNING, old);
        await seed('old-pending', PENDING, old);
        expect(await repo.purgeFinishedBefore(cutoff)).toBe(3);
        const left = (await repo.list({ limit: 100, offset: 0 })).data
          .map((r) => r.operation_id)
          .sort();
        expect(left).toEqual(['at-cutoff', 'new-completed', 'old-pending', 'old-running']);
        expect(await repo.purgeFinishedBefore(cutoff)).toBe(0);
      });

      it('uses updated_at for a finished row without completed_at', async () => {
        clock = minutes(-100);
        await seed('no-completed-at', FAILED, minutes(-100));
        clock = T0;
        expect(await repo.purgeFinishedBefore(minutes(-50))).toBe(1);
        expect(await repo.get('no-completed-at')).toBeNull();
      });
    });

    describe('result artifact chunks (the results store on this connection)', () => {
      it('stores a binary chunk byte for byte, replaces it by index and reads older JSON chunks', async () => {
        await repo.create(op('op-art'));
        const results = resultsRepositoryFor(repo);
        const values = new Float64Array([1704067200000, 1704070800000, 1000.5, -0.1 + 0.2]);
        const data = new Uint8Array(values.buffer);
        const chunk = {
          operation_id: 'op-art',
          kind: 'equity' as const,
          lease_token: 'L1',
          chunk_index: 0,
          first_row: 0,
          row_count: 2,
          total_rows: 3,
          data,
        };
        expect(await results.putChunk(chunk)).toBe(2);
        const [got] = await results.readChunks('op-art', 'equity', 'L1', 0, 2);
        expect(got!.rows).toBe('');
        expect(Buffer.from(got!.data!).equals(Buffer.from(data))).toBe(true);
        expect([...new Float64Array(new Uint8Array(got!.data!).buffer)]).toEqual([...values]);
        // The same index again replaces the chunk.
        expect(await results.putChunk({ ...chunk, row_count: 1, data: data.subarray(0, 16) })).toBe(
          1,
        );
        // A chunk stored before migration 5: JSON text, no binary.
        await sqlRepo().executor.query(
          `INSERT INTO operation_artifacts
             (operation_id, kind, chunk_index, lease_token, first_row, row_count, total_rows, rows)
           VALUES ('op-art', 'equity', 1, 'L1', 1, 2, 3, '[[1,2],[3,4]]')`,
        );
        const both = await results.readChunks('op-art', 'equity', 'L1', 0, 3);
        expect(both.map((c) => [c.chunk_index, c.row_count, c.data === null, c.rows])).toEqual([
          [0, 1, false, ''],
          [1, 2, true, '[[1,2],[3,4]]'],
        ]);
        expect(await results.listChunks('op-art', 'equity', 'L1')).toHaveLength(2);
      });
    });

    (target.sql === false ? describe.skip : describe)('lifecycle and migrations', () => {
      it('init() is idempotent and the schema has every migration exactly once', async () => {
        await Promise.all([repo.init(), repo.init()]);
        await repo.init();
        const { rows } = await sqlRepo().executor.query<{ version: number; n: number }>(
          'SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version',
        );
        expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
        expect(sqlRepo().migrationOutcome?.current).toBe(MIGRATIONS.length);
        await repo.ping();
      });

      it('a second repository on an already migrated store applies nothing and sees the data', async () => {
        if (!target.persistent) {
          // In memory: a new repository is a new, empty database; check it migrates from zero.
          const other = target.create(time) as SqlOperationsRepository;
          await other.init();
          expect(other.migrationOutcome).toEqual({
            applied: MIGRATIONS.map((m) => m.version),
            current: MIGRATIONS.length,
          });
          expect(await other.get('anything')).toBeNull();
          await other.close();
          return;
        }
        await repo.create(op('survivor', { params: storedParams({ keep: [1, 2, 3] }) }));
        await repo.update('survivor', {
          status: RUNNING,
          lease_token: 'L7',
          checkpoint: { type: CheckpointType.SHUTDOWN, created_at: T0.toISOString(), unit: 3 },
        });
        const before = await repo.get('survivor');
        if (!target.shared) await repo.close(); // the suite's own repository is reopened below
        const reopened = target.create(time) as SqlOperationsRepository;
        await reopened.init();
        expect(reopened.migrationOutcome).toEqual({ applied: [], current: MIGRATIONS.length });
        expect(await reopened.get('survivor')).toEqual(before);
        if (target.shared) {
          await reopened.close();
        } else {
          repo = reopened; // the rest of the suite continues on the reopened store
        }
      });

      it('a closed repository rejects calls with a clear error', async () => {
        const other = target.create(time);
        if (!target.shared && target.persistent) {
          // Closing a repository that was never opened is enough.
          await other.close();
        } else {
          await other.init();
          await other.close();
          await other.close(); // idempotent
        }
        await expect(other.get('x')).rejects.toThrow(/closed/);
        await expect(other.init()).rejects.toThrow(/closed/);
      });
    });
  });
}
