/**
 * Concurrency: 5 backtests submitted at once over 3 workers are all accepted (202, queued) and all
 * complete with no client retry; each worker runs one operation at a time (a busy worker refuses a
 * second start with 503, and no two operations of one worker overlap in time); the backend spreads
 * the first three over the three workers.
 */
import {
  BACKEND_ROUTES,
  OperationStatus,
  WorkerStatus,
  WorkerType,
  WORKER_ROUTES,
  signRequest,
} from '@ktrdr/contracts';
import { http } from '../src/harness/api';
import { E2E_WORKER_TOKEN } from '../src/harness/credentials';
import { MEDIUM_BACKTEST, overlappingRuns } from '../src/harness/fixtures';
import { Stack } from '../src/harness/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start();
  await stack.startBackend();
  await Promise.all(['bt-1', 'bt-2', 'bt-3'].map((a) => stack.startWorker('backtest', a)));
  await stack.api.waitForWorkers(
    (ws) =>
      ws.filter(
        (w) => w.worker_type === WorkerType.BACKTESTING && w.status === WorkerStatus.AVAILABLE,
      ).length === 3,
    'three backtest workers available',
    30_000,
  );
}, 180_000);

afterAll(async () => stack?.close(), 60_000);

it('runs 5 concurrent backtests on 3 workers, one at a time per worker, all completed', async () => {
  const starts = await Promise.all(
    [1, 2, 3, 4, 5].map((i) =>
      stack.api.post<{ operation_id: string; status: string; queue_position: number | null }>(
        BACKEND_ROUTES.backtestsStart,
        { ...MEDIUM_BACKTEST, symbol: `SYNTH-CONC-${i}` },
      ),
    ),
  );
  // Every submission is accepted at once: no 503, no client retry.
  expect(starts.map((s) => s.status)).toEqual([202, 202, 202, 202, 202]);
  const ids = starts.map((s) => s.body.operation_id);
  expect(new Set(ids).size).toBe(5);
  console.log(
    `[e2e:concurrency] 5 accepted (202); queue positions at submission: ${starts.map((s) => s.body.queue_position).join(', ')}`,
  );

  const ops = await Promise.all(ids.map((id) => stack.api.waitForTerminal(id, 180_000)));
  expect(ops.map((o) => o.status)).toEqual(Array(5).fill(OperationStatus.COMPLETED));
  expect(overlappingRuns(ops)).toEqual([]);
  const used = new Set(ops.map((o) => o.worker_id));
  expect(used.size).toBe(3);
  // At most 3 could run at once, so at least 2 starts had to wait for a free worker, or finished
  // quickly enough to free one; either way all five ran on the three workers only.
  const { workers } = await stack.api.workers();
  for (const id of used) expect(workers.map((w) => w.worker_id)).toContain(id);
});

it('a busy worker refuses a second start with 503', async () => {
  const response = await stack.api.startBacktest({ ...MEDIUM_BACKTEST, symbol: 'SYNTH-BUSY' });
  const op = await stack.api.waitForStatus(
    response.operation_id,
    [OperationStatus.RUNNING],
    20_000,
  );
  const { workers } = await stack.api.workers();
  const busy = workers.find((w) => w.worker_id === op.worker_id)!;
  const alias = new URL(busy.endpoint_url).hostname;
  const worker = stack.service(alias);
  // Signed as the backend signs it: the worker refuses unsigned dispatches with 401.
  const dispatch = JSON.stringify({
    operation_id: 'op_backtesting_e2e_second',
    lease_token: 'lease-e2e-second',
    attempt: 1,
    params: MEDIUM_BACKTEST,
  });
  const second = await http<{ message?: string }>(
    'POST',
    `${worker.hostUrl}${WORKER_ROUTES.backtestStart}`,
    JSON.parse(dispatch),
    signRequest(E2E_WORKER_TOKEN, {
      method: 'POST',
      path: WORKER_ROUTES.backtestStart,
      body: dispatch,
    }),
  );
  const still = await stack.api.operation(response.operation_id);
  if (still.status === OperationStatus.RUNNING) {
    expect(second.status).toBe(503);
    expect(JSON.stringify(second.body)).toMatch(/busy/i);
  } else {
    throw new Error(
      `the operation finished before the second start could be checked (${still.status}); use a longer MEDIUM_BACKTEST`,
    );
  }
  await stack.api.delete(BACKEND_ROUTES.operation, { id: response.operation_id });
  await stack.api.waitForTerminal(response.operation_id, 30_000);
});
