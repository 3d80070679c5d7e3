/** Built services as child processes on loopback, for the system suites (see @ktrdr/test-support). */
import { builtMains } from '@ktrdr/test-support';

export * from '@ktrdr/test-support';

export const {
  backend: BACKEND_MAIN,
  backtest: BACKTEST_MAIN,
  training: TRAINING_MAIN,
} = builtMains(require.resolve);
