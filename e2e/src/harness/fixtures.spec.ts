import { OperationStatus, OperationType, type OperationDto } from '@ktrdr/contracts';
import type { BackendClient, HttpResult } from './api';
import { overlappingRuns, startWithRetry } from './fixtures';
import type { Clock } from './wait';

function op(id: string, worker: string | null, start: number, end: number): OperationDto {
  return {
    operation_id: id,
    worker_id: worker,
    started_at: new Date(start * 1000).toISOString(),
    completed_at: new Date(end * 1000).toISOString(),
    status: OperationStatus.COMPLETED,
  } as OperationDto;
}

describe('overlappingRuns', () => {
  it('accepts back-to-back runs on one worker and parallel runs on different workers', () => {
    expect(
      overlappingRuns([
        op('a', 'w1', 0, 5),
        op('b', 'w1', 5, 9),
        op('c', 'w2', 1, 8),
        op('d', null, 0, 9),
      ]),
    ).toEqual([]);
  });

  it('reports two runs of one worker that overlap', () => {
    const a = op('a', 'w1', 0, 5);
    const b = op('b', 'w1', 4, 9);
    expect(overlappingRuns([b, a])).toEqual([[a, b]]);
  });
});

describe('startWithRetry', () => {
  function fakeApi(statuses: number[]): { api: BackendClient; calls: string[] } {
    const calls: string[] = [];
    const api = {
      post: async (route: string): Promise<HttpResult> => {
        calls.push(route);
        const status = statuses.shift() ?? 500;
        return {
          status,
          body:
            status === 200
              ? { success: true, operation_id: 'op1', status: 'running', worker_id: 'w1' }
              : { message: 'busy' },
          headers: new Headers(),
        };
      },
    } as unknown as BackendClient;
    return { api, calls };
  }
  const clock = (): Clock => {
    let t = 0;
    return { now: () => t, sleep: async (ms) => void (t += ms) };
  };

  it('retries on 503 until a worker takes the operation', async () => {
    const { api, calls } = fakeApi([503, 503, 200]);
    const r = await startWithRetry(api, OperationType.BACKTESTING, {}, 10_000, clock());
    expect(r).toEqual({ response: expect.objectContaining({ operation_id: 'op1' }), retries: 2 });
    expect(calls).toEqual(['backtests/start', 'backtests/start', 'backtests/start']);
  });

  it('does not retry other errors, and gives up at the deadline', async () => {
    await expect(
      startWithRetry(fakeApi([400]).api, OperationType.TRAINING, {}, 10_000, clock()),
    ).rejects.toThrow('start training answered 400');
    await expect(
      startWithRetry(fakeApi(Array(10).fill(503)).api, OperationType.TRAINING, {}, 1_000, clock()),
    ).rejects.toThrow('answered 503');
  });
});
