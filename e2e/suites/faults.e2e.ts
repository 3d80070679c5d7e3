/**
 * Faults, with short timeouts (health checks every 1 s, 2 failures, removal after 20 s, orphans
 * after 6 s; see E2E_BACKEND_ENV): a worker killed with SIGKILL in the middle of an operation → the
 * operation goes back to the queue within the orphan timeout (plus detection) and runs on another
 * worker — from its checkpoint when it has one, from the start (with a reason naming the lost worker)
 * when not; the dead worker becomes temporarily_unavailable and is then removed; nothing stays
 * `running` or `dispatched` once every worker is gone.
 */
import {
  AttemptOutcome,
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
  // As in compose, the workers share the checkpoint directory, so another worker can resume.
  const checkpoints = stack.sharedDir('checkpoints');
  const opts = {
    env: { KTRDR_CHECKPOINT_DIR: '/shared/checkpoints', KTRDR_CHECKPOINT_EPOCH_INTERVAL: '1' },
    binds: [{ source: checkpoints, target: '/shared/checkpoints' }],
  };
  await Promise.all([
    stack.startWorker('training', 'tr-1', opts),
    stack.startWorker('training', 'tr-2', opts),
  ]);
  await stack.api.waitForWorkers(
    (ws) =>
      ws.filter((w) => w.worker_type === WorkerType.TRAINING && w.status === WorkerStatus.AVAILABLE)
        .length === 2,
    'two training workers available',
    30_000,
  );
}, 180_000);

afterAll(async () => stack?.close(), 60_000);

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let victimId: string;
let survivorId: string;
let operationId: string;

it('a worker killed mid-operation: the operation is re-dispatched from its checkpoint within the orphan timeout', async () => {
  const start = await stack.api.startTraining({ ...LONG_TRAINING, epochs: 400 });
  operationId = start.operation_id;
  victimId = start.worker_id!;
  // Kill only once the backend knows a checkpoint (rule 6: re-dispatch needs one).
  const running = await waitFor(
    'the training to report a checkpoint',
    () => stack.api.operation(operationId),
    (op) => op.status === OperationStatus.RUNNING && op.checkpoint !== null,
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  expect(running.attempt).toBe(1);
  const unitAtKill = running.checkpoint!.unit;
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
      (op.attempt >= 2 && op.worker_id !== victimId && op.status === OperationStatus.RUNNING),
    { timeoutMs: budgetMs, intervalMs: 250 },
  );
  console.log(
    `[e2e:faults] ${after.status} (attempt ${after.attempt}, worker ${after.worker_id}, checkpoint epoch ${unitAtKill} at kill) ${Date.now() - killedAt} ms after SIGKILL: ${after.error_message ?? ''}`,
  );
  expect({ status: after.status, attempt: after.attempt, error: after.error_message }).toEqual({
    status: OperationStatus.RUNNING,
    attempt: 2,
    error: null,
  });
  expect(after.worker_id).not.toBe(victimId);
  survivorId = after.worker_id!;
  // The attempt on the victim ended as orphaned, and the new one was dispatched with the checkpoint
  // (the one seen before the kill, or a later one the victim reported before it died), not from 0.
  const lost = after.attempts.find((a) => a.worker_id === victimId)!;
  expect({ attempt: lost.attempt, outcome: lost.outcome }).toEqual({
    attempt: 1,
    outcome: AttemptOutcome.ORPHANED,
  });
  expect(lost.reason).toMatch(/^Worker lost \(.*\); queued again from its \w+ checkpoint at \d+$/);
  const current = after.attempts.at(-1)!;
  expect({ attempt: current.attempt, worker: current.worker_id }).toEqual({
    attempt: 2,
    worker: survivorId,
  });
  expect(current.resumed_from).not.toBeNull();
  expect(current.resumed_from!.unit).toBeGreaterThanOrEqual(unitAtKill);
  // The new attempt resumes from the checkpoint: its progress starts at or after that epoch.
  const resumed = await waitFor(
    'progress reported by the new attempt',
    () => stack.api.operation(operationId),
    (op) => op.attempt === 2 && (op.progress.items_processed ?? 0) > 0,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  expect(resumed.progress.items_processed).toBeGreaterThanOrEqual(unitAtKill);
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
  // The survivor is still registered.
  const { workers } = await stack.api.workers();
  expect(workers.map((w) => w.worker_id)).toContain(survivorId);
});

it('without a checkpoint the operation goes back to the queue, from the start, naming the lost worker', async () => {
  // Another worker to lose: the survivor is busy with the resumed training.
  await stack.startWorker('training', 'tr-3', {
    env: { KTRDR_CHECKPOINT_EPOCH_INTERVAL: '100000' },
  });
  await stack.api.waitForWorkers(
    (ws) =>
      ws.some((w) => w.endpoint_url === 'http://tr-3:5003' && w.status === WorkerStatus.AVAILABLE),
    'tr-3 available',
    20_000,
  );
  const start = await stack.api.startTraining({ ...LONG_TRAINING, epochs: 400 });
  const tr3 = (await stack.api.workers()).workers.find(
    (w) => w.endpoint_url === 'http://tr-3:5003',
  )!;
  expect(start.worker_id).toBe(tr3.worker_id);
  await waitFor(
    'the training on tr-3 to report progress',
    () => stack.api.operation(start.operation_id),
    (op) => op.status === OperationStatus.RUNNING && op.progress.percentage > 0,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  await stack.kill('tr-3');
  const killedAt = Date.now();
  const op = await waitFor(
    'the operation to be queued again',
    () => stack.api.operation(start.operation_id),
    (o) =>
      (o.status === OperationStatus.PENDING && /Worker lost/.test(o.error_message ?? '')) ||
      o.attempt >= 2,
    { timeoutMs: (ORPHAN_TIMEOUT_S + 2 + 1 + 6) * 1000, intervalMs: 250 },
  );
  console.log(
    `[e2e:faults] ${op.status} (attempt ${op.attempt}) ${Date.now() - killedAt} ms after SIGKILL: ${op.error_message}`,
  );
  // The lost attempt names tr-3 and says the operation starts again from the start (it had no
  // checkpoint); the new attempt, when there already is one, resumes from nothing.
  const lostReason = new RegExp(
    `^Worker lost \\(worker ${escapeRegExp(tr3.worker_id)} (is not registered|is not answering health checks|no longer runs it)[^)]*\\); queued again from the start`,
  );
  expect(op.checkpoint).toBeNull();
  const lost = op.attempts.find((a) => a.worker_id === tr3.worker_id)!;
  expect({ attempt: lost.attempt, outcome: lost.outcome }).toEqual({
    attempt: 1,
    outcome: AttemptOutcome.ORPHANED,
  });
  expect(lost.reason).toMatch(lostReason);
  if (op.status === OperationStatus.PENDING) {
    expect(op.error_message).toMatch(lostReason);
    expect(op.worker_id).toBeNull();
  } else {
    // A worker was free already: it runs again from the start on another worker.
    expect(op.worker_id).not.toBe(tr3.worker_id);
    const current = op.attempts.at(-1)!;
    expect({ attempt: current.attempt, resumed_from: current.resumed_from }).toEqual({
      attempt: 2,
      resumed_from: null,
    });
  }
});

it('nothing stays running forever: with every worker killed, no operation is left running or dispatched', async () => {
  const active = (ops: OperationDto[]) =>
    ops.filter(
      (o) => o.status === OperationStatus.RUNNING || o.status === OperationStatus.DISPATCHED,
    );
  const list = () =>
    stack.api.get<{ data: OperationDto[]; active_count: number }>(
      BACKEND_ROUTES.operations,
      {},
      '?limit=100',
    );
  // Something must be running for this to test anything: the resumed training (and the one that
  // left tr-3, when a worker took it).
  const before = active((await list()).body.data);
  expect(before.length).toBeGreaterThanOrEqual(1);
  // Kill every worker that is still alive: nobody is left to report, complete or cancel anything.
  const { workers } = await stack.api.workers();
  const alive = workers.filter((w) => w.status !== WorkerStatus.TEMPORARILY_UNAVAILABLE);
  expect(alive.length).toBeGreaterThanOrEqual(1);
  for (const w of alive)
    await stack.kill(new URL(w.endpoint_url).hostname).catch((err: unknown) => {
      // Killed earlier and not yet marked unavailable: nothing left to kill.
      if (!/is not running/.test(String(err))) throw err;
    });
  const killedAt = Date.now();
  // Without any request from the test, the backend alone takes every one of them out of
  // running/dispatched: back to the queue (attempts left) or failed, each naming the lost worker.
  const settled = await waitFor(
    'no operation running or dispatched on a dead worker',
    list,
    (r) => r.status === 200 && active(r.body.data).length === 0,
    { timeoutMs: (ORPHAN_TIMEOUT_S + 2 + 1 + 10) * 1000, intervalMs: 500 },
  );
  console.log(
    `[e2e:faults] ${before.length} active operation(s) settled ${Date.now() - killedAt} ms after killing ${alive.length} worker(s)`,
  );
  for (const op of before) {
    const now = settled.body.data.find((o) => o.operation_id === op.operation_id)!;
    expect([OperationStatus.PENDING, OperationStatus.FAILED]).toContain(now.status);
    expect(now.error_message ?? '').toMatch(/Worker lost|worker \S+/);
  }
  // Clean up what is queued (no worker will take it).
  for (const op of settled.body.data)
    if (op.status === OperationStatus.PENDING)
      await stack.api.delete(BACKEND_ROUTES.operation, { id: op.operation_id });
  const done = await list();
  expect(done.body.active_count).toBe(0);
});
