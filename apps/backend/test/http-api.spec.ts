import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import {
  ACTIVE_OPERATION_STATUSES,
  CheckpointType,
  OperationStatus,
  REGISTRATION_TOKEN_HEADER,
} from '@ktrdr/contracts';
import { DispatchService } from '../src/operations/dispatch.service';
import { memoryStore } from './support/memory-store';
import { SQLITE_MEMORY_DIR } from '../src/persistence/sqlite-executor';
import { SqliteOperationsRepository } from '../src/persistence/sqlite-operations.repository';
import type { OperationsRepository } from '../src/persistence/operations.repository';
import { WorkerRegistry } from '../src/workers/worker-registry';
import { ShutdownService } from '../src/shutdown.service';
import { FakeWorkers } from './support/fake-worker';
import { testSettings } from './support/settings';
import { BACKTEST_PARAMS, TRAINING_PARAMS } from './support/harness';
import { authed, createTestApp, type TestApp } from './support/test-app';

type Server = Parameters<typeof request>[0];

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

/** The error envelope, nothing else (no stack traces). */
function expectEnvelope(body: unknown, statusCode: number, message: RegExp): void {
  expect(Object.keys(body as object).sort()).toEqual(['error', 'message', 'statusCode']);
  expect(body).toMatchObject({ statusCode });
  expect((body as { message: string }).message).toMatch(message);
  expect(JSON.stringify(body)).not.toMatch(/\n\s+at |\.ts:\d+/);
}

const drivers: [string, () => OperationsRepository][] = [
  ['SQLite in memory', () => new SqliteOperationsRepository({ dir: SQLITE_MEMORY_DIR })],
];

describe.each(drivers)('HTTP API on %s', (_name, makeRepository) => {
  // Generous: some tests move 17 MB bodies, and CI machines are shared.
  jest.setTimeout(30_000);
  const fake = new FakeWorkers();
  let t: TestApp;
  let http: Server;
  let registry: WorkerRegistry;

  beforeAll(async () => {
    await fake.start();
    t = await createTestApp({ repository: makeRepository() });
    http = t.app.getHttpServer() as Server;
    registry = t.app.get(WorkerRegistry);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await fake.stop();
  });

  beforeEach(async () => {
    for (const w of registry.all()) registry.remove(w.worker_id);
    // Every test starts with an empty queue (operations left active by a previous test end here).
    for (const op of await t.repository.findByStatus(ACTIVE_OPERATION_STATUSES)) {
      await t.repository.update(op.operation_id, { status: OperationStatus.CANCELLED });
    }
    fake.requests.length = 0;
  });

  /** Waits until the dispatcher has handed out what it can. */
  const settle = () => t.app.get(DispatchService).settle();

  const registerFake = (name: string, type = 'backtesting', extra: object = {}) =>
    authed(http)
      .post('/api/v1/workers/register')
      .send({ worker_id: name, worker_type: type, endpoint_url: fake.url(name), ...extra });

  const startBacktest = () => authed(http).post('/api/v1/backtests/start').send(BACKTEST_PARAMS);

  describe('workers', () => {
    it('POST /workers/register upserts and returns the record with stop_operations', async () => {
      const res = await registerFake('bw1', 'backtesting', {
        capabilities: { cpu_count: 4 },
        metadata: { version: '1.0' },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        worker_id: 'bw1',
        worker_type: 'backtesting',
        endpoint_url: fake.url('bw1'),
        status: 'available',
        current_operation_id: null,
        capabilities: { cpu_count: 4 },
        metadata: { version: '1.0' },
        health_check_failures: 0,
        stop_operations: [],
      });
      expect(res.body.registered_at).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
      expect((await registerFake('bw1')).status).toBe(200);
      expect(registry.size).toBe(1);
    });

    it('accepts cpu_training as an alias of training and drops a duplicate endpoint', async () => {
      await authed(http)
        .post('/api/v1/workers/register')
        .send({ worker_id: 'old-id', worker_type: 'training', endpoint_url: fake.url('tw') })
        .expect(200);
      const res = await authed(http)
        .post('/api/v1/workers/register')
        .send({ worker_id: 'new-id', worker_type: 'cpu_training', endpoint_url: fake.url('tw') });
      expect(res.status).toBe(200);
      expect(res.body.worker_type).toBe('training');
      const list = await authed(http).get('/api/v1/workers').expect(200);
      expect(list.body.workers.map((w: { worker_id: string }) => w.worker_id)).toEqual(['new-id']);
    });

    it.each([
      [{ worker_type: 'backtesting', endpoint_url: 'http://x:1' }, /^worker_id /],
      [
        { worker_id: 'a', worker_type: 'quantum', endpoint_url: 'http://x:1' },
        /^worker_type must be one of the following values/,
      ],
      [
        { worker_id: 'a', worker_type: 'backtesting', endpoint_url: 'not a url' },
        /^endpoint_url must be an http\(s\) URL/,
      ],
      [
        { worker_id: 'a', worker_type: 'backtesting', endpoint_url: 'http://x:1', extra: 1 },
        /^extra: unknown field/,
      ],
      [
        { worker_id: 'a b', worker_type: 'backtesting', endpoint_url: 'http://x:1' },
        /^worker_id must start with a letter or digit/,
      ],
      [
        {
          worker_id: 'a',
          worker_type: 'backtesting',
          endpoint_url: 'http://x:1',
          capabilities: { gpu: 'yes' },
        },
        /^capabilities\.gpu must be a boolean/,
      ],
      [
        {
          worker_id: 'a',
          worker_type: 'backtesting',
          endpoint_url: 'http://x:1',
          completed_operations: [{ operation_id: 'op1', status: 'done' }],
        },
        /completed_operations\.0\.lease_token/,
      ],
    ])('POST /workers/register rejects %j with 400 naming the field', async (body, message) => {
      const res = await authed(http).post('/api/v1/workers/register').send(body);
      expect(res.status).toBe(400);
      expectEnvelope(res.body, 400, message);
    });

    it('rejects malformed JSON and non-object bodies with 400', async () => {
      const bad = await authed(http)
        .post('/api/v1/workers/register')
        .set('content-type', 'application/json')
        .send('{"worker_id": ');
      expect(bad.status).toBe(400);
      expectEnvelope(bad.body, 400, /^body is not valid JSON: /);
      const arr = await authed(http).post('/api/v1/workers/register').send([1, 2]);
      expectEnvelope(arr.body, 400, /body must be a JSON object/);
      const none = await authed(http).post('/api/v1/workers/register');
      expect(none.status).toBe(400);
    });

    it('GET /workers filters by worker_type and status; bad filters are 400', async () => {
      await registerFake('b1');
      await registerFake('t1', 'training');
      const res = await authed(http).get('/api/v1/workers?worker_type=training').expect(200);
      expect(res.body).toEqual({
        total: 1,
        workers: [expect.objectContaining({ worker_id: 't1' })],
      });
      const avail = await authed(http).get('/api/v1/workers?status=available').expect(200);
      expect(avail.body.total).toBe(2);
      expectEnvelope(
        (await authed(http).get('/api/v1/workers?status=sleeping').expect(400)).body,
        400,
        /^status must be one of/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/workers?worker_type=x').expect(400)).body,
        400,
        /^worker_type must be one of/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/workers?colour=red').expect(400)).body,
        400,
        /^colour: unknown field/,
      );
    });

    it('GET /workers/{id}: the record, 404 with a clear message, 400 for a malformed id', async () => {
      await registerFake('b1');
      expect((await authed(http).get('/api/v1/workers/b1').expect(200)).body.worker_id).toBe('b1');
      expectEnvelope(
        (await authed(http).get('/api/v1/workers/nope').expect(404)).body,
        404,
        /Worker nope is not registered/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/workers/%20bad').expect(400)).body,
        400,
        /^id must be/,
      );
    });

    it('POST /workers/{id}/heartbeat: registered flag, cancel list, validation', async () => {
      const unknown = await authed(http)
        .post('/api/v1/workers/ghost/heartbeat')
        .send({ status: 'available' })
        .expect(200);
      expect(unknown.body).toEqual({ registered: false, cancel_operations: [] });
      await registerFake('b1');
      const ok = await authed(http)
        .post('/api/v1/workers/b1/heartbeat')
        .send({ status: 'busy', current_operation_id: 'op_unknown', progress: { percentage: 5 } })
        .expect(200);
      expect(ok.body).toEqual({ registered: true, cancel_operations: ['op_unknown'] });
      const bad = await authed(http)
        .post('/api/v1/workers/b1/heartbeat')
        .send({ status: 'sleeping' })
        .expect(400);
      expectEnvelope(bad.body, 400, /^status must be one of the following values: available, busy/);
      const badProgress = await authed(http)
        .post('/api/v1/workers/b1/heartbeat')
        .send({ status: 'busy', progress: { percentage: 140 } })
        .expect(400);
      expectEnvelope(badProgress.body, 400, /^progress\.percentage must not be greater than 100/);
    });

    it('GET /metrics/workers summarises by status and type', async () => {
      await registerFake('b1');
      await registerFake('t1', 'training');
      const res = await authed(http).get('/api/v1/metrics/workers').expect(200);
      expect(res.body.all).toEqual({ total: 2, available: 2, busy: 0, temporarily_unavailable: 0 });
      expect(res.body.by_type.training).toEqual({
        total: 1,
        available: 1,
        busy: 0,
        temporarily_unavailable: 0,
      });
    });
  });

  describe('operations', () => {
    it('POST /backtests/start queues (202) when no backtesting worker exists, says why, and dispatches on registration', async () => {
      await registerFake('t1', 'training');
      const res = await startBacktest().expect(202);
      expect(res.body).toMatchObject({ success: true, status: 'pending', queue_position: 1 });
      expect(res.body.message).toMatch(
        /^Queued: next in line; no backtesting worker registered yet — start one with/,
      );
      const id = res.body.operation_id as string;
      const queue = await authed(http).get('/api/v1/operations?status=pending').expect(200);
      expect(queue.body.data).toEqual([
        expect.objectContaining({ operation_id: id, queue_position: 1, priority: 0 }),
      ]);
      expect(queue.body.data[0].wait_reason).toMatch(/no backtesting worker registered yet/);
      await registerFake('b0');
      await settle();
      const one = await authed(http).get(`/api/v1/operations/${id}`).expect(200);
      expect(one.body.data).toMatchObject({
        status: 'running',
        worker_id: 'b0',
        queue_position: null,
      });
    });

    it('POST /backtests/start: priority out of bounds is a 400 and queues nothing', async () => {
      const res = await authed(http)
        .post('/api/v1/backtests/start')
        .send({ ...BACKTEST_PARAMS, priority: 1000 })
        .expect(400);
      expectEnvelope(res.body, 400, /^priority must not be greater than 100/);
      const queue = await authed(http).get('/api/v1/operations?status=pending').expect(200);
      expect(queue.body.data).toEqual([]);
    });

    it('sweeps: a 3 × 2 grid queues 6 children, GET ranks them by a metric, DELETE cancels the rest', async () => {
      const res = await authed(http)
        .post('/api/v1/backtests/sweep')
        .send({ base: BACKTEST_PARAMS, grid: { fast_period: [5, 10, 20], slow_period: [30, 50] } })
        .expect(202);
      expect(res.body).toMatchObject({ success: true, operation_type: 'backtesting', total: 6 });
      const ids = res.body.operation_ids as string[];
      const sweepId = res.body.sweep_id as string;
      await registerFake('s1');
      await settle();
      // Complete them one by one as the worker would, each with its own Sharpe ratio.
      for (let i = 0; i < 6; i++) {
        const running = (await t.repository.findByStatus([OperationStatus.RUNNING]))[0]!;
        const index = ids.indexOf(running.operation_id);
        await authed(http)
          .post(`/api/v1/operations/${running.operation_id}/complete`)
          .send({
            lease_token: running.lease_token,
            status: 'completed',
            result: { sharpe_ratio: [0.5, 2, -1, 1.5, 0.1, 3][index], total_return: index },
          })
          .expect(200);
        await settle();
      }
      const ranked = await authed(http)
        .get(`/api/v1/sweeps/${sweepId}?sort=sharpe_ratio`)
        .expect(200);
      expect(ranked.body.data).toMatchObject({ sweep_id: sweepId, total: 6, sort: 'sharpe_ratio' });
      expect(ranked.body.data.counts).toMatchObject({ completed: 6, pending: 0 });
      expect(
        ranked.body.data.children.map(
          (c: { metrics: { sharpe_ratio: number } }) => c.metrics.sharpe_ratio,
        ),
      ).toEqual([3, 2, 1.5, 0.5, 0.1, -1]);
      expect(ranked.body.data.children[0].grid_values).toEqual({
        fast_period: 20,
        slow_period: 50,
      });
      const asc = await authed(http).get(`/api/v1/sweeps/${sweepId}?sort=sharpe_ratio&order=asc`);
      expect(asc.body.data.children[0].metrics.sharpe_ratio).toBe(-1);
      const again = await authed(http).delete(`/api/v1/sweeps/${sweepId}`).expect(200);
      expect(again.body).toMatchObject({ cancelled: 0, already_finished: 6 });
      expectEnvelope(
        (await authed(http).get('/api/v1/sweeps/sweep_nope').expect(404)).body,
        404,
        /Sweep sweep_nope not found/,
      );
    });

    it('sweeps: an invalid child or a grid over the bound is a 400 naming it, and nothing is queued', async () => {
      const bad = await authed(http)
        .post('/api/v1/backtests/sweep')
        .send({ base: BACKTEST_PARAMS, grid: { fast_period: [10, 40], slow_period: [30] } })
        .expect(400);
      expectEnvelope(
        bad.body,
        400,
        /^base\.strategy\.fast_period must be less than slow_period \(child 2: fast_period=40, slow_period=30\)/,
      );
      // A problem every child has is said once, with how many have it.
      const same = await authed(http)
        .post('/api/v1/backtests/sweep')
        .send({ base: BACKTEST_PARAMS, grid: { fast: [5, 10, 20], slow_period: [50, 100] } })
        .expect(400);
      expect(same.body.message).toBe(
        'base.strategy.fast: unknown field (not allowed) (all 6 children, e.g. child 1: fast=5, slow_period=50)',
      );
      const big = await authed(http)
        .post('/api/v1/backtests/sweep')
        .send({
          base: BACKTEST_PARAMS,
          grid: {
            fast_period: Array.from({ length: 40 }, (_, i) => i + 1),
            slow_period: Array.from({ length: 30 }, (_, i) => i + 100),
          },
        })
        .expect(400);
      expectEnvelope(
        big.body,
        400,
        /at most 1000 are allowed per sweep \(KTRDR_OPS_MAX_SWEEP_CHILDREN\)/,
      );
      const queue = await authed(http).get('/api/v1/operations?status=pending').expect(200);
      expect(queue.body.data).toEqual([]);
      const pending = await authed(http)
        .post('/api/v1/trainings/sweep')
        .send({ base: TRAINING_PARAMS, grid: { epochs: [2, 3] } })
        .expect(202);
      const del = await authed(http).delete(`/api/v1/sweeps/${pending.body.sweep_id}`).expect(200);
      expect(del.body).toMatchObject({ cancelled: 2, already_finished: 0 });
    });

    it.each([
      [{ ...BACKTEST_PARAMS, symbol: '../etc' }, /^symbol must be/],
      [{ ...BACKTEST_PARAMS, timeframe: '2h' }, /^timeframe must be one of/],
      [{ ...BACKTEST_PARAMS, end_date: '2023-01-01' }, /^end_date must be after start_date/],
      [
        {
          ...BACKTEST_PARAMS,
          strategy: { type: 'sma_crossover', fast_period: 50, slow_period: 30 },
        },
        /^strategy\.fast_period must be less than slow_period/,
      ],
      [{ ...BACKTEST_PARAMS, strategy: { type: 'magic' } }, /^strategy\.type must be one of/],
      [{ ...BACKTEST_PARAMS, commission: -1 }, /^commission must not be less than 0/],
      [{ ...BACKTEST_PARAMS, leverage: 10 }, /^leverage: unknown field/],
    ])('POST /backtests/start rejects %j with 400 naming the field', async (body, message) => {
      await registerFake('b1');
      const res = await authed(http).post('/api/v1/backtests/start').send(body).expect(400);
      expectEnvelope(res.body, 400, message);
      expect(fake.requests).toHaveLength(0);
    });

    it.each([
      [{ ...TRAINING_PARAMS, features: ['nope'] }, /^features must only contain: /],
      [{ ...TRAINING_PARAMS, model: { hidden_layers: [] } }, /^model\.hidden_layers /],
      [{ ...TRAINING_PARAMS, learning_rate: 5 }, /^learning_rate must not be greater than 1/],
      [{ ...TRAINING_PARAMS, epochs: 1.5 }, /^epochs must be an integer/],
    ])('POST /trainings/start rejects %j with 400 naming the field', async (body, message) => {
      const res = await authed(http).post('/api/v1/trainings/start').send(body).expect(400);
      expectEnvelope(res.body, 400, message);
    });

    it('dispatches a backtest to a fake worker, reports progress and completion, serves results', async () => {
      await registerFake('b1');
      const start = await startBacktest().expect(202);
      expect(start.body).toMatchObject({ success: true, operation_id: expect.any(String) });
      const id = start.body.operation_id as string;
      await settle();
      expect(id).toMatch(/^op_backtesting_\d{8}_[0-9a-f]{12}$/);
      const [sent] = fake.requestsTo('b1', '/backtests/start');
      const body = sent!.body as Record<string, unknown>;
      expect(body).toMatchObject({
        operation_id: id,
        attempt: 1,
        resume_from: null,
        params: BACKTEST_PARAMS,
      });
      // The parameters travel nested only, never spread beside the dispatch fields.
      expect(Object.keys(body).sort()).toEqual([
        'attempt',
        'lease_token',
        'operation_id',
        'params',
        'resume_from',
      ]);
      const lease = body.lease_token as string;

      const one = await authed(http).get(`/api/v1/operations/${id}`).expect(200);
      expect(one.body).toMatchObject({
        success: true,
        data: { operation_id: id, status: 'running', worker_id: 'b1', attempt: 1 },
      });
      expect(one.body.data).not.toHaveProperty('lease_token');
      expectEnvelope(
        (await authed(http).get(`/api/v1/operations/${id}/results`).expect(400)).body,
        400,
        /results are available once it has completed/,
      );

      const ckpt = {
        type: CheckpointType.PERIODIC,
        created_at: '2026-11-22T10:00:00.000Z',
        unit: 10,
      };
      await authed(http)
        .post(`/api/v1/operations/${id}/progress`)
        .send({
          lease_token: lease,
          progress: { percentage: 50, current_step: 'bar 5' },
          checkpoint: ckpt,
        })
        .expect(200, { acknowledged: true, status: 'running' });
      expectEnvelope(
        (
          await authed(http)
            .post(`/api/v1/operations/${id}/progress`)
            .send({ lease_token: 'stale', progress: { percentage: 60 } })
            .expect(409)
        ).body,
        409,
        /Stale lease/,
      );
      expectEnvelope(
        (
          await authed(http)
            .post(`/api/v1/operations/${id}/progress`)
            .send({ lease_token: lease, progress: { percent: 1 } })
            .expect(400)
        ).body,
        400,
        /progress\.percentage/,
      );
      // A realistic result is larger than Express's 100 kB default body limit.
      const equity_curve = Array.from({ length: 30000 }, (_, i) => 10000 + i * 0.25);
      const complete = {
        lease_token: lease,
        status: 'completed',
        result: { total_return: 0.12, trades: 4, equity_curve },
      };
      expect(JSON.stringify(complete).length).toBeGreaterThan(150_000);
      await authed(http)
        .post(`/api/v1/operations/${id}/complete`)
        .send(complete)
        .expect(200, { acknowledged: true, status: 'completed' });
      await authed(http)
        .post(`/api/v1/operations/${id}/complete`)
        .send(complete)
        .expect(200, { acknowledged: true, status: 'completed' });
      await authed(http)
        .post(`/api/v1/operations/${id}/complete`)
        .send({ ...complete, lease_token: 'stale' })
        .expect(409);
      expectEnvelope(
        (
          await authed(http)
            .post(`/api/v1/operations/${id}/complete`)
            .send({ ...complete, status: 'done' })
            .expect(400)
        ).body,
        400,
        /^status must be one of the following values: completed, failed, cancelled/,
      );
      const results = await authed(http).get(`/api/v1/operations/${id}/results`).expect(200);
      expect(results.body).toEqual({
        success: true,
        data: {
          operation_id: id,
          operation_type: 'backtesting',
          status: 'completed',
          completed_at: expect.any(String),
          result: { total_return: 0.12, trades: 4, equity_curve },
          links: {
            trades: `/api/v1/operations/${id}/results/trades`,
            trades_csv: `/api/v1/operations/${id}/results/trades.csv`,
            equity_csv: `/api/v1/operations/${id}/results/equity.csv`,
          },
        },
      });
      // The status endpoint carries headline metrics only, in the same envelope.
      const status = await authed(http).get(`/api/v1/operations/${id}`).expect(200);
      expect(status.body.data.metrics).toEqual({ total_return: 0.12 });
      expect(status.body.data).not.toHaveProperty('result');
      const oversized = {
        lease_token: lease,
        progress: { percentage: 1, message: 'x'.repeat(17 * 1024 * 1024) },
      };
      expectEnvelope(
        (await authed(http).post(`/api/v1/operations/${id}/progress`).send(oversized).expect(413))
          .body,
        413,
        /too large/,
      );
      expect(registry.get('b1')!.status).toBe('available');
      expectEnvelope(
        (await authed(http).delete(`/api/v1/operations/${id}`).expect(400)).body,
        400,
        /already completed/,
      );
    }, 30_000);

    it('skips a worker answering 503 and dispatches a training GPU-first on /trainings/start', async () => {
      await registerFake('cpu1', 'training', { capabilities: { gpu: false } });
      await registerFake('gpu1', 'gpu_host', { capabilities: { gpu: true } });
      fake.set('gpu1', { startStatus: 503 });
      const res = await authed(http)
        .post('/api/v1/trainings/start')
        .send(TRAINING_PARAMS)
        .expect(202);
      await settle();
      const op = await authed(http).get(`/api/v1/operations/${res.body.operation_id}`);
      expect(op.body.data.worker_id).toBe('cpu1');
      expect(fake.requestsTo('gpu1', '/trainings/start')).toHaveLength(1);
      expect(fake.requestsTo('cpu1', '/trainings/start')).toHaveLength(1);
      fake.set('gpu1', { startStatus: 200 });
    });

    it('DELETE /operations/{id} forwards the cancel to the worker and returns it in the next heartbeat', async () => {
      await registerFake('b2');
      const id = (await startBacktest().expect(202)).body.operation_id as string;
      await settle();
      const res = await authed(http).delete(`/api/v1/operations/${id}`).expect(200);
      // The forward runs in the background: wait for it to arrive.
      for (
        let i = 0;
        i < 100 && fake.requestsTo('b2', `/api/v1/operations/${id}/cancel`).length === 0;
        i++
      ) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(res.body).toMatchObject({ success: true, operation_id: id, status: 'cancelled' });
      expect(fake.requestsTo('b2', `/api/v1/operations/${id}/cancel`)).toEqual([
        expect.objectContaining({ method: 'DELETE' }),
      ]);
      const hb = await authed(http)
        .post('/api/v1/workers/b2/heartbeat')
        .send({ status: 'busy', current_operation_id: id })
        .expect(200);
      expect(hb.body).toEqual({ registered: true, cancel_operations: [id] });
      expectEnvelope(
        (await authed(http).delete('/api/v1/operations/op_nope').expect(404)).body,
        404,
        /Operation op_nope not found/,
      );
    });

    it('POST /operations/{id}/resume: 409 when running; 202 back to the queue, from the checkpoint when there is one', async () => {
      await registerFake('b3');
      const id = (await startBacktest().expect(202)).body.operation_id as string;
      await settle();
      const lease = (fake.requestsTo('b3', '/backtests/start')[0]!.body as { lease_token: string })
        .lease_token;
      expectEnvelope(
        (await authed(http).post(`/api/v1/operations/${id}/resume`).expect(409)).body,
        409,
        /only failed or cancelled/,
      );
      await authed(http)
        .post(`/api/v1/operations/${id}/complete`)
        .send({ lease_token: lease, status: 'failed', error_message: 'engine crashed' })
        .expect(200);
      await t.repository.update(id, {
        checkpoint: {
          type: CheckpointType.FAILURE,
          created_at: '2026-11-22T10:00:00.000Z',
          unit: 7,
        },
      });
      const res = await authed(http).post(`/api/v1/operations/${id}/resume`).expect(202);
      expect(res.body).toMatchObject({ success: true, operation_id: id });
      expect(res.body.message).toMatch(/^Resumed from its failure checkpoint at 7/);
      await settle();
      const second = fake.requestsTo('b3', '/backtests/start')[1]!.body as Record<string, unknown>;
      expect(second).toMatchObject({ attempt: 2, resume_from: { type: 'failure', unit: 7 } });
      expect(second.lease_token).not.toBe(lease);
      expectEnvelope(
        (await authed(http).post('/api/v1/operations/op_nope/resume').expect(404)).body,
        404,
        /not found/,
      );
    });

    it('GET /operations lists with filters, limit and offset; invalid values are 400', async () => {
      await registerFake('b4');
      await registerFake('b5');
      await startBacktest().expect(202);
      await startBacktest().expect(202);
      await settle();
      const res = await authed(http)
        .get('/api/v1/operations?operation_type=backtesting&status=running&limit=1&offset=0')
        .expect(200);
      expect(res.body.success).toBe(true);
      expect(res.body.data).toHaveLength(1);
      expect(res.body.total_count).toBeGreaterThanOrEqual(2);
      expect(res.body.active_count).toBeGreaterThanOrEqual(2);
      const page2 = await authed(http)
        .get('/api/v1/operations?operation_type=backtesting&status=running&limit=1&offset=1')
        .expect(200);
      expect(page2.body.data[0].operation_id).not.toBe(res.body.data[0].operation_id);
      expectEnvelope(
        (await authed(http).get('/api/v1/operations?limit=0').expect(400)).body,
        400,
        /^limit must not be less than 1/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/operations?limit=1001').expect(400)).body,
        400,
        /^limit must not be greater than 1000/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/operations?limit=abc').expect(400)).body,
        400,
        /(^|; )limit must be an integer number/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/operations?offset=-1').expect(400)).body,
        400,
        /^offset must not be less than 0/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/operations?status=done').expect(400)).body,
        400,
        /^status must be one of/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/operations?operation_type=x').expect(400)).body,
        400,
        /^operation_type must be one of/,
      );
      expectEnvelope(
        (await authed(http).get('/api/v1/operations/op_missing').expect(404)).body,
        404,
        /Operation op_missing not found/,
      );
    });
  });

  describe('operability', () => {
    it('GET /health is liveness with the orphan detector status; /health/ready pings the store', async () => {
      const live = await authed(http).get('/api/v1/health').expect(200);
      expect(live.body.status).toBe('ok');
      expect(live.body.info.orphan_detector).toMatchObject({ status: 'up', timeout_seconds: 60 });
      const ready = await authed(http).get('/api/v1/health/ready').expect(200);
      expect(ready.body.info.store.status).toBe('up');
    });

    it('GET /metrics exposes the KTRDR metrics and route templates', async () => {
      await registerFake('m1');
      await authed(http).get('/api/v1/workers/m1').expect(200);
      const res = await authed(http).get('/metrics').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      for (const name of [
        'ktrdr_workers_registered{worker_type="backtesting"} 1',
        'ktrdr_workers_available{worker_type="backtesting"} 1',
        'ktrdr_workers{worker_type="backtesting",status="available"} 1',
        'ktrdr_workers{worker_type="backtesting",status="temporarily_unavailable"} 0',
        'ktrdr_operations_active',
        'ktrdr_operations_total{operation_type="backtesting",status="completed"}',
        'ktrdr_operation_duration_seconds_bucket{le="14400"',
        'ktrdr_dispatch_duration_seconds',
        'http_request_duration_seconds_bucket{le="0.001",method="GET",route="/api/v1/workers/:id",status_code="200"}',
        'process_cpu_user_seconds_total',
      ]) {
        if (name.startsWith('ktrdr_operation_duration_seconds_bucket')) {
          expect(res.text).toMatch(/# TYPE ktrdr_operation_duration_seconds histogram/);
          continue;
        }
        expect(res.text).toContain(name);
      }
      expect(res.text).not.toMatch(/route="\/api\/v1\/workers\/m1"/);
    });

    (hasPromtool ? it : it.skip)('GET /metrics passes `promtool check metrics`', async () => {
      await registerFake('m2');
      await startBacktest().expect(202);
      await settle();
      const res = await authed(http).get('/metrics').expect(200);
      const check = spawnSync('promtool', ['check', 'metrics'], {
        input: res.text,
        encoding: 'utf8',
      });
      expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({
        status: 0,
        output: '',
      });
    });

    it('serves Swagger UI and the OpenAPI document with every endpoint and the package version', async () => {
      const ui = await authed(http).get('/api/docs/').expect(200);
      expect(ui.text).toMatch(/swagger-ui/i);
      const doc = (await authed(http).get('/api/docs-json').expect(200)).body;
      const version = (
        JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
      expect(doc.info.version).toBe(version);
      const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
        ([p, m]) => Object.keys(m).map((verb) => `${verb.toUpperCase()} ${p}`),
      );
      expect(ops.sort()).toEqual(
        [
          'POST /api/v1/workers/register',
          'GET /api/v1/workers',
          'GET /api/v1/workers/{id}',
          'POST /api/v1/workers/{id}/heartbeat',
          'POST /api/v1/workers/{id}/drain',
          'DELETE /api/v1/workers/{id}/drain',
          'GET /api/v1/operations',
          'GET /api/v1/operations/{id}',
          'POST /api/v1/backtests/sweep',
          'POST /api/v1/trainings/sweep',
          'GET /api/v1/sweeps/{id}',
          'DELETE /api/v1/sweeps/{id}',
          'DELETE /api/v1/operations/{id}',
          'GET /api/v1/operations/{id}/results',
          'GET /api/v1/operations/{id}/results/trades',
          'GET /api/v1/operations/{id}/results/trades.csv',
          'GET /api/v1/operations/{id}/results/equity.csv',
          'POST /api/v1/operations/{id}/artifacts/{kind}',
          'PUT /api/v1/operations/{id}/artifacts/{kind}/chunks/{index}',
          'GET /api/v1/models',
          'POST /api/v1/operations/{id}/resume',
          'POST /api/v1/operations/{id}/progress',
          'POST /api/v1/operations/{id}/complete',
          'POST /api/v1/backtests/start',
          'POST /api/v1/trainings/start',
          'GET /api/v1/health',
          'GET /api/v1/health/ready',
          'GET /api/v1/metrics/workers',
          'GET /api/v1/metrics/prometheus',
          'GET /health',
          'GET /api/v1/events',
          'GET /metrics',
        ].sort(),
      );
      for (const schema of [
        'RegisterWorkerRequestDto',
        'RegisterWorkerResponseDto',
        'OperationListResponseDto',
        'BacktestStartRequestDto',
        'TrainingStartRequestDto',
        'ErrorResponseDto',
        'WorkerSummaryDto',
        'ReportAckDto',
        'BacktestResultDto',
        'TrainingResultDto',
        'OperationResultsResponseDto',
        'TradeListResponseDto',
        'ModelListResponseDto',
        'OperationEventDto',
        'WorkerEventDto',
        'StreamGapEventDto',
        'StreamDroppedEventDto',
      ]) {
        expect(doc.components.schemas).toHaveProperty(schema);
      }
      expect(Object.keys(doc.paths['/api/v1/events'].get.responses['200'].content)).toEqual([
        'text/event-stream',
      ]);
    });

    it('unknown routes get the envelope', async () => {
      expectEnvelope(
        (await authed(http).get('/api/v1/nothing').expect(404)).body,
        404,
        /Cannot GET/,
      );
    });
  });
});

describe('HTTP API: registration token, readiness failure, shutdown', () => {
  const fake = new FakeWorkers();
  let t: TestApp;
  let http: Server;
  const repo = memoryStore();

  beforeAll(async () => {
    await fake.start();
    t = await createTestApp({
      repository: repo,
      settings: testSettings({ worker: { registration_token: 's3cret-token' } }),
    });
    http = t.app.getHttpServer() as Server;
  });
  afterAll(async () => {
    await t?.close();
    await fake.stop();
  });

  const body = () => ({
    worker_id: 'w1',
    worker_type: 'backtesting',
    endpoint_url: fake.url('w1'),
  });

  it('requires the token on register, heartbeat, progress and complete (401 otherwise)', async () => {
    expectEnvelope(
      (await authed(http).post('/api/v1/workers/register').send(body()).expect(401)).body,
      401,
      new RegExp(REGISTRATION_TOKEN_HEADER),
    );
    await authed(http)
      .post('/api/v1/workers/register')
      .set(REGISTRATION_TOKEN_HEADER, 'wrong')
      .send(body())
      .expect(401);
    await authed(http)
      .post('/api/v1/workers/register')
      .set(REGISTRATION_TOKEN_HEADER, 's3cret-token-longer')
      .send(body())
      .expect(401);
    await authed(http)
      .post('/api/v1/workers/register')
      .set(REGISTRATION_TOKEN_HEADER, 's3cret-token')
      .send(body())
      .expect(200);
    await authed(http)
      .post('/api/v1/workers/w1/heartbeat')
      .send({ status: 'available' })
      .expect(401);
    await authed(http)
      .post('/api/v1/workers/w1/heartbeat')
      .set(REGISTRATION_TOKEN_HEADER, 's3cret-token')
      .send({ status: 'available' })
      .expect(200);
    await authed(http)
      .post('/api/v1/operations/op1/progress')
      .send({ lease_token: 'x', progress: { percentage: 1 } })
      .expect(401);
    await authed(http)
      .post('/api/v1/operations/op1/complete')
      .send({ lease_token: 'x', status: 'completed' })
      .expect(401);
    await authed(http)
      .post('/api/v1/operations/op1/complete')
      .set(REGISTRATION_TOKEN_HEADER, 's3cret-token')
      .send({ lease_token: 'x', status: 'completed' })
      .expect(404);
    // Read endpoints stay open.
    await authed(http).get('/api/v1/workers').expect(200);
  });

  it('readiness is 503 with the envelope when the store does not answer', async () => {
    const ping = jest.spyOn(repo, 'ping').mockRejectedValue(new Error('connection refused'));
    const res = await authed(http).get('/api/v1/health/ready').expect(503);
    expectEnvelope(res.body, 503, /store is down: connection refused/);
    ping.mockRestore();
    await authed(http).get('/api/v1/health/ready').expect(200);
  });

  it('while shutting down: registrations get 503 with Retry-After: 5 and workers are notified', async () => {
    await t.app.get(ShutdownService).notifyWorkers();
    expect(fake.requestsTo('w1', '/backend-shutdown')).toHaveLength(1);
    const res = await authed(http)
      .post('/api/v1/workers/register')
      .set(REGISTRATION_TOKEN_HEADER, 's3cret-token')
      .send(body())
      .expect(503);
    expect(res.headers['retry-after']).toBe('5');
    expectEnvelope(res.body, 503, /shutting down/);
  });
});
