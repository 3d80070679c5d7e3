// The Testcontainers suites (pnpm --filter @ktrdr/e2e test:e2e). Run in band: the suites share one
// Docker Engine and 2 CPU cores. Totals go to .test-results like every package's unit tests.
const path = require('node:path');
const base = require('../jest.config.base.cjs')(__dirname);

module.exports = {
  ...base,
  testMatch: ['<rootDir>/suites/**/*.e2e.ts'],
  globalSetup: '<rootDir>/src/harness/global-setup.ts',
  globalTeardown: '<rootDir>/src/harness/global-teardown.ts',
  testTimeout: 180_000,
  slowTestThreshold: 60,
  reporters: [
    'default',
    [
      path.join(__dirname, '..', 'tools/jest-results-reporter.cjs'),
      { name: '@ktrdr/e2e (docker suites)' },
    ],
    path.join(__dirname, 'e2e-logs-reporter.cjs'),
  ],
};
