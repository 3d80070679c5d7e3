#!/usr/bin/env node
// The `ktrdr` command. A file of its own, outside dist/, so that pnpm links it on the first install
// of a fresh clone (a bin pointing into dist/ does not exist yet then, and pnpm skips it with a warning).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const entry = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write(
    `ktrdr is not built yet (${entry} is missing): run "npm run dev" once, or "pnpm --filter @ktrdr/cli build"\n`,
  );
  process.exit(1);
}
require(entry).runMain();
