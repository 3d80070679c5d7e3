/**
 * Backtests end to end: submit → the backend dispatches to the worker → poll to `completed` →
 * sane results; invalid input is refused naming the field; cancelling reaches the engine; with no
 * worker of a type the backend answers 503 with a hint.
 */
import {
  BACKEND_ROUTES,
  OperationStatus,
  OperationType,
  WorkerStatus,
  WorkerType,
} from '@ktrdr/contracts';
import { LONG_BACKTEST, SHORT_BACKTEST, SHORT_TRAINING } from '../src/harness/fixtures';
import { Stack } from '../src/harness/stack';

let stack: Stack;
let workerId: string;

beforeAll(async () => {
  stack = await Stack.start();
  await stack.startBackend();
  await stack.startWorker('backtest', 'bt-1');
  const { workers } = await stack.api.waitForWorkers(
    (ws) =>
      ws.some(
        (w) => w.worker_type === WorkerType.BACKTESTING && w.status === WorkerStatus.AVAILABLE,
      ),
    'bt-1 available',
    20_000,
  );
  workerId = workers[0].worker_id;
}, 180_000);

afterAll(async () => stack?.close(), 60_000);

it('runs a backtest on the worker to completion with sane results', async () => {
  const start = await stack.api.startBacktest({ ...SHORT_BACKTEST });
  expect(start.success).toBe(true);
  expect(start.worker_id).toBe(workerId);
  expect([
    OperationStatus.DISPATCHED,
    OperationStatus.RUNNING,
    OperationStatus.COMPLETED,
  ]).toContain(start.status);

  const op = await stack.api.waitForTerminal(start.operation_id, 60_000);
  expect(op.status).toBe(OperationStatus.COMPLETED);
  expect(op.operation_type).toBe(OperationType.BACKTESTING);
  expect(op.worker_id).toBe(workerId);
  expect(op.attempt).toBe(1);
  expect(op.error_message).toBeNull();
  expect(Date.parse(op.completed_at!)).toBeGreaterThanOrEqual(Date.parse(op.started_at!));
  expect(op.progress.percentage).toBe(100);

  const res = await stack.api.get<{
    success: boolean;
    data: { operation_id: string; result: Record<string, unknown> };
  }>(BACKEND_ROUTES.operationResults, { id: start.operation_id });
  expect(res.status).toBe(200);
  expect(res.body.data.operation_id).toBe(start.operation_id);
  const r = res.body.data.result as {
    total_return: number;
    final_equity: number;
    initial_capital: number;
    num_trades: number;
    win_rate: number;
    max_drawdown: number;
    bars_processed: number;
    bars_total: number;
    equity_curve: unknown[];
  };
  // A year of hourly bars (the synthetic calendar may skip nothing or weekends: between 6000 and 8800).
  expect(r.bars_total).toBeGreaterThan(6000);
  expect(r.bars_total).toBeLessThanOrEqual(8784);
  expect(r.bars_processed).toBe(r.bars_total);
  expect(r.initial_capital).toBe(100_000);
  expect(Number.isFinite(r.final_equity)).toBe(true);
  expect(r.final_equity).toBeGreaterThan(0);
  expect(r.total_return).toBeCloseTo(r.final_equity / r.initial_capital - 1, 6);
  expect(r.num_trades).toBeGreaterThan(0);
  expect(r.win_rate).toBeGreaterThanOrEqual(0);
  expect(r.win_rate).toBeLessThanOrEqual(1);
  expect(r.max_drawdown).toBeGreaterThanOrEqual(0);
  expect(r.max_drawdown).toBeLessThanOrEqual(1);
  expect(r.equity_curve.length).toBeGreaterThan(0);

  // The same request again gives the same numbers (deterministic synthetic data and engine).
  const again = await stack.api.startBacktest({ ...SHORT_BACKTEST });
  await stack.api.waitForTerminal(again.operation_id, 60_000);
  const res2 = await stack.api.get<{
    data: { result: { final_equity: number; num_trades: number } };
  }>(BACKEND_ROUTES.operationResults, { id: again.operation_id });
  expect(res2.body.data.result.final_equity).toBe(r.final_equity);
  expect(res2.body.data.result.num_trades).toBe(r.num_trades);
});

it('refuses invalid input with 400 naming the field', async () => {
  const r = await stack.api.post<{ statusCode: number; message: string | string[] }>(
    BACKEND_ROUTES.backtestsStart,
    { ...SHORT_BACKTEST, timeframe: '7m' },
  );
  expect(r.status).toBe(400);
  expect(JSON.stringify(r.body.message)).toContain('timeframe');
});

it('cancels a running backtest: the worker stops and the operation ends as cancelled', async () => {
  const start = await stack.api.startBacktest({ ...LONG_BACKTEST });
  await stack.api.waitForStatus(start.operation_id, [OperationStatus.RUNNING], 20_000);
  const cancelAt = Date.now();
  const del = await stack.api.delete<{ success: boolean; operation_id: string }>(
    BACKEND_ROUTES.operation,
    {
      id: start.operation_id,
    },
  );
  expect(del.status).toBe(200);
  expect(del.body.success).toBe(true);
  const op = await stack.api.waitForTerminal(start.operation_id, 30_000);
  console.log(`[e2e:backtest] cancelled ${Date.now() - cancelAt} ms after DELETE`);
  expect(op.status).toBe(OperationStatus.CANCELLED);
  // The worker is free again once the engine has stopped (bar loading is not interruptible, so
  // this can take as long as generating the bars).
  await stack.api.waitForWorkers(
    (ws) => ws.some((w) => w.worker_id === workerId && w.status === WorkerStatus.AVAILABLE),
    'bt-1 available again',
    60_000,
  );
  console.log(`[e2e:backtest] worker available again ${Date.now() - cancelAt} ms after DELETE`);
  // Cancelling a finished operation is refused clearly.
  const again = await stack.api.delete<{ message: string }>(BACKEND_ROUTES.operation, {
    id: start.operation_id,
  });
  expect(again.status).toBeGreaterThanOrEqual(400);
  expect(again.status).toBeLessThan(500);
});

it('queues (202) with a hint when no worker of the type is registered', async () => {
  const r = await stack.api.post<{ operation_id: string; status: string; message: string }>(
    BACKEND_ROUTES.trainingsStart,
    {
      ...SHORT_TRAINING,
    },
  );
  expect(r.status).toBe(202);
  expect(r.body.status).toBe(OperationStatus.PENDING);
  expect(r.body.message).toMatch(/no training worker registered yet — start one with/);
  const del = await stack.api.delete(BACKEND_ROUTES.operation, { id: r.body.operation_id });
  expect(del.status).toBe(200);
});
