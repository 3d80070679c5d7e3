import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { getCheckpointSettings, getDataSettings, getResultsSettings } from '@ktrdr/config';
import { OperationType, WORKER_START, WorkerType } from '@ktrdr/contracts';
import { hostCapabilities, WorkerEngine } from '@ktrdr/worker-runtime';
import { prepareBacktestJob, type BacktestJobData, type BacktestStartRequest } from './job';

export const SERVICE_NAME = 'backtest-worker';

/**
 * The compiled job module. From dist it sits next to this file; under ts-jest (src/) the
 * thread still needs compiled JavaScript, so it is taken from dist (the test script builds first).
 */
export function jobModulePath(dir = __dirname): string {
  const here = join(dir, 'job.js');
  return existsSync(here) ? here : join(dir, '..', 'dist', 'job.js');
}

/** Its job module (job.ts) runs requests of type BacktestStartRequest with BacktestJobData. */
export const backtestEngine: WorkerEngine<BacktestStartRequest, BacktestJobData> = {
  serviceName: SERVICE_NAME,
  workerType: WorkerType.BACKTESTING,
  operationType: OperationType.BACKTESTING,
  startRoute: WORKER_START[OperationType.BACKTESTING].route,
  startRequestDto: WORKER_START[OperationType.BACKTESTING].request,
  jobModulePath: jobModulePath(),
  // One warm thread for every job: JIT-compiled engine, loaded modules and the bars cache stay.
  reuseThread: true,
  unitName: 'bars',
  capabilities: () => Promise.resolve(hostCapabilities()),
  prepareJob: (request): BacktestJobData => {
    const data = getDataSettings();
    const results = getResultsSettings();
    const job: BacktestJobData = {
      data_dir: data.dir,
      models_dir: data.models_dir,
      max_trades: results.max_trades,
      max_equity_points: results.max_equity_points,
      upload_chunk_rows: results.upload_chunk_rows,
      checkpoint_interval_ms: getCheckpointSettings().backtest_interval_seconds * 1000,
      bars_cache_bytes: data.bars_cache_mb * 1024 * 1024,
    };
    return prepareBacktestJob(request.params, job);
  },
};
