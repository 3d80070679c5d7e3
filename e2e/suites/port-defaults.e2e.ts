/**
 * The canonical-port check: every worker listens on 5003 unless KTRDR_WORKER_PORT says otherwise,
 * the backend sees endpoint URLs ending in :5003, bad values stop the worker with exit code 1 and a
 * message naming the variable, and the old name WORKER_PORT still works (with a warning).
 */
import { getWorkerSettings, withEnv } from '@ktrdr/config';
import { WorkerStatus, WorkerType } from '@ktrdr/contracts';
import { http } from '../src/harness/api';
import { healthStatus, runToExit } from '../src/harness/docker-cli';
import { waitFor } from '../src/harness/wait';
import { IMAGES } from '../src/harness/paths';
import { SERVICE_PORTS } from '../src/harness/ports';
import { Stack } from '../src/harness/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start();
  await stack.startBackend();
}, 180_000);

afterAll(async () => stack?.close(), 60_000);

describe('default worker port', () => {
  it('is 5003 in the settings schema, and SERVICE_PORTS uses it', () => {
    expect(withEnv({}, () => getWorkerSettings().port)).toBe(5003);
    expect(SERVICE_PORTS.worker).toBe(5003);
  });

  it.each([
    ['backtest', WorkerType.BACKTESTING, 'bt-default'],
    ['training', WorkerType.TRAINING, 'tr-default'],
  ] as const)(
    'a %s worker without KTRDR_WORKER_PORT listens on 5003 and registers an endpoint ending in :5003',
    async (kind, type, alias) => {
      // No KTRDR_WORKER_PORT and no public URL: the worker advertises http://{hostname}:{port}.
      const w = await stack.startWorker(kind, alias, { advertise: false });
      expect(w.port).toBe(5003);
      const health = await http<{ healthy: boolean }>('GET', `${w.hostUrl}/health`);
      expect(health.status).toBe(200);
      expect(await stack.logs(alias)).toMatch(/listening on \S+:5003\b/);

      const list = await stack.api.waitForWorkers(
        (ws) => ws.some((x) => x.worker_type === type && x.endpoint_url === `http://${alias}:5003`),
        `${alias} registered`,
        20_000,
      );
      const mine = list.workers.find((x) => x.endpoint_url === `http://${alias}:5003`);
      expect(mine?.status).toBe(WorkerStatus.AVAILABLE);
    },
  );

  it('every registered endpoint ends in :5003, none uses an old per-type port', async () => {
    const { workers } = await stack.api.workers();
    expect(workers.length).toBeGreaterThanOrEqual(2);
    for (const w of workers) {
      expect(w.endpoint_url).toMatch(/:5003$/);
      expect(w.endpoint_url).not.toMatch(/:500[24]\b/);
    }
  });
});

describe('explicit and invalid ports', () => {
  it('honours an explicit KTRDR_WORKER_PORT', async () => {
    const w = await stack.startWorker('backtest', 'bt-custom', {
      port: 5101,
      advertise: false,
      env: { KTRDR_WORKER_PORT: '5101' },
    });
    expect(await stack.logs('bt-custom')).toMatch(/listening on \S+:5101\b/);
    const list = await stack.api.waitForWorkers(
      (ws) => ws.some((x) => x.endpoint_url === 'http://bt-custom:5101'),
      'bt-custom registered on 5101',
      20_000,
    );
    expect(list.workers.find((x) => x.endpoint_url === 'http://bt-custom:5101')?.status).toBe(
      WorkerStatus.AVAILABLE,
    );
    expect(w.port).toBe(5101);
    // The image's HEALTHCHECK reads the same variable, so it probes 5101 and turns healthy.
    await waitFor(
      'the image health check to pass',
      () => healthStatus(w.container.getId()),
      (h) => h === 'healthy',
      {
        timeoutMs: 40_000,
        intervalMs: 1_000,
      },
    );
    await stack.remove('bt-custom');
  });

  it.each(['abc', '-1', '99999'])(
    'KTRDR_WORKER_PORT=%s stops the worker with exit code 1 and a message naming the variable',
    async (value) => {
      const r = await runToExit(
        IMAGES.backtestWorker,
        { KTRDR_WORKER_PORT: value, NO_COLOR: '1' },
        `ktrdr-e2e-port-defaults-bad-port-${value.replace(/[^a-z0-9]/gi, 'x')}-${Date.now()}`,
      );
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(1);
      const output = r.stdout + r.stderr;
      expect(output).toContain('KTRDR_WORKER_PORT');
      expect(output).not.toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m); // no stack trace
    },
  );

  it('accepts the old name WORKER_PORT and warns about it', async () => {
    await stack.startWorker('backtest', 'bt-old-name', {
      port: 5102,
      advertise: false,
      env: { WORKER_PORT: '5102' },
    });
    const logs = await stack.logs('bt-old-name');
    expect(logs).toMatch(/listening on \S+:5102\b/);
    expect(logs).toContain('WORKER_PORT is deprecated; use KTRDR_WORKER_PORT instead');
    await stack.api.waitForWorkers(
      (ws) => ws.some((x) => x.endpoint_url === 'http://bt-old-name:5102'),
      'bt-old-name registered on 5102',
      20_000,
    );
    await stack.remove('bt-old-name');
  });
});
