import { spawnSync } from 'node:child_process';
import { OperationStatus, OperationType, WorkerType } from '@ktrdr/contracts';
import { BACKTEST_PARAMS, createHarness } from './support/harness';
import { testSettings } from './support/settings';

async function sample(
  h: ReturnType<typeof createHarness>,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const metric = h.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const values = (await metric.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    ?.value;
}

describe('MetricsService', () => {
  it('counts each final status once in ktrdr_operations_completed_total, lifecycle steps only in ktrdr_operations_total', async () => {
    const h = createHarness();
    const bt = OperationType.BACKTESTING;
    h.metrics.recordStatus(bt, OperationStatus.PENDING);
    h.metrics.recordStatus(bt, OperationStatus.RUNNING);
    h.metrics.recordStatus(bt, OperationStatus.COMPLETED, new Date(0), new Date(2_000));
    h.metrics.recordStatus(OperationType.TRAINING, OperationStatus.FAILED);
    const completed = (status: string, type: string = bt) =>
      sample(h, 'ktrdr_operations_completed_total', { operation_type: type, status });
    expect(await completed('completed')).toBe(1);
    expect(await completed('failed')).toBe(0);
    expect(await completed('failed', 'training')).toBe(1);
    expect(await completed('pending')).toBeUndefined();
    expect(await completed('running')).toBeUndefined();
    expect(
      await sample(h, 'ktrdr_operations_total', { operation_type: bt, status: 'running' }),
    ).toBe(1);
  });

  it('records dispatch tries and orphans by their labels', async () => {
    const h = createHarness();
    const t = OperationType.TRAINING;
    h.metrics.dispatchTry(t, 'busy');
    h.metrics.dispatchTry(t, 'accepted');
    h.metrics.orphanDetected(t, 'redispatched');
    const tl = { operation_type: t };
    expect(await sample(h, 'ktrdr_dispatch_tries_total', { ...tl, outcome: 'busy' })).toBe(1);
    expect(await sample(h, 'ktrdr_dispatch_tries_total', { ...tl, outcome: 'accepted' })).toBe(1);
    expect(await sample(h, 'ktrdr_dispatch_tries_total', { ...tl, outcome: 'rejected' })).toBe(0);
    expect(await sample(h, 'ktrdr_orphans_detected_total', { ...tl, action: 'redispatched' })).toBe(
      1,
    );
  });

  it("the orphan detector counts a lost worker's operation as redispatched, then (no attempts left) as failed", async () => {
    const h = createHarness(
      testSettings({
        orphan: { timeout_seconds: 10, check_interval_seconds: 1 },
        operations: { max_attempts: 2 },
      }),
    );
    const register = (id: string): void => {
      h.registry.upsert({
        worker_id: id,
        worker_type: WorkerType.BACKTESTING,
        endpoint_url: `http://${id}:5003`,
        current_operation_id: null,
      });
    };
    const orphans = (action: string) =>
      sample(h, 'ktrdr_orphans_detected_total', { operation_type: 'backtesting', action });
    register('w1');
    const { operation_id } = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    await h.dispatcher.settle();
    expect((await h.repo.get(operation_id))!.worker_id).toBe('w1');
    for (let round = 1; round <= 2; round++) {
      h.registry.remove(round === 1 ? 'w1' : 'w2');
      await h.orphans.check();
      h.clock.advanceSeconds(11);
      await h.orphans.check();
      if (round === 1) {
        expect(await orphans('redispatched')).toBe(1);
        register('w2');
        await h.dispatcher.dispatchAll();
        await h.dispatcher.settle();
        expect((await h.repo.get(operation_id))!.worker_id).toBe('w2');
      }
    }
    expect(await orphans('failed')).toBe(1);
    expect((await h.repo.get(operation_id))!.status).toBe(OperationStatus.FAILED);
  });

  (spawnSync('promtool', ['--version']).status === 0 ? it : it.skip)(
    'the exposition with per-worker series passes `promtool check metrics`',
    async () => {
      const h = createHarness();
      h.metrics.healthCheckFailed('w1', WorkerType.BACKTESTING);
      h.metrics.healthTransition('w1', WorkerType.BACKTESTING, 'temporarily_unavailable');
      const { body } = await h.metrics.exposition();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({
        status: 0,
        output: '',
      });
    },
  );
});
