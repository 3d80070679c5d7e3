// Writes each package's Jest totals, and the name and first lines of every failed test, to
// <repo>/.test-results/<package>.json so that scripts/test-summary.mjs can print one closing
// line for the whole run, with the failures just above it (where the tail of a CI log shows them).
const fs = require('node:fs');
const path = require('node:path');

/** Lines of a failure message kept for the summary: enough for the assertion and its diff. */
const FAILURE_LINES = 12;
// Colour codes of Jest's messages; the summary is read in logs.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

function failuresOf(results) {
  const root = path.join(__dirname, '..');
  const out = [];
  for (const file of results.testResults) {
    const where = path.relative(root, file.testFilePath);
    if (file.testExecError) {
      out.push({
        where,
        title: '(the suite failed to run)',
        message: String(file.testExecError.message || ''),
      });
    }
    for (const t of file.testResults) {
      if (t.status !== 'failed') continue;
      out.push({ where, title: t.fullName, message: (t.failureMessages || []).join('\n') });
    }
  }
  return out.map((f) => ({
    ...f,
    message: f.message
      .replace(ANSI, '')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes('node_modules'))
      .slice(0, FAILURE_LINES)
      .join('\n'),
  }));
}

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
      failures: failuresOf(results),
    };
    fs.writeFileSync(file, JSON.stringify(summary, null, 2));
  }
}

module.exports = JestResultsReporter;
