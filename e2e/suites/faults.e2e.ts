/**
 * Faults, with short timeouts (health checks every 1 s, 2 failures, removal after 10 s, orphans
 * after 6 s; see E2E_BACKEND_ENV): a worker killed with SIGKILL in the middle of an operation → the
 * operation is re-dispatched to another worker or failed with a reason, within the orphan timeout
 * (plus detection); the dead worker becomes temporarily_unavailable and is then removed; nothing
 * stays `running` forever.
 */
import {
  BACKEND_ROUTES,
  OperationStatus,
  WorkerStatus,
  WorkerType,
  type OperationDto,
} from '@ktrdr/contracts';
import { LONG_TRAINING } from '../src/harness/fixtures';
import { E2E_BACKEND_ENV, Stack } from '../src/harness/stack';
import { waitFor } from '../src/harness/wait';

const ORPHAN_TIMEOUT_S = Number(E2E_BACKEND_ENV.KTRDR_ORPHAN_TIMEOUT_SECONDS);
const REMOVAL_THRESHOLD_S = Number(E2E_BACKEND_ENV.KTRDR_WORKER_REMOVAL_THRESHOLD);
let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start();
  await stack.startBackend();
  await Promise.all([stack.startWorker('training', 'tr-1'), stack.startWorker('training', 'tr-2')]);
  await stack.api.waitForWorkers(
    (ws) =>
      ws.filter((w) => w.worker_type === WorkerType.TRAINING && w.status === WorkerStatus.AVAILABLE)
        .length === 2,
    'two training workers available',
    30_000,
  );
}, 180_000);

afterAll(async () => stack?.close(), 60_000);

let victimId: string;
let operationId: string;

it('a worker killed mid-operation: the operation is re-dispatched or failed with a reason within the orphan timeout', async () => {
  // A training that checkpoints often, so a re-dispatch can resume.
  const start = await stack.api.startTraining({ ...LONG_TRAINING, epochs: 400 });
  operationId = start.operation_id;
  victimId = start.worker_id!;
  const running = await waitFor(
    'the training to report progress',
    () => stack.api.operation(operationId),
    (op) => op.status === OperationStatus.RUNNING && op.progress.percentage > 0,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  expect(running.attempt).toBe(1);
  const { workers } = await stack.api.workers();
  const victimAlias = new URL(workers.find((w) => w.worker_id === victimId)!.endpoint_url).hostname;

  await stack.kill(victimAlias);
  const killedAt = Date.now();
  // Detection (2 failed health checks at 1 s) + the orphan timeout + a check interval + slack.
  const budgetMs = (ORPHAN_TIMEOUT_S + 2 + 1 + 6) * 1000;
  const after = await waitFor(
    'the operation to be re-dispatched or failed',
    () => stack.api.operation(operationId),
    (op) =>
      op.status === OperationStatus.FAILED ||
      op.status === OperationStatus.COMPLETED ||
      (op.attempt >= 2 && op.worker_id !== victimId),
    { timeoutMs: budgetMs, intervalMs: 250 },
  );
  console.log(
    `[e2e:faults] ${after.status} (attempt ${after.attempt}, worker ${after.worker_id}) ${Date.now() - killedAt} ms after SIGKILL`,
  );
  if (after.status === OperationStatus.FAILED) {
    expect(after.error_message).toMatch(/worker|lost|orphan/i);
  } else {
    expect(after.attempt).toBe(2);
    expect(after.worker_id).not.toBe(victimId);
  }
});

it('the dead worker becomes temporarily_unavailable, then is removed after the threshold', async () => {
  const unavailable = await waitFor(
    'the killed worker to be temporarily_unavailable or gone',
    () => stack.api.workers(),
    (l) => {
      const w = l.workers.find((x) => x.worker_id === victimId);
      return !w || w.status === WorkerStatus.TEMPORARILY_UNAVAILABLE;
    },
    { timeoutMs: 15_000, intervalMs: 250 },
  );
  const seen = unavailable.workers.find((x) => x.worker_id === victimId);
  // Normally still listed (as unavailable): the removal threshold is longer than detection.
  expect(seen?.status).toBe(WorkerStatus.TEMPORARILY_UNAVAILABLE);
  expect(seen!.health_check_failures).toBeGreaterThanOrEqual(2);
  await waitFor(
    'the killed worker to be removed',
    () => stack.api.workers(),
    (l) => !l.workers.some((x) => x.worker_id === victimId),
    { timeoutMs: (REMOVAL_THRESHOLD_S + 10) * 1000, intervalMs: 500 },
  );
  // The survivor is still there and usable.
  const { workers } = await stack.api.workers();
  expect(workers.filter((w) => w.worker_type === WorkerType.TRAINING)).toHaveLength(1);
});

it('nothing stays running forever', async () => {
  // Cancel whatever still runs (the re-dispatched training), then every operation must end.
  const list = await stack.api.get<{ data: OperationDto[] }>(
    BACKEND_ROUTES.operations,
    {},
    '?limit=100',
  );
  for (const op of list.body.data) {
    if (op.status === OperationStatus.RUNNING || op.status === OperationStatus.PENDING) {
      await stack.api.delete(BACKEND_ROUTES.operation, { id: op.operation_id });
    }
  }
  await waitFor(
    'every operation to reach a final status',
    () =>
      stack.api.get<{ data: OperationDto[]; active_count: number }>(
        BACKEND_ROUTES.operations,
        {},
        '?limit=100',
      ),
    (r) => r.status === 200 && r.body.active_count === 0,
    { timeoutMs: 30_000, intervalMs: 500 },
  );
});
