#!/usr/bin/env node
// The embedded default as a user runs it (not a test): starts the built backend as its own process
// on a fresh data directory (first start: the database is created) and again on the same directory
// (warm start) and measures
//   - start to ready: spawn → GET /api/v1/health/ready answers 200,
//   - idle RSS: resident memory 5 s after ready, and the peak (VmHWM) up to then,
// next to an anchor measured in the same run: a bare `node` HTTP server (spawn → first 200, and its
// RSS) — the floor any Node service sits on. Goals (issue 16): idle RSS < 150 MB and start to ready
// < 2 s on a fresh data directory. Linux only (/proc); traffic to 127.0.0.1 only.
// Build first: pnpm turbo run build --filter=@ktrdr/backend...
// Run from the repo root: node bench/embedded-store.mjs [--idle=5]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { arg, root } from './lib.mjs';

const IDLE_S = Math.max(1, Math.min(60, Number(arg('idle', '5'))));
const TIMEOUT_MS = 60_000;
const MAIN = path.join(root, 'apps/backend/dist/main.js');

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** kB → MB (the figures of /proc/<pid>/status). */
function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Spawns `args`, polls `url` until 200; returns ms to ready, idle memory, and stops the process. */
async function measure(label, args, env, url) {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let readyMs;
  try {
    while (readyMs === undefined) {
      if (performance.now() - t0 > TIMEOUT_MS) throw new Error('not ready within 60 s');
      if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        if (r.status === 200) readyMs = performance.now() - t0;
      } catch {
        // not listening yet
      }
      if (readyMs === undefined) await sleep(10);
    }
    await sleep(IDLE_S * 1000);
    return { readyMs, ...memory(child.pid) };
  } catch (err) {
    throw new Error(`${label}: ${err.message}\n${stderr}`);
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

async function backend(dataDir) {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KTRDR_ENV: 'test',
    KTRDR_DATA_DIR: dataDir,
    KTRDR_API_HOST: '127.0.0.1',
    KTRDR_API_PORT: String(port),
    KTRDR_LOG_LEVEL: 'warn',
  };
  return measure('backend', [MAIN], env, `http://127.0.0.1:${port}/api/v1/health/ready`);
}

async function anchor() {
  const port = await freePort();
  const code = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
  return measure('anchor', ['-e', code], { PATH: process.env.PATH }, `http://127.0.0.1:${port}/`);
}

async function main() {
  if (!fs.existsSync(MAIN)) {
    console.error(
      `${MAIN} is missing. Build first: pnpm turbo run build --filter=@ktrdr/backend...`,
    );
    process.exit(1);
  }
  const base = await anchor();
  const mb = (n) => `${n.toFixed(0)} MB`;
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `embedded store (SQLite): backend process start to /api/v1/health/ready, memory ${IDLE_S} s after ready`,
  );
  console.log(`  anchor (bare node http server): ready ${s(base.readyMs)}, RSS ${mb(base.rss)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ktrdr-bench-embedded-'));
  try {
    const fresh = await backend(dir);
    const warm = await backend(dir);
    for (const [label, r] of [
      ['fresh data directory', fresh],
      ['warm (existing data) ', warm],
    ]) {
      console.log(
        `  ${label}: ready ${s(r.readyMs)} (${(r.readyMs / base.readyMs).toFixed(1)}× anchor), ` +
          `idle RSS ${mb(r.rss)} (${(r.rss / base.rss).toFixed(1)}× anchor), peak ${mb(r.peak)}`,
      );
    }
    console.log(
      `  goals on a fresh data directory: idle RSS < 150 MB ${fresh.rss < 150 ? 'met' : 'NOT met'}, ` +
        `start to ready < 2 s ${fresh.readyMs < 2000 ? 'met' : 'NOT met'}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err.message);
    process.exit(1);
  },
);
