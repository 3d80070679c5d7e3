// The script tests spawn many short shell processes; the multi-host suite runs for a few minutes.
module.exports = require('../../jest.config.base.cjs')(__dirname, { testTimeout: 120000 });
