#!/usr/bin/env node
// The README's `npm run dev` as a new user meets it (not a test): clones the committed tree into a
// temporary directory, runs `npm run dev` there on a fresh data directory and times it until the
// backend's "KTRDR is ready" banner (a backtest and a training worker registered); stops it with
// SIGINT (Ctrl-C) and checks that all three services shut down on their own; then runs it again (a
// warm restart: installed, built, database created) and times that too.
// Anchor, same run and same clone: the backend's built dist/main.js started alone until GET /api/v1/health
// answers — the floor a dev start cannot go under. Targets (issue 14): fresh clone < 60 s, warm
// restart < 8 s; each worker registered within 1 s of the backend listening (or of itself
// listening, when it starts later: the delay its registration retries add).
// Needs ports 8000, 5003 and 5005 free (the dev defaults); traffic goes to 127.0.0.1 only.
// Run from the repo root: node bench/dev-start.mjs [--timeout=300]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { arg, root } from './lib.mjs';

const TIMEOUT_S = Math.max(30, Math.min(900, Number(arg('timeout', '300'))));
const PORTS = [8000, 5003, 5005];
/** A worker's line when it listens, and the backend's when it has registered it. */
const WORKER_UP = {
  backtest: /backtest-worker:dev: .* listening on/,
  training: /training-worker:dev: .* listening on/,
};
const WORKER_REGISTERED = {
  backtest: /Worker \S+ \(backtesting\) registered at/,
  training: /Worker \S+ \(training\) registered at/,
};

const portFree = (port) =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** Starts `cmd`, resolves when a line matches `ready` (or rejects after the timeout). */
function startUntil(cmd, args, { cwd, env, ready, label }) {
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  const marks = {};
  const whenReady = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new Error(`${label}: not ready within ${TIMEOUT_S} s; last output:\n${log.slice(-3000)}`),
      );
    }, TIMEOUT_S * 1000);
    const onData = (chunk) => {
      const text = chunk.toString();
      log += text;
      const at = performance.now() - t0;
      if (marks.installed === undefined && /turbo|Tasks:|• Packages in scope/.test(text))
        marks.installed = at;
      if (marks.firstService === undefined && /:dev: /.test(text)) marks.firstService = at;
      if (marks.listening === undefined && /KTRDR backend listening/.test(log))
        marks.listening = at;
      for (const kind of ['backtest', 'training']) {
        if (marks[`${kind}Up`] === undefined && WORKER_UP[kind].test(text)) marks[`${kind}Up`] = at;
        if (marks[`${kind}Registered`] === undefined && WORKER_REGISTERED[kind].test(text))
          marks[`${kind}Registered`] = at;
      }
      if (ready.test(log)) {
        clearTimeout(timer);
        resolve(at);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${label}: exited (${code ?? signal}) before ready:\n${log.slice(-3000)}`));
    });
  });
  return { child, whenReady, marks, output: () => log };
}

const groupAlive = (pid) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * SIGINT to the process group (what Ctrl-C does); resolves once every process of the group is gone
 * (npm itself returns at once: the services' shutdown is what takes time), SIGKILL after 30 s.
 */
async function interrupt(child, output) {
  const t0 = performance.now();
  process.kill(-child.pid, 'SIGINT');
  while (groupAlive(child.pid) && performance.now() - t0 < 30_000)
    await new Promise((r) => setTimeout(r, 50));
  const killed = groupAlive(child.pid);
  if (killed) process.kill(-child.pid, 'SIGKILL');
  return {
    ms: performance.now() - t0,
    killed,
    forced: /Force killed/i.test(output()),
    graceful: /shut down|stopped|Shutting down/i.test(output()),
  };
}

async function waitHealth(url, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

async function main() {
  for (const port of PORTS) {
    if (!(await portFree(port))) {
      console.error(`Port ${port} is in use: the dev start needs 8000, 5003 and 5005 free.`);
      process.exit(1);
    }
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ktrdr-dev-start-'));
  const clone = path.join(work, 'repo');
  const data = path.join(work, 'data');
  const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
  try {
    const c = spawnSync('git', ['clone', '-q', '--no-hardlinks', root, clone], {
      stdio: 'inherit',
    });
    if (c.status !== 0) throw new Error('git clone failed');
    const env = {
      ...process.env,
      KTRDR_DATA_DIR: data,
      // A clone of the working tree, not a CI machine: the dev path as a user sees it.
      CI: '',
    };
    // Output goes to a pipe, as when a user redirects it: colour codes there are noise to report.
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    const readyBanner = /KTRDR is ready/;

    const fresh = startUntil('npm', ['run', 'dev'], {
      cwd: clone,
      env,
      ready: readyBanner,
      label: 'fresh npm run dev',
    });
    const freshMs = await fresh.whenReady;
    const freshStop = await interrupt(fresh.child, fresh.output);
    fs.writeFileSync(path.join(os.tmpdir(), 'ktrdr-dev-start-fresh.log'), fresh.output());

    const warm = startUntil('npm', ['run', 'dev'], {
      cwd: clone,
      env,
      ready: readyBanner,
      label: 'warm npm run dev',
    });
    const warmMs = await warm.whenReady;
    const warmStop = await interrupt(warm.child, warm.output);
    fs.writeFileSync(path.join(os.tmpdir(), 'ktrdr-dev-start-warm.log'), warm.output());
    const noisy = warm
      .output()
      .split('\n')
      .filter((l) => /npm warn|update available|anonymous telemetry|Attention:|\x1b\[/i.test(l));

    // Anchor: the built backend alone, same clone, same (now existing) data directory.
    const t0 = performance.now();
    for (const port of PORTS)
      if (!(await portFree(port)))
        throw new Error(`port ${port} still in use after the dev run stopped`);
    const backend = spawn('node', ['dist/main.js'], {
      cwd: path.join(clone, 'apps/backend'),
      env,
      stdio: 'ignore',
      detached: true,
    });
    await waitHealth('http://127.0.0.1:8000/api/v1/health', TIMEOUT_S * 1000);
    const anchorMs = performance.now() - t0;
    await interrupt(backend, () => '');

    const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
    const stop = (r) =>
      `all services gone ${s(r.ms)} after SIGINT${r.killed ? ' (SIGKILLed after 30 s)' : ''}${r.forced ? ', "Force killed" printed' : ''}`;
    console.log('npm run dev, committed tree cloned fresh (install + build + first database):');
    console.log(
      `  ready ${s(freshMs)} (install done ~${s(fresh.marks.installed ?? 0)}, first service output ${s(fresh.marks.firstService ?? 0)}); Ctrl-C: ${stop(freshStop)}`,
    );
    console.log(`  target < 60 s: ${freshMs < 60_000 ? 'met' : 'NOT met'}`);
    console.log('npm run dev again (warm restart):');
    console.log(
      `  ready ${s(warmMs)} (first service output ${s(warm.marks.firstService ?? 0)}); Ctrl-C: ${stop(warmStop)}`,
    );
    console.log(`  target < 8 s: ${warmMs < 8_000 ? 'met' : 'NOT met'}`);
    // What a worker's registration retries add: from the moment both it and the backend listen to
    // its registration (Infinity when a line never showed).
    const lags = [];
    for (const [run, marks] of [
      ['fresh', fresh.marks],
      ['warm', warm.marks],
    ]) {
      for (const kind of ['backtest', 'training']) {
        const from = Math.max(marks.listening ?? Infinity, marks[`${kind}Up`] ?? Infinity);
        lags.push([`${run} ${kind}`, (marks[`${kind}Registered`] ?? Infinity) - from]);
      }
    }
    console.log(
      `worker registered after both it and the backend listened: ${lags.map(([k, ms]) => `${k} ${s(ms)}`).join(', ')}; target < 1 s: ${lags.every(([, ms]) => ms < 1_000) ? 'met' : 'NOT met'}`,
    );
    console.log(`anchor: built backend alone to GET /api/v1/health 200: ${s(anchorMs)}`);
    console.log(
      `ratios: warm restart / anchor ${(warmMs / anchorMs).toFixed(2)}, fresh / anchor ${(freshMs / anchorMs).toFixed(2)}`,
    );
    console.log(`logs: ${path.join(os.tmpdir(), 'ktrdr-dev-start-{fresh,warm}.log')}`);
    console.log(
      noisy.length === 0
        ? 'console: no npm warnings, update notices or colour codes in the warm run'
        : `console: ${noisy.length} noisy line(s) in the warm run, e.g. ${JSON.stringify(noisy[0])}`,
    );
  } finally {
    cleanup();
  }
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
