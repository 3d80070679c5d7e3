// Process tests spawn a worker (a cold Node start takes seconds on a loaded 2-core machine).
module.exports = require('../../jest.config.base.cjs')(__dirname, { testTimeout: 30_000 });
