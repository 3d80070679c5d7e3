#!/usr/bin/env node
// Register and heartbeat throughput (not a test): the built backend in-process on loopback (auth,
// validation, metrics and all, operations store on in-memory SQLite) against a bare Express 5 app in
// the same process doing what the endpoints do at their core — parse the JSON body, check the
// registration token header, upsert/update a record in a Map, answer JSON — with the same clients.
// The registry first holds --registered workers (default 10,000; put in directly, not timed), then
// --registers new workers register over HTTP and --heartbeats heartbeats go to registered workers,
// --connections requests in flight (node:http keep-alive agent), sent from a thread of their own (as
// workers are other processes: the servers' event loop carries only the servers).
// Goals (issue 16): ≥ 0.8× the bare server; ≥ 5,000 heartbeats/s.
// --only=backend runs the backend's phases alone; --profile=FILE writes a CPU profile of the
// backend's heartbeat phase.
// Build first: pnpm turbo run build --filter=@ktrdr/backend...
// Run from the repo root: node bench/register-heartbeat.mjs [--registered=10000] [--registers=2000]
//   [--heartbeats=20000] [--connections=64] [--only=backend] [--profile=FILE.cpuprofile]
import { Agent, createServer, request } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { AUTH, BENCH_TOKEN, backendRequire, loadBackend, run, startBackend } from './backend.mjs';
import { startProfile, arg as textArg } from './lib.mjs';

const HEADERS = { 'content-type': 'application/json', ...AUTH };
const arg = (name, dflt) => Number(textArg(name, String(dflt)));
const REGISTERED = Math.max(0, Math.min(50_000, arg('registered', 10_000)));
const REGISTERS = Math.max(100, Math.min(20_000, arg('registers', 2000)));
const HEARTBEATS = Math.max(100, Math.min(100_000, arg('heartbeats', 20_000)));
const CONNECTIONS = Math.max(1, Math.min(512, arg('connections', 64)));
const TIME_LIMIT_MS = 60_000; // per phase
const ONLY = textArg('only', '');
/** --profile=FILE: a CPU profile of the backend's thread during its heartbeat phase only. */
const PROFILE = textArg('profile', '');
const backend = isMainThread ? loadBackend() : null;
// Express as the backend has it (through @nestjs/platform-express).
const express = isMainThread
  ? createRequire(backendRequire.resolve('@nestjs/platform-express'))('express')
  : null;

/** One POST over `agent`; resolves with the status code once the answer is read. */
function post(agent, url, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(
      url,
      { method: 'POST', agent, headers: { ...HEADERS, 'content-length': Buffer.byteLength(data) } },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** `count` requests from `make(i)`, CONNECTIONS in flight over keep-alive; requests per second. */
async function driveHere(base, count, make) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < count && performance.now() - t0 < TIME_LIMIT_MS) {
        const i = next++;
        const { path: p, body } = make(i);
        if ((await post(agent, base + p, body)) !== 200) failed += 1;
      }
    }),
  );
  const elapsed = performance.now() - t0;
  agent.destroy();
  if (failed) throw new Error(`${failed} of ${next} requests failed`);
  return { rate: next / (elapsed / 1000), done: next };
}

const registerBody = (i) => ({
  worker_id: `new-${i}`,
  worker_type: 'backtesting',
  endpoint_url: `http://127.0.0.1:9/w/new-${i}`,
});
const heartbeatBody = () => ({ status: 'available', current_operation_id: null });

async function main() {
  const helper = new Worker(new URL(import.meta.url));
  const drive = (base, count, kind, from = 0) =>
    new Promise((resolve, reject) => {
      helper.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
      helper.once('error', reject);
      helper.postMessage({ base, count, kind, from, registered: REGISTERED });
    });
  // The anchor: bare Express 5, same JSON parsing, token check, Map upsert and JSON answer.
  const records = new Map();
  const bare = express();
  bare.use(express.json({ limit: '1mb' }));
  const tokenOk = (req, res) => {
    if (req.get('x-ktrdr-worker-token') === BENCH_TOKEN) return true;
    res.status(401).json({ statusCode: 401, error: 'Unauthorized', message: 'token' });
    return false;
  };
  bare.post('/api/v1/workers/register', (req, res) => {
    if (!tokenOk(req, res)) return;
    const b = req.body;
    if (typeof b?.worker_id !== 'string' || typeof b.endpoint_url !== 'string')
      return res.status(400).json({ statusCode: 400, error: 'Bad Request', message: 'body' });
    records.set(b.worker_id, { ...b, registered_at: Date.now(), last_healthy_at: Date.now() });
    res.json({ success: true, worker_id: b.worker_id, stop_operations: [] });
  });
  bare.post('/api/v1/workers/:id/heartbeat', (req, res) => {
    if (!tokenOk(req, res)) return;
    const w = records.get(req.params.id);
    if (w) {
      w.status = req.body?.status;
      w.last_healthy_at = Date.now();
    }
    res.json({ registered: Boolean(w), cancel_operations: [], healthy: true });
  });
  const bareServer = createServer(bare);
  await new Promise((r) => bareServer.listen(0, '127.0.0.1', r));
  const bareBase = `http://127.0.0.1:${bareServer.address().port}`;

  const { nestApp, base } = await startBackend(backend);
  try {
    const registry = nestApp.get(backend.WorkerRegistry);
    for (let i = 0; i < REGISTERED; i++) {
      const w = {
        worker_id: `bench-${i}`,
        worker_type: 'backtesting',
        endpoint_url: `http://127.0.0.1:9/w/bench-${i}`,
        current_operation_id: null,
      };
      registry.upsert(w);
      records.set(w.worker_id, { ...w, registered_at: Date.now(), last_healthy_at: Date.now() });
    }
    // Warm both up (JIT), untimed.
    const warm = Math.min(500, REGISTERS);
    if (!ONLY) await drive(bareBase, warm, 'register', -warm);
    await drive(base, warm, 'register', -warm);

    // Alternate anchor and backend so that load on the machine hits both alike.
    const skipped = { rate: NaN, done: 0 };
    const regBare = ONLY ? skipped : await drive(bareBase, REGISTERS, 'register');
    const regKtrdr = await drive(base, REGISTERS, 'register');
    const hbBare = ONLY ? skipped : await drive(bareBase, HEARTBEATS, 'heartbeat');
    const profiler = PROFILE ? await startProfile() : null;
    const hbKtrdr = await drive(base, HEARTBEATS, 'heartbeat');
    if (profiler) await profiler.stop(PROFILE);

    console.log(
      `register/heartbeat benchmark — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`,
    );
    console.log(
      `${REGISTERED} workers registered beforehand, ${CONNECTIONS} requests in flight (node:http keep-alive)`,
    );
    console.log(
      `register:  backend ${regKtrdr.rate.toFixed(0)}/s vs bare Express ${regBare.rate.toFixed(0)}/s (${regKtrdr.done} / ${regBare.done} requests): ratio ${(regKtrdr.rate / regBare.rate).toFixed(2)} (goal ≥ 0.8)`,
    );
    console.log(
      `heartbeat: backend ${hbKtrdr.rate.toFixed(0)}/s vs bare Express ${hbBare.rate.toFixed(0)}/s (${hbKtrdr.done} / ${hbBare.done} requests): ratio ${(hbKtrdr.rate / hbBare.rate).toFixed(2)} (goal ≥ 0.8; ≥ 5,000/s)`,
    );
  } finally {
    await nestApp.close();
    await helper.terminate();
    bareServer.closeAllConnections();
    await new Promise((r) => bareServer.close(r));
  }
}

/** The clients' thread: one run of `count` registers or heartbeats per message. */
function clients() {
  parentPort.on('message', async ({ base, count, kind, from, registered }) => {
    const make =
      kind === 'register'
        ? (i) => ({ path: '/api/v1/workers/register', body: registerBody(from + i) })
        : (i) => ({
            path: `/api/v1/workers/bench-${i % Math.max(1, registered)}/heartbeat`,
            body: heartbeatBody(),
          });
    try {
      parentPort.postMessage(await driveHere(base, count, make));
    } catch (err) {
      parentPort.postMessage({ error: String(err) });
    }
  });
}

if (isMainThread) run(main);
else clients();
