#!/usr/bin/env node
// The README's two commands: `npm run dev` (run the platform) and `npm test` (run every check).
// Works on a fresh machine with only Node.js 20+ and npm: it installs pnpm when missing,
// installs the workspace (unless the last install is of this very lockfile), then hands over to turbo.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2];

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) return { code: 127, error: r.error };
  return { code: r.status ?? (r.signal ? 128 : 1) };
}

function has(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function pnpmCommand() {
  if (has('pnpm')) return ['pnpm'];
  console.log('[ktrdr] pnpm not found: installing pnpm@10 with npm (npm i -g pnpm@10)');
  if (run('npm', ['i', '-g', 'pnpm@10']).code === 0 && has('pnpm')) return ['pnpm'];
  console.log('[ktrdr] global install failed; using npx --yes pnpm@10 instead');
  return ['npx', '--yes', 'pnpm@10'];
}

function step(name, pnpm, args, failed) {
  console.log(`\n[ktrdr] ── ${name}: pnpm ${args.join(' ')}`);
  const { code } = run(pnpm[0], [...pnpm.slice(1), ...args]);
  if (code !== 0) {
    console.log(`[ktrdr] ${name} failed (exit ${code})`);
    failed.push(name);
  }
  return code === 0;
}

/**
 * True when the last install is of this very lockfile (pnpm keeps a copy of what it installed in
 * node_modules/.pnpm/lock.yaml) and no package.json changed since: `pnpm install` would do nothing,
 * and it takes a few seconds to find that out (most of a warm `npm run dev` otherwise).
 */
function installUpToDate() {
  const installed = path.join(root, 'node_modules', '.pnpm', 'lock.yaml');
  const lock = path.join(root, 'pnpm-lock.yaml');
  try {
    if (!fs.readFileSync(installed).equals(fs.readFileSync(lock))) return false;
    const since = fs.statSync(installed).mtimeMs;
    if (fs.statSync(path.join(root, 'pnpm-workspace.yaml')).mtimeMs > since) return false;
    const manifests = [path.join(root, 'package.json')];
    for (const dir of ['apps', 'packages']) {
      for (const name of fs.readdirSync(path.join(root, dir))) {
        manifests.push(path.join(root, dir, name, 'package.json'));
      }
    }
    manifests.push(path.join(root, 'e2e', 'package.json'));
    return manifests.every((f) => {
      if (!fs.existsSync(f)) return true;
      if (fs.statSync(f).mtimeMs > since) return false;
      // A package with dependencies has its node_modules (links into the store) after an install.
      const { dependencies = {}, devDependencies = {} } = JSON.parse(fs.readFileSync(f, 'utf8'));
      const none = Object.keys({ ...dependencies, ...devDependencies }).length === 0;
      return none || fs.existsSync(path.join(path.dirname(f), 'node_modules'));
    });
  } catch {
    return false;
  }
}

const upToDate = installUpToDate();
// The dev path runs turbo itself: it needs pnpm only to install.
const pnpm = upToDate && mode === 'dev' ? [] : pnpmCommand();
const frozen = fs.existsSync(path.join(root, 'pnpm-lock.yaml')) ? ['--frozen-lockfile'] : [];
if (upToDate) {
  console.log('[ktrdr] dependencies are installed from this pnpm-lock.yaml: pnpm install skipped');
} else if (run(pnpm[0], [...pnpm.slice(1), 'install', ...frozen]).code !== 0) {
  console.error('[ktrdr] pnpm install failed');
  process.exit(1);
}

if (mode === 'dev') {
  // Backend on 8000, backtest worker on 5003, training worker on 5005 (see each app's dev script),
  // built with what they depend on (the dashboard too) and the CLI; not kinfra or the e2e suites.
  // Replayed build logs of cached packages are not printed again (--output-logs=new-only). A service
  // that dies (a worker killed mid-run) leaves the others running (--continue): the backend requeues
  // its operation, and the worker can be started again (`pnpm --filter <worker> dev`).
  const only = ['@ktrdr/backend', '@ktrdr/backtest-worker', '@ktrdr/training-worker', '@ktrdr/cli'];
  const turbo = path.join(root, 'node_modules', '.bin', 'turbo');
  const args = [
    'run',
    'dev',
    '--output-logs=new-only',
    '--continue=dependencies-successful',
    ...only.map((name) => `--filter=${name}`),
  ];
  // Ctrl-C reaches every process of the terminal's group, and npm forwards it once more: turbo
  // reads a second SIGINT as "force kill". So turbo runs in a group of its own and gets exactly
  // one SIGINT per Ctrl-C from here (a second Ctrl-C, a second later, still forces it).
  // (The group: node_modules/.bin/turbo is a node wrapper around the native binary.)
  const child = spawn(turbo, args, { stdio: 'inherit', cwd: root, detached: true });
  const signalGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  const groupAlive = () => {
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  let lastInt = 0;
  process.on('SIGINT', () => {
    const now = Date.now();
    if (now - lastInt < 1000) return;
    lastInt = now;
    signalGroup('SIGINT');
  });
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => signalGroup(signal));
  child.on('error', (err) => {
    console.error(`[ktrdr] could not start turbo (${turbo}): ${err.message}`);
    process.exit(127);
  });
  // The prompt comes back once every service has stopped, not when the wrapper exits.
  child.on('exit', (code, signal) => {
    const done = () => process.exit(code ?? (signal === 'SIGINT' ? 0 : 1));
    const deadline = Date.now() + 60_000;
    const wait = () => (groupAlive() && Date.now() < deadline ? setTimeout(wait, 50) : done());
    wait();
  });
} else if (mode === 'test') {
  fs.rmSync(path.join(root, '.test-results'), { recursive: true, force: true });
  const failed = [];
  step('format', pnpm, ['exec', 'prettier', '--check', '.', '--log-level', 'warn'], failed);
  step('build', pnpm, ['exec', 'turbo', 'run', 'build'], failed);
  step('lint', pnpm, ['exec', 'turbo', 'run', 'lint', '--continue'], failed);
  step('typecheck', pnpm, ['exec', 'turbo', 'run', 'typecheck', '--continue'], failed);
  step('docs drift', pnpm, ['exec', 'turbo', 'run', 'docs:check', '--continue'], failed);
  step(
    'unit and integration tests',
    pnpm,
    ['exec', 'turbo', 'run', 'test', '--continue', '--concurrency=1'],
    failed,
  );
  // The Testcontainers suites need a Docker Engine; without one they are reported as not run.
  if (has('docker', ['info'])) {
    step('e2e suites (Testcontainers)', pnpm, ['--filter', '@ktrdr/e2e', 'test:e2e'], failed);
  } else {
    console.log(
      '\n[ktrdr] ── e2e suites did NOT run: no Docker Engine answers `docker info` ' +
        '(bash infra/scripts/ensure-docker.sh starts one; .ci/run does it for you)',
    );
  }
  const summary = run('node', ['scripts/test-summary.mjs', ...failed]);
  process.exit(summary.code);
} else {
  console.error('usage: node scripts/run.mjs dev|test');
  process.exit(2);
}
