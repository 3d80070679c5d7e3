// 30 s per test: several specs start Nest apps and real HTTP servers, which takes seconds on a shared 2-core machine.
module.exports = require('../../jest.config.base.cjs')(__dirname, { testTimeout: 30000 });
