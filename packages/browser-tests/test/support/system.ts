/**
 * The real system on loopback for the browser tests: the BUILT backend (in-memory SQLite, temp data
 * dir) serving the BUILT dashboard, and a built backtest worker, as child processes on free ports.
 */
import { dirname, join } from 'node:path';
import { LocalStack, builtMains, requireBuilt } from '@ktrdr/test-support';

export type { ApiAnswer } from '@ktrdr/test-support';

export const DASHBOARD_INDEX = join(
  dirname(require.resolve('@ktrdr/dashboard/package.json')),
  'dist',
  'index.html',
);

export class System extends LocalStack {
  constructor() {
    super('ktrdr-browser-', builtMains(require.resolve));
  }

  /**
   * The API key the backend wants (its development key, `{data dir}/dev-api-key`), or null when
   * the backend asks for none.
   */
  get apiKey(): string | null {
    return this.devKey() ?? null;
  }

  /** Backend, then the workers (`training-*` ids run the training worker), each registered. */
  async start(workers: string[]): Promise<void> {
    requireBuilt(this.mains.backend, this.mains.backtest, DASHBOARD_INDEX);
    await this.configure({
      KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '2',
      KTRDR_WORKER_HEALTH_CHECK_FAILURES: '3',
      KTRDR_WORKER_PROGRESS_INTERVAL_MS: '50',
      KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS: '5',
    });
    await this.startBackend();
    const check = await this.call('GET', '/workers');
    if (check.status !== 200) {
      const key = this.apiKey === null ? 'no development key written' : 'the development key';
      throw new Error(`GET /workers with ${key} answered ${check.status}`);
    }
    for (const id of workers) {
      const training = id.startsWith('training');
      // A checkpoint every epoch, so a cancelled training can be resumed.
      await this.startWorker(
        training ? 'training' : 'backtest',
        id,
        training ? { KTRDR_CHECKPOINT_EPOCH_INTERVAL: '1' } : {},
      );
    }
    for (const id of workers) await this.registered(id);
  }
}
