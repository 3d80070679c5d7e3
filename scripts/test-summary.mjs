#!/usr/bin/env node
// Sums the per-package Jest totals written by tools/jest-results-reporter.cjs and prints
// one closing line: "Tests: N passed, N failed, N skipped". Exits 1 when anything failed
// or when no test ran at all.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, '.test-results');
const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
let passed = 0;
let failed = 0;
let skipped = 0;
let brokenSuites = 0;
const failures = [];
console.log('\nTest totals by package:');
for (const f of files.sort()) {
  const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  brokenSuites += r.runtimeErrorSuites;
  for (const f of r.failures ?? []) failures.push({ pkg: r.name, ...f });
  console.log(
    `  ${r.name.padEnd(28)} ${String(r.passed).padStart(5)} passed ${String(r.failed).padStart(4)} failed ${String(r.skipped).padStart(4)} skipped${r.runtimeErrorSuites > 0 ? `  (${r.runtimeErrorSuites} suite(s) failed to run)` : ''}`,
  );
}
// The failed tests, named, with the first lines of their messages: the tail of a CI log shows them.
if (failures.length > 0) {
  console.log(`\nFailed tests (${failures.length}):`);
  for (const f of failures) {
    console.log(`  ${f.pkg} ${f.where}: ${f.title}`);
    for (const line of f.message.split('\n')) console.log(`      ${line}`);
  }
}
// Steps that are not test runners (lint, typecheck, drift checks) and failed: named, and they fail the run.
const failedSteps = process.argv.slice(2).filter(Boolean);
if (failedSteps.length > 0) console.log(`Failed steps: ${failedSteps.join(', ')}`);
if (brokenSuites > 0)
  console.log(`${brokenSuites} test suite(s) failed to run (counted as failed).`);
if (passed === 0) console.log('No test ran.');
console.log(`Tests: ${passed} passed, ${failed + brokenSuites} failed, ${skipped} skipped`);
process.exit(failed + brokenSuites > 0 || failedSteps.length > 0 || passed === 0 ? 1 : 0);
