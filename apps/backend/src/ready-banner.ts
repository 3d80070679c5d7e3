import type { Logger } from '@nestjs/common';
import { WorkerStatus, WorkerType } from '@ktrdr/contracts';
import type { SecretsReport } from './config/settings';
import { DASHBOARD_PATH } from './dashboard';
import type { LifecycleEvents, WorkerEvent } from './operations/lifecycle-events';

/**
 * Development: one banner once a backtest and a training worker are available (what `npm run dev`
 * waits for), with the URLs and a first command to try.
 */
export function announceWhenReady(
  events: LifecycleEvents,
  logger: Pick<Logger, 'log'>,
  api: { host: string; port: number },
  dashboard: boolean,
  secrets: Pick<SecretsReport, 'dev_key_file'>,
): void {
  const ready = new Set<WorkerType>();
  const onWorker = ({ worker }: WorkerEvent): void => {
    if (worker.status !== WorkerStatus.AVAILABLE) return;
    ready.add(worker.worker_type);
    if (!ready.has(WorkerType.BACKTESTING) || !ready.has(WorkerType.TRAINING)) return;
    events.off('worker', onWorker);
    const host = ['0.0.0.0', '::', ''].includes(api.host) ? 'localhost' : api.host;
    const base = `http://${host}:${api.port}`;
    // After the registration's own log line (emitted in the same tick as this event).
    setImmediate(() =>
      logger.log(
        [
          'KTRDR is ready: a backtest and a training worker are registered',
          ...(dashboard ? [`  Dashboard  ${base}${DASHBOARD_PATH}/`] : []),
          `  API        ${base}/api/v1${secrets.dev_key_file ? ` (key: ${secrets.dev_key_file})` : ''}`,
          `  Swagger    ${base}/api/docs`,
          '  Try        npx ktrdr backtest run --symbol SYNTH-DEMO --timeframe 1h --start 2024-01-01 --end 2024-03-01 --strategy sma_crossover --fast 10 --slow 30',
        ].join('\n'),
      ),
    );
  };
  events.on('worker', onWorker);
}
