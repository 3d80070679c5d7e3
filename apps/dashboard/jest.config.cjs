// Unit tests of the dashboard's pure logic (src/lib, src/api, src/live); the pages are tested in a
// real browser by packages/browser-tests.
const base = require('../../jest.config.base.cjs')(__dirname);
module.exports = {
  ...base,
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        diagnostics: false,
        tsconfig: {
          module: 'commonjs',
          moduleResolution: 'node10',
          target: 'ES2022',
          esModuleInterop: true,
          resolveJsonModule: true,
          isolatedModules: true,
          verbatimModuleSyntax: false,
        },
      },
    ],
  },
};
