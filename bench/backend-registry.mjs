#!/usr/bin/env node
// Backend worker-registry benchmark (not a test): boots the built backend in-process on loopback with
// the operations store on in-memory SQLite, registers N fake workers over HTTP (their /health is served by one
// local HTTP server, a distinct path per worker), then measures full health sweeps (bounded
// concurrency, the real HTTP client) and GET /api/v1/workers latency (p50/p95).
// Build first: pnpm turbo run build --filter=@ktrdr/backend...
// Run from the repo root: node bench/backend-registry.mjs [--workers=1000] [--sweeps=3] [--requests=200]
//   [--concurrency=50]
import { createServer } from 'node:http';
import os from 'node:os';
import { AUTH, loadBackend, run, startBackend } from './backend.mjs';
import { arg as textArg } from './lib.mjs';

const arg = (name, dflt) => Number(textArg(name, String(dflt)));
const WORKERS = Math.max(1, Math.min(20_000, arg('workers', 1000)));
const SWEEPS = Math.max(1, Math.min(20, arg('sweeps', 3)));
const REQUESTS = Math.max(10, Math.min(5000, arg('requests', 200)));
const CONCURRENCY = Math.max(1, Math.min(1000, arg('concurrency', 50)));
const backend = loadBackend();

const pct = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (n) => `${n.toFixed(2)} ms`;

async function main() {
  // One loopback server plays every worker's /health.
  const fake = createServer((req, res) => {
    const m = /^\/w\/([^/]+)\/health$/.exec(req.url ?? '');
    if (!m) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        healthy: true,
        service: 'bench',
        worker_id: m[1],
        worker_status: 'idle',
        current_operation: null,
      }),
    );
  });
  fake.keepAliveTimeout = 5000;
  await new Promise((r) => fake.listen(0, '127.0.0.1', r));
  const fakePort = fake.address().port;

  const defaults = backend.DEFAULT_BACKEND_SETTINGS;
  const settings = {
    ...defaults,
    worker: { ...defaults.worker, health_check_concurrency: CONCURRENCY },
  };
  const { nestApp, base } = await startBackend(backend, { settings });

  try {
    // Register the workers (20 requests in flight).
    let t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < WORKERS) {
          const i = next++;
          const res = await fetch(`${base}/api/v1/workers/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...AUTH },
            body: JSON.stringify({
              worker_id: `bench-${i}`,
              worker_type: i % 4 === 0 ? 'training' : 'backtesting',
              endpoint_url: `http://127.0.0.1:${fakePort}/w/bench-${i}`,
            }),
          });
          if (res.status !== 200)
            throw new Error(`register ${i}: HTTP ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
        }
      }),
    );
    const registerMs = performance.now() - t0;
    const registry = nestApp.get(backend.WorkerRegistry);
    if (registry.size !== WORKERS)
      throw new Error(`expected ${WORKERS} workers, registry has ${registry.size}`);

    // Full health sweeps through the real monitor and HTTP client.
    const monitor = nestApp.get(backend.HealthMonitorService);
    const sweeps = [];
    for (let s = 0; s < SWEEPS; s++) {
      const report = await monitor.sweep();
      if (report.healthy !== WORKERS)
        throw new Error(`sweep ${s}: ${report.healthy}/${WORKERS} healthy`);
      sweeps.push(report.duration_ms);
    }

    // GET /workers latency (sequential requests, full list and a filtered one).
    const timeGet = async (url) => {
      const lat = [];
      let bytes = 0;
      for (let i = 0; i < REQUESTS; i++) {
        t0 = performance.now();
        const res = await fetch(url, { headers: AUTH });
        const body = await res.arrayBuffer();
        lat.push(performance.now() - t0);
        bytes = body.byteLength;
        if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
      }
      lat.sort((a, b) => a - b);
      return { p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99), bytes };
    };
    const all = await timeGet(`${base}/api/v1/workers`);
    const filtered = await timeGet(`${base}/api/v1/workers?worker_type=training&status=available`);
    const page = await timeGet(
      `${base}/api/v1/workers?limit=100&offset=${Math.floor(WORKERS / 2)}`,
    );
    // Anchor: a bare node:http server that serialises the same list (JSON.stringify per request).
    const listBody = await (await fetch(`${base}/api/v1/workers`, { headers: AUTH })).json();
    const bare = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(listBody));
    });
    await new Promise((r) => bare.listen(0, '127.0.0.1', r));
    const anchor = await timeGet(`http://127.0.0.1:${bare.address().port}/`);
    bare.closeAllConnections();
    await new Promise((r) => bare.close(r));

    console.log(
      `backend registry benchmark — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`,
    );
    console.log(
      `workers registered:             ${WORKERS} in ${ms(registerMs)} (${(WORKERS / (registerMs / 1000)).toFixed(0)}/s, 20 in flight)`,
    );
    console.log(
      `health sweep (concurrency ${CONCURRENCY}):  ${sweeps.map(ms).join(', ')} (min ${ms(Math.min(...sweeps))})`,
    );
    console.log(
      `GET /api/v1/workers (${REQUESTS} req):    p50 ${ms(all.p50)}, p95 ${ms(all.p95)}, p99 ${ms(all.p99)}, ${(all.bytes / 1024).toFixed(0)} KiB`,
    );
    console.log(
      `GET /api/v1/workers?worker_type=training&status=available: p50 ${ms(filtered.p50)}, p95 ${ms(filtered.p95)}, p99 ${ms(filtered.p99)}, ${(filtered.bytes / 1024).toFixed(0)} KiB`,
    );
    console.log(
      `GET /api/v1/workers?limit=100: p50 ${ms(page.p50)}, p95 ${ms(page.p95)}, p99 ${ms(page.p99)}, ${(page.bytes / 1024).toFixed(0)} KiB`,
    );
    console.log(
      `anchor, bare node:http serialising the same full list: p50 ${ms(anchor.p50)}, p99 ${ms(anchor.p99)}; full list p99 ratio ${(all.p99 / anchor.p99).toFixed(2)}× the anchor (goal: p99 < ${WORKERS >= 5000 ? 100 : 20} ms)`,
    );
  } finally {
    await nestApp.close();
    fake.closeAllConnections();
    await new Promise((r) => fake.close(r));
  }
}

run(main);
