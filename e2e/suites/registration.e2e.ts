/**
 * Registration: workers of both types register within seconds with a valid type, status and URL;
 * registering again is idempotent; a worker restarted with a new id replaces the old record (same
 * endpoint URL); a wrong or missing token is refused when one is configured; after the backend
 * restarts, every worker is registered again within 20 s.
 */
import {
  BACKEND_ROUTES,
  REGISTRATION_TOKEN_HEADER,
  WorkerStatus,
  WorkerType,
  type WorkerDto,
} from '@ktrdr/contracts';
import { http } from '../src/harness/api';
import { Stack } from '../src/harness/stack';

const TOKEN = 'e2e-registration-token';
let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start();
  await stack.startBackend({ KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN });
  const env = { KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN };
  await Promise.all([
    stack.startWorker('backtest', 'bt-1', { env }),
    stack.startWorker('training', 'tr-1', { env }),
  ]);
}, 180_000);

afterAll(async () => stack?.close(), 60_000);

const byUrl = (ws: WorkerDto[], url: string) => ws.find((w) => w.endpoint_url === url);

it('registers a backtest and a training worker within seconds, with valid type, status and URL', async () => {
  const started = Date.now();
  const { workers } = await stack.api.waitForWorkers(
    (ws) =>
      ws.filter((w) => w.status === WorkerStatus.AVAILABLE).length === 2 &&
      Boolean(byUrl(ws, 'http://bt-1:5003')) &&
      Boolean(byUrl(ws, 'http://tr-1:5003')),
    'bt-1 and tr-1 available',
    15_000,
  );
  console.log(
    `[e2e:registration] both workers available ${Date.now() - started} ms after their containers were up`,
  );
  expect(workers).toHaveLength(2);
  const bt = byUrl(workers, 'http://bt-1:5003')!;
  const tr = byUrl(workers, 'http://tr-1:5003')!;
  expect(bt.worker_type).toBe(WorkerType.BACKTESTING);
  expect(tr.worker_type).toBe(WorkerType.TRAINING);
  for (const w of [bt, tr]) {
    expect(w.worker_id).toMatch(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/);
    expect(w.status).toBe(WorkerStatus.AVAILABLE);
    expect(w.current_operation_id).toBeNull();
    expect(Number.isNaN(Date.parse(w.registered_at))).toBe(false);
    expect(typeof w.capabilities).toBe('object');
  }
  // One worker by id, too.
  const one = await stack.api.get<WorkerDto>(BACKEND_ROUTES.worker, { id: bt.worker_id });
  expect(one.status).toBe(200);
  expect(one.body.worker_id).toBe(bt.worker_id);
  const missing = await stack.api.get<{ statusCode: number; message: string }>(
    BACKEND_ROUTES.worker,
    {
      id: 'no-such-worker',
    },
  );
  expect(missing.status).toBe(404);
  expect(missing.body.message).toContain('no-such-worker');
});

it('re-registration is idempotent: same id, same record, no duplicate', async () => {
  const { workers } = await stack.api.workers();
  const bt = byUrl(workers, 'http://bt-1:5003')!;
  const body = {
    worker_id: bt.worker_id,
    worker_type: bt.worker_type,
    endpoint_url: bt.endpoint_url,
    capabilities: bt.capabilities,
  };
  const headers = { [REGISTRATION_TOKEN_HEADER]: TOKEN };
  const first = await stack.api.post<WorkerDto>(BACKEND_ROUTES.workerRegister, body, {}, headers);
  const second = await stack.api.post<WorkerDto>(BACKEND_ROUTES.workerRegister, body, {}, headers);
  expect(first.status).toBe(200);
  expect(second.status).toBe(200);
  expect(second.body.worker_id).toBe(bt.worker_id);
  expect(second.body.endpoint_url).toBe(bt.endpoint_url);
  const after = await stack.api.workers();
  expect(after.total).toBe(2);
  expect(after.workers.filter((w) => w.worker_id === bt.worker_id)).toHaveLength(1);
});

it('refuses a wrong or missing registration token with 401', async () => {
  const body = {
    worker_id: 'intruder-1',
    worker_type: WorkerType.BACKTESTING,
    endpoint_url: 'http://intruder:5003',
  };
  const wrong = await stack.api.post<{ statusCode: number; message: string }>(
    BACKEND_ROUTES.workerRegister,
    body,
    {},
    { [REGISTRATION_TOKEN_HEADER]: 'not-the-token' },
  );
  expect(wrong.status).toBe(401);
  expect(JSON.stringify(wrong.body)).not.toContain(TOKEN);
  expect(JSON.stringify(wrong.body)).not.toMatch(/\bat .+:\d+:\d+/); // no stack trace
  const none = await http('POST', stack.api.url(BACKEND_ROUTES.workerRegister), body);
  expect(none.status).toBe(401);
  const { workers } = await stack.api.workers();
  expect(workers.map((w) => w.worker_id)).not.toContain('intruder-1');
});

it('a worker restarted with a new id replaces the old record', async () => {
  const before = byUrl((await stack.api.workers()).workers, 'http://bt-1:5003')!;
  await stack.remove('bt-1');
  await stack.startWorker('backtest', 'bt-1', {
    env: { KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN, KTRDR_WORKER_ID: 'bt-1-replacement' },
  });
  const { workers } = await stack.api.waitForWorkers(
    (ws) =>
      ws.some((w) => w.worker_id === 'bt-1-replacement' && w.status === WorkerStatus.AVAILABLE) &&
      !ws.some((w) => w.worker_id === before.worker_id),
    'bt-1-replacement registered and the old record gone',
    20_000,
  );
  const backtesters = workers.filter((w) => w.worker_type === WorkerType.BACKTESTING);
  expect(backtesters.map((w) => [w.worker_id, w.endpoint_url])).toEqual([
    ['bt-1-replacement', 'http://bt-1:5003'],
  ]);
});

it('after the backend restarts, every worker is registered again within 20 s', async () => {
  const ids = (await stack.api.workers()).workers.map((w) => w.worker_id).sort();
  expect(ids).toHaveLength(2);
  const restartedAt = Date.now();
  await stack.restartBackend();
  // The backend is up again when its health answers; from then on the workers have 20 s.
  await stack.api.waitForHealthy(120_000);
  const upAt = Date.now();
  const { workers } = await stack.api.waitForWorkers(
    (ws) =>
      ids.every((id) => ws.some((w) => w.worker_id === id && w.status === WorkerStatus.AVAILABLE)),
    'both workers registered again after the restart',
    20_000,
  );
  console.log(
    `[e2e:registration] workers registered again ${Date.now() - upAt} ms after the backend was up`,
  );
  expect(workers.map((w) => w.worker_id).sort()).toEqual(ids);
  // The registry lives in the backend's memory: these are new registrations, not survivors.
  for (const w of workers)
    expect(Date.parse(w.registered_at)).toBeGreaterThanOrEqual(restartedAt - 1000);
});
