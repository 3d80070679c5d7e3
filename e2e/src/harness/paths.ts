import path from 'node:path';
import { getTestSettings } from '@ktrdr/config';

/** The e2e package directory and the repository root. */
export const E2E_ROOT = path.resolve(__dirname, '..', '..');
export const REPO_ROOT = path.resolve(E2E_ROOT, '..');

/** Where container logs go (kept only for suites that failed): KTRDR_TEST_LOG_DIR or e2e/logs. */
export function logDir(): string {
  const configured = getTestSettings().log_dir;
  return configured ? path.resolve(configured) : path.join(E2E_ROOT, 'logs');
}

/** Image names are fixed (kinfra, compose and these suites use them). */
export const IMAGES = {
  backend: 'ktrdr/backend:local',
  backtestWorker: 'ktrdr/backtest-worker:local',
  trainingWorker: 'ktrdr/training-worker:local',
} as const;
