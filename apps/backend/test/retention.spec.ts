import { CompletionStatus, OperationType, WorkerType } from '@ktrdr/contracts';
import { BACKTEST_PARAMS, createHarness } from './support/harness';
import { testSettings } from './support/settings';

describe('retention', () => {
  it('purges finished operations older than retention_days, keeps active and recent ones', async () => {
    const h = createHarness(testSettings({ operations: { retention_days: 7 } }));
    for (const id of ['w1', 'w2']) {
      h.registry.upsert({
        worker_id: id,
        worker_type: WorkerType.BACKTESTING,
        endpoint_url: `http://${id}:1`,
        current_operation_id: null,
      });
    }
    const old = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    const active = await h.operations.start(OperationType.BACKTESTING, BACKTEST_PARAMS);
    const lease = (await h.repo.get(old.operation_id))!.lease_token!;
    await h.operations.complete(old.operation_id, {
      lease_token: lease,
      status: CompletionStatus.COMPLETED,
    });
    h.clock.advanceSeconds(7 * 86400 - 1);
    expect(await h.retention.purge()).toBe(0);
    h.clock.advanceSeconds(2);
    expect(await h.retention.purge()).toBe(1);
    expect(await h.repo.get(old.operation_id)).toBeNull();
    expect(await h.repo.get(active.operation_id)).not.toBeNull();
  });
});
