// Jest reporter for the e2e run: container logs are written to {log dir}/{suite}/ by the harness;
// this deletes the directory of every suite that passed, so only failures leave logs behind
// (CI uploads e2e/logs/ when the job fails). KTRDR_TEST_KEEP_CONTAINERS keeps all logs.
const fs = require('node:fs');
const path = require('node:path');
const { getTestSettings } = require('@ktrdr/config');

class E2eLogsReporter {
  onTestResult(_test, result) {
    const settings = getTestSettings();
    if (settings.keep_containers) return;
    const failed =
      result.numFailingTests > 0 || Boolean(result.testExecError) || result.failureMessage;
    if (failed) return;
    const dir = settings.log_dir ? path.resolve(settings.log_dir) : path.join(__dirname, 'logs');
    const suite = path
      .basename(result.testFilePath)
      .replace(/\.e2e\.ts$/, '')
      .replace(/\.[jt]s$/, '');
    fs.rmSync(path.join(dir, suite), { recursive: true, force: true });
  }

  onRunComplete() {
    const settings = getTestSettings();
    const dir = settings.log_dir ? path.resolve(settings.log_dir) : path.join(__dirname, 'logs');
    if (!fs.existsSync(dir)) return;
    const left = fs.readdirSync(dir);
    if (left.length > 0)
      console.log(`[e2e] container logs of failed suites: ${dir}/{${left.join(',')}}`);
  }
}

module.exports = E2eLogsReporter;
