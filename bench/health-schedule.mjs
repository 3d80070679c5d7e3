#!/usr/bin/env node
// Health checks on each worker's own schedule (not a test): boots the built backend in-process on
// loopback, puts N workers in its registry whose /health is served by one local HTTP server (a path
// per worker), a share of which never answers (hung: the request is held open), and runs the
// monitor's schedule (a tick every 250 ms, as in the app) for a few intervals. Reports, for every
// healthy worker, the longest gap between two of its checks (goal: interval + 1 s at most), and the
// p99 of GET /api/v1/health while the checks run against the same requests with no checks running
// (the anchor, same run). The fake workers and the API client run in a thread of their own, as they
// would be other processes: the backend's event loop carries only the backend's work.
// Build first: pnpm turbo run build --filter=@ktrdr/backend...
// Run from the repo root: node bench/health-schedule.mjs [--workers=5000] [--hung=0.1] [--interval=10]
//   [--rounds=3]
import { createServer } from 'node:http';
import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { AUTH, loadBackend, run, startBackend } from './backend.mjs';
import { arg as textArg } from './lib.mjs';

const arg = (name, dflt) => Number(textArg(name, String(dflt)));
const WORKERS = Math.max(10, Math.min(20_000, arg('workers', 5000)));
const HUNG = Math.max(0, Math.min(0.9, arg('hung', 0.1)));
const INTERVAL_S = Math.max(1, Math.min(60, arg('interval', 10)));
const ROUNDS = Math.max(2, Math.min(10, arg('rounds', 3)));
const REQUESTS = 2000;
const backend = isMainThread ? loadBackend() : null;

const pct = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main() {
  const hungCount = Math.round(WORKERS * HUNG);
  const isHung = (i) => i < hungCount;
  const helper = new Worker(new URL(import.meta.url), { workerData: { hungCount } });
  const ask = (msg) =>
    new Promise((resolve, reject) => {
      helper.once('message', resolve);
      helper.once('error', reject);
      helper.postMessage(msg);
    });
  const { port: fakePort } = await ask({ cmd: 'listen' });

  const base0 = backend.DEFAULT_BACKEND_SETTINGS;
  const settings = {
    ...base0,
    worker: {
      ...base0.worker,
      health_check_interval: INTERVAL_S,
      health_check_timeout: 5,
      removal_threshold: 3600,
    },
  };
  const { nestApp, base } = await startBackend(backend, { settings });
  const registry = nestApp.get(backend.WorkerRegistry);
  const monitor = nestApp.get(backend.HealthMonitorService);
  let ticker = null;
  try {
    for (let i = 0; i < WORKERS; i++)
      registry.upsert({
        worker_id: `bench-${i}`,
        worker_type: i % 4 === 0 ? 'training' : 'backtesting',
        endpoint_url: `http://127.0.0.1:${fakePort}/w/${i}`,
        current_operation_id: null,
      });

    const timeHealth = async (ms) => (await ask({ cmd: 'time', base, ms })).latencies;
    // Anchor: the API with no checks running.
    const idle = await timeHealth(INTERVAL_S * 1000);

    // The schedule, ticking as the app's PeriodicTask does.
    const t0 = performance.now();
    ticker = setInterval(() => monitor.checkDue(), 250);
    // During the rounds after the first (the first spreads the checks over the interval).
    await new Promise((r) => setTimeout(r, INTERVAL_S * 1000));
    const busy = await timeHealth((ROUNDS - 1) * INTERVAL_S * 1000);
    const left = t0 + ROUNDS * INTERVAL_S * 1000 + 500 - performance.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    clearInterval(ticker);
    ticker = null;

    // Per healthy worker: its longest gap between two checks, and whether it was checked at all.
    const { checks } = await ask({ cmd: 'checks' });
    const gaps = [];
    let never = 0;
    for (let i = hungCount; i < WORKERS; i++) {
      const times = checks.get(i) ?? [];
      if (times.length < 2) {
        never += times.length === 0 ? 1 : 0;
        if (times.length < 2) gaps.push(Infinity);
        continue;
      }
      let worst = 0;
      for (let k = 1; k < times.length; k++) worst = Math.max(worst, times[k] - times[k - 1]);
      gaps.push(worst);
    }
    gaps.sort((a, b) => a - b);
    const worst = gaps[gaps.length - 1];
    const within = gaps.filter((g) => g <= INTERVAL_S * 1000 + 1000).length;
    const hungChecks = [...checks].filter(([i]) => isHung(i)).reduce((n, [, t]) => n + t.length, 0);
    const fmt = (v) => (Number.isFinite(v) ? `${(v / 1000).toFixed(2)} s` : 'never twice');

    console.log(
      `health schedule benchmark — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`,
    );
    console.log(
      `${WORKERS} workers, ${hungCount} hung (never answer, 5 s timeout), interval ${INTERVAL_S} s, ${ROUNDS} rounds, concurrency ${settings.worker.health_check_concurrency} per lane`,
    );
    console.log(
      `healthy workers checked within interval + 1 s every time: ${within}/${gaps.length} (goal: all); longest gap p50 ${fmt(pct(gaps, 50))}, p99 ${fmt(pct(gaps, 99))}, max ${fmt(worst)}; never checked: ${never}`,
    );
    console.log(`hung workers' checks started: ${hungChecks} (they hold the suspects' slots)`);
    const p99Idle = pct(idle, 99);
    const p99Busy = pct(busy, 99);
    console.log(
      `GET /api/v1/health p99: ${p99Busy.toFixed(2)} ms with checks running (${busy.length} req) vs ${p99Idle.toFixed(2)} ms without (anchor, ${idle.length} req): ratio ${(p99Busy / p99Idle).toFixed(2)}; p50 ${pct(busy, 50).toFixed(2)} vs ${pct(idle, 50).toFixed(2)} ms`,
    );
  } finally {
    if (ticker) clearInterval(ticker);
    await ask({ cmd: 'close' });
    await nestApp.close();
    await helper.terminate();
  }
}

/** The helper thread: the fake workers' /health server and the API client that times /health. */
function helperThread() {
  const { hungCount } = workerData;
  const isHung = (i) => i < hungCount;
  const now = () => performance.timeOrigin + performance.now();
  const checks = new Map(); // worker index -> times its /health was asked (epoch ms)
  const held = new Set();
  const fake = createServer((req, res) => {
    const m = /^\/w\/(\d+)\/health$/.exec(req.url ?? '');
    if (!m) return res.writeHead(404).end();
    const i = Number(m[1]);
    const times = checks.get(i) ?? [];
    times.push(now());
    checks.set(i, times);
    if (isHung(i)) {
      held.add(res);
      res.on('close', () => held.delete(res));
      return; // never answers
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        healthy: true,
        service: 'bench',
        worker_id: `bench-${i}`,
        worker_status: 'idle',
        current_operation: null,
      }),
    );
  });
  fake.keepAliveTimeout = 10_000;
  const timeHealth = async (base, ms) => {
    const lat = [];
    const end = performance.now() + ms;
    while (lat.length < REQUESTS && performance.now() < end) {
      const t0 = performance.now();
      const res = await fetch(`${base}/api/v1/health`, { headers: AUTH });
      await res.arrayBuffer();
      lat.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`GET /api/v1/health: HTTP ${res.status}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return lat.sort((a, b) => a - b);
  };
  parentPort.on('message', async (msg) => {
    if (msg.cmd === 'listen') {
      await new Promise((r) => fake.listen(0, '127.0.0.1', r));
      parentPort.postMessage({ port: fake.address().port });
    } else if (msg.cmd === 'time') {
      parentPort.postMessage({ latencies: await timeHealth(msg.base, msg.ms) });
    } else if (msg.cmd === 'checks') {
      parentPort.postMessage({ checks: new Map(checks) });
    } else if (msg.cmd === 'close') {
      for (const res of held) res.destroy();
      fake.closeAllConnections();
      await new Promise((r) => fake.close(r));
      parentPort.postMessage({ closed: true });
    }
  });
}

if (isMainThread) run(main);
else helperThread();
