/**
 * The real system on loopback for the CLI tests: the BUILT backend (in-memory SQLite in a temp data
 * dir) and built backtest and training workers as child processes on free ports, short health timings.
 */
import { LocalStack, builtMains } from '@ktrdr/test-support';

export { freePort } from '@ktrdr/test-support';

export class Stack extends LocalStack {
  constructor() {
    super('ktrdr-cli-', builtMains(require.resolve));
  }

  async start(workers: { backtest: string[]; training: string[] }): Promise<void> {
    await this.configure({
      KTRDR_ACKNOWLEDGE_INSECURE_DEFAULTS: 'true',
      KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '1',
      KTRDR_WORKER_HEALTH_CHECK_FAILURES: '2',
      KTRDR_WORKER_PROGRESS_INTERVAL_MS: '100',
      KTRDR_CHECKPOINT_EPOCH_INTERVAL: '1',
      KTRDR_EVENTS_HEARTBEAT_INTERVAL: '1',
    });
    await this.startBackend();
    for (const id of workers.backtest) await this.startWorker('backtest', id);
    for (const id of workers.training) await this.startWorker('training', id);
    for (const id of [...workers.backtest, ...workers.training]) await this.registered(id, 90_000);
  }

  /** The body of a GET (whatever the backend answered; tests read the fields they assert on). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async get(path: string): Promise<any> {
    return (await this.call('GET', path)).body;
  }
}
