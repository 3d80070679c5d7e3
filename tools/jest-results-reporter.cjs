// Writes each package's Jest totals to <repo>/.test-results/<package>.json so that
// scripts/test-summary.mjs can print one closing line for the whole run.
const fs = require('node:fs');
const path = require('node:path');

class JestResultsReporter {
  constructor(_globalConfig, options) {
    this.name = (options && options.name) || 'unknown';
  }

  onRunComplete(_contexts, results) {
    const dir = path.join(__dirname, '..', '.test-results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${this.name.replace(/[^a-zA-Z0-9._-]/g, '_')}.json`);
    const summary = {
      name: this.name,
      passed: results.numPassedTests,
      failed: results.numFailedTests,
      skipped: results.numPendingTests + results.numTodoTests,
      suites: results.numTotalTestSuites,
      failedSuites: results.numFailedTestSuites,
      runtimeErrorSuites: results.numRuntimeErrorTestSuites,
    };
    fs.writeFileSync(file, JSON.stringify(summary, null, 2));
  }
}

module.exports = JestResultsReporter;
