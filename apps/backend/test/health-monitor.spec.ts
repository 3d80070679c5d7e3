import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OperationType,
  WorkerActivity,
  WorkerStatus,
  WorkerType,
  type WorkerStartRequest,
} from '@ktrdr/contracts';
import { HealthMonitorService } from '../src/workers/health-monitor.service';
import { HealthProber } from '../src/workers/health-prober';
import { WorkerClient } from '../src/workers/worker-client';
import type { HealthOutcome } from '../src/workers/worker-registry';
import { FakeWorkers } from './support/fake-worker';
import { BACKTEST_PARAMS, createHarness, type Harness } from './support/harness';
import { testSettings } from './support/settings';

const OK: HealthOutcome = {
  ok: true,
  report: { worker_status: WorkerActivity.IDLE, current_operation: null },
};

function register(h: Harness, id: string): string {
  const url = `http://${id}:5003`;
  h.registry.upsert({
    worker_id: id,
    worker_type: WorkerType.BACKTESTING,
    endpoint_url: url,
    current_operation_id: null,
  });
  return url;
}

describe('health monitor', () => {
  it('counts failures, marks temporarily_unavailable after N, recovers, removes after the threshold', async () => {
    const h = createHarness(
      testSettings({ worker: { health_check_failures: 3, removal_threshold: 300 } }),
    );
    const url = register(h, 'w1');
    const good = register(h, 'w2');
    h.client.health.set(url, { ok: false, reason: 'ECONNREFUSED' });
    h.client.health.set(good, OK);
    for (let i = 1; i <= 2; i++) {
      h.clock.advanceSeconds(10);
      await h.monitor.sweep();
      expect(h.registry.get('w1')).toMatchObject({
        status: WorkerStatus.AVAILABLE,
        health_check_failures: i,
      });
    }
    h.clock.advanceSeconds(10);
    const third = await h.monitor.sweep();
    expect(third.became_unavailable).toEqual(['w1']);
    expect(h.registry.get('w1')!.status).toBe(WorkerStatus.TEMPORARILY_UNAVAILABLE);
    // Back again.
    h.client.health.set(url, OK);
    h.clock.advanceSeconds(10);
    expect((await h.monitor.sweep()).recovered).toEqual(['w1']);
    expect(h.registry.get('w1')).toMatchObject({
      status: WorkerStatus.AVAILABLE,
      health_check_failures: 0,
    });
    // Down for good: removed 300 s after the last good check, not before.
    h.client.health.set(url, { ok: false, reason: 'timed out' });
    const lastGood = h.clock.now();
    while (h.clock.now() - lastGood < 290_000) {
      h.clock.advanceSeconds(10);
      expect((await h.monitor.sweep()).removed).toEqual([]);
    }
    h.clock.advanceSeconds(10);
    expect((await h.monitor.sweep()).removed).toEqual(['w1']);
    expect(h.registry.get('w1')).toBeUndefined();
    expect(h.registry.get('w2')).toBeDefined();
  });

  it('counts failed probes and availability transitions per worker, and drops the series of a removed worker', async () => {
    const h = createHarness(
      testSettings({ worker: { health_check_failures: 2, removal_threshold: 300 } }),
    );
    const url = register(h, 'w1');
    const value = async (name: string, labels: Record<string, string>): Promise<number> => {
      const m = await h.metrics.registry.getSingleMetric(name)!.get();
      const v = m.values.find((x) =>
        Object.entries(labels).every(([k, want]) => x.labels[k] === want),
      );
      return v?.value ?? -1;
    };
    const w1 = { worker_id: 'w1', worker_type: WorkerType.BACKTESTING };
    h.client.health.set(url, { ok: false, reason: 'ECONNREFUSED' });
    for (let i = 0; i < 3; i++) {
      h.clock.advanceSeconds(10);
      await h.monitor.sweep();
    }
    expect(await value('ktrdr_health_check_failures_total', w1)).toBe(3);
    expect(
      await value('ktrdr_health_transitions_total', { ...w1, to: 'temporarily_unavailable' }),
    ).toBe(1);
    h.client.health.set(url, OK);
    h.clock.advanceSeconds(10);
    await h.monitor.sweep();
    expect(await value('ktrdr_health_transitions_total', { ...w1, to: 'recovered' })).toBe(1);
    expect(await value('ktrdr_health_check_failures_total', w1)).toBe(3);
    h.client.health.set(url, { ok: false, reason: 'timed out' });
    for (let i = 0; i < 32 && h.registry.get('w1'); i++) {
      h.clock.advanceSeconds(10);
      await h.monitor.sweep();
    }
    expect(h.registry.get('w1')).toBeUndefined();
    expect(await value('ktrdr_health_check_failures_total', w1)).toBe(-1);
    expect(await value('ktrdr_health_transitions_total', w1)).toBe(-1);
  });

  it('heartbeats keep a worker whose health checks fail from being removed', async () => {
    const h = createHarness();
    const url = register(h, 'w1');
    h.client.health.set(url, { ok: false, reason: 'x' });
    for (let i = 0; i < 40; i++) {
      h.clock.advanceSeconds(10);
      await h.protocol.heartbeat('w1', {
        status: WorkerStatus.AVAILABLE,
        current_operation_id: null,
      });
      await h.monitor.sweep();
    }
    expect(h.registry.get('w1')).toBeDefined();
  });

  it('never has more than health_check_concurrency probes in flight, and probes every worker once', async () => {
    const h = createHarness(testSettings({ worker: { health_check_concurrency: 7 } }));
    const urls = Array.from({ length: 100 }, (_, i) => register(h, `w${i}`));
    let inFlight = 0;
    let maxInFlight = 0;
    for (const url of urls) {
      h.client.health.set(url, async () => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight -= 1;
        return OK;
      });
    }
    const report = await h.monitor.sweep();
    expect(report).toMatchObject({ probed: 100, healthy: 100, failed: 0 });
    expect(maxInFlight).toBe(7);
    expect(new Set(h.client.probes).size).toBe(100);
  });

  it('a slow worker does not delay the others (it only holds one lane)', async () => {
    const h = createHarness(testSettings({ worker: { health_check_concurrency: 2 } }));
    const slow = register(h, 'slow');
    const others = Array.from({ length: 20 }, (_, i) => register(h, `w${i}`));
    let release!: () => void;
    const done: string[] = [];
    h.client.health.set(slow, () => new Promise<HealthOutcome>((r) => (release = () => r(OK))));
    for (const u of others) {
      h.client.health.set(u, async () => {
        done.push(u);
        return OK;
      });
    }
    const sweep = h.monitor.sweep();
    for (let i = 0; i < 50 && done.length < 20; i++) await new Promise((r) => setImmediate(r));
    expect(done).toHaveLength(20);
    release();
    await sweep;
  });

  it('ignores results for workers removed during the sweep', async () => {
    const h = createHarness();
    const url = register(h, 'w1');
    h.client.health.set(url, async () => {
      h.registry.remove('w1');
      return { ok: false, reason: 'x' } as HealthOutcome;
    });
    const report = await h.monitor.sweep();
    expect(report.became_unavailable).toEqual([]);
    expect(h.registry.size).toBe(0);
  });
});

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe("health checks on each worker's own schedule", () => {
  function scheduled(concurrency: number) {
    const h = createHarness(
      testSettings({
        worker: {
          health_check_interval: 10,
          health_check_timeout: 5,
          health_check_concurrency: concurrency,
        },
      }),
    );
    // The harness's manual clock: the test moves its time and fires its timers by hand.
    const monitor = new HealthMonitorService(
      h.registry,
      h.client as unknown as WorkerClient,
      h.settings,
      h.clock,
      false,
      h.metrics,
    );
    return { h, monitor };
  }

  it('checks each worker once per interval, each at its own time, without waiting for the others', async () => {
    const { h, monitor } = scheduled(50);
    const urls = Array.from({ length: 20 }, (_, i) => register(h, `w${i}`));
    // Nothing is due at registration: first checks are spread over the first interval.
    monitor.checkDue();
    let checked = 0;
    for (let t = 0; t < 10_000; t += 250) {
      h.clock.advance(250);
      checked += monitor.checkDue();
      await flush();
    }
    expect(checked).toBe(20);
    expect(new Set(h.client.probes)).toEqual(new Set(urls));
    // The next round: again each worker once, 10 s after its own last check.
    for (let t = 0; t < 10_000; t += 250) {
      h.clock.advance(250);
      checked += monitor.checkDue();
      await flush();
    }
    expect(checked).toBe(40);
    expect(monitor.schedule.late_checks).toBe(0);
  });

  it('hung workers (more of them than there are slots) never delay a healthy worker past its interval + 1 s', async () => {
    const { h, monitor } = scheduled(2);
    const hung = Array.from({ length: 8 }, (_, i) => register(h, `hung${i}`));
    const healthy = Array.from({ length: 4 }, (_, i) => register(h, `ok${i}`));
    const answers: Array<() => void> = [];
    for (const u of hung)
      h.client.health.set(
        u,
        () =>
          new Promise<HealthOutcome>((r) =>
            answers.push(() => r({ ok: false, reason: 'timed out' })),
          ),
      );
    const lastCheck = new Map<string, number>();
    const worstGap = new Map<string, number>();
    for (const u of healthy)
      h.client.health.set(u, async () => {
        const now = h.clock.now();
        const before = lastCheck.get(u);
        if (before !== undefined) worstGap.set(u, Math.max(worstGap.get(u) ?? 0, now - before));
        lastCheck.set(u, now);
        return OK;
      });
    monitor.checkDue();
    // 60 s of ticks; each unanswered check gives up after 5 s (the hung ones' answers), and
    // checks unanswered for a second leave the healthy slots (the demotion timer).
    for (let t = 0; t < 60_000; t += 250) {
      h.clock.advance(250);
      monitor.checkDue();
      await flush();
      h.clock.fireWithin(1000); // the demotion timers (set for 1 s)
      if (t % 5000 === 0) answers.splice(0).forEach((answer) => answer());
      await flush();
    }
    answers.splice(0).forEach((answer) => answer());
    await flush();
    for (const u of healthy) {
      expect(lastCheck.has(u)).toBe(true);
      expect(worstGap.get(u)).toBeLessThanOrEqual(11_000);
    }
    // The hung workers were checked too (on the suspects' slots), and counted as failing.
    expect(h.registry.get('hung0')!.health_check_failures).toBeGreaterThan(0);
  });
});

describe('WorkerClient against a real HTTP fake worker', () => {
  const fake = new FakeWorkers();
  const client = new WorkerClient(testSettings());
  beforeAll(() => fake.start());
  afterAll(async () => {
    await client.onModuleDestroy();
    await fake.stop();
  });

  it('a 200 with healthy:false is a failure', async () => {
    fake.set('sick', {
      health: {
        healthy: false,
        service: 'x',
        worker_id: 'sick',
        worker_status: 'idle',
        current_operation: null,
      },
    });
    expect(await client.probeHealth(fake.url('sick'), 1000)).toEqual({
      ok: false,
      reason: 'worker reports healthy: false',
    });
  });

  it('a healthy busy worker reports its operation', async () => {
    fake.set('busy', {
      health: {
        healthy: true,
        service: 'x',
        worker_id: 'busy',
        worker_status: 'busy',
        current_operation: 'op1',
      },
    });
    expect(await client.probeHealth(fake.url('busy'), 1000)).toEqual({
      ok: true,
      report: { worker_status: 'busy', current_operation: 'op1', worker_id: 'busy' },
    });
  });

  it('times out a slow probe (AbortSignal.timeout) and reports non-2xx', async () => {
    fake.set('slow', { healthDelayMs: 500 });
    const started = Date.now();
    expect(await client.probeHealth(fake.url('slow'), 50)).toEqual({
      ok: false,
      reason: 'timed out',
    });
    expect(Date.now() - started).toBeLessThan(400);
    fake.set('err', { healthStatus: 500 });
    expect(await client.probeHealth(fake.url('err'), 1000)).toEqual({
      ok: false,
      reason: 'HTTP 500',
    });
  });

  it('probes in a thread of its own: a batch of 300 answers, each probe with its own outcome', async () => {
    for (let i = 0; i < 3; i++) fake.set(`t${i}`, { healthStatus: i === 2 ? 503 : 200 });
    const prober = new HealthProber();
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 300 }, (_, k) => prober.probe(fake.url(`t${k % 3}`), 5000)),
      );
      expect(outcomes.filter((o) => o.ok)).toHaveLength(200);
      expect(outcomes.filter((o) => !o.ok && o.reason === 'HTTP 503')).toHaveLength(100);
      expect(outcomes[2]).toEqual({ ok: false, reason: 'HTTP 503' });
      expect(prober.pending).toBe(0);
    } finally {
      await prober.close();
    }
  });

  it('a probe thread that dies fails the probes it held, naming why, and the next probe starts another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ktrdr-prober-'));
    const dying = join(dir, 'dies.js');
    writeFileSync(dying, 'process.exit(3);\n');
    const prober = new HealthProber(dying);
    try {
      expect(await prober.probe(fake.url('t0'), 1000)).toEqual({
        ok: false,
        reason: 'the health probe thread exited (code 3)',
      });
      expect(await prober.probe(fake.url('t0'), 1000)).toEqual({
        ok: false,
        reason: 'the health probe thread exited (code 3)',
      });
    } finally {
      await prober.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a refused connection as unreachable and 503 as busy', async () => {
    const body: WorkerStartRequest<OperationType.BACKTESTING> = {
      operation_id: 'op_1',
      lease_token: 'lease',
      attempt: 1,
      params: BACKTEST_PARAMS,
    };
    const backtest = OperationType.BACKTESTING;
    const refused = await client.startOperation('http://127.0.0.1:1', backtest, body, 1000);
    expect(refused).toMatchObject({ ok: false, kind: 'unreachable' });
    fake.set('full', { startStatus: 503 });
    expect(await client.startOperation(fake.url('full'), backtest, body, 1000)).toMatchObject({
      ok: false,
      kind: 'busy',
    });
  });
});
