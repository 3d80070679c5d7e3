// Shared Jest settings: every package's jest.config.cjs calls this with its own directory.
// Type checking is the `typecheck` task's job (tsc --noEmit), so tests transpile only.
const path = require('node:path');

module.exports = function jestConfig(dir, overrides = {}) {
  const pkg = require(path.join(dir, 'package.json'));
  return {
    rootDir: dir,
    testEnvironment: 'node',
    moduleFileExtensions: ['ts', 'js', 'json'],
    testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
    transform: {
      '^.+\\.ts$': [
        'ts-jest',
        { tsconfig: path.join(__dirname, 'tsconfig.jest.json'), diagnostics: false },
      ],
    },
    reporters: [
      'default',
      [path.join(__dirname, 'tools/jest-results-reporter.cjs'), { name: pkg.name }],
    ],
    ...overrides,
  };
};
