import { OperationStatus, type OperationDto } from '@ktrdr/contracts';
import { overlappingRuns } from '../src/harness/fixtures';

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
