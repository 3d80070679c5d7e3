#!/usr/bin/env node
// Issue 16: a backtest through the worker (job thread, progress, checkpoints, artifacts, completion)
// against the engine alone on the same bars, in the same run. Goal: worker <= 1.5x engine + 150 ms,
// from 0.1 M to 5 M bars. The machine is noisy: compare the ratios, not the absolute times.
//
// Per size: `engine` = runBacktest on bars already in memory (best of --repeat, the anchor);
// `worker first` = the first job on a data set (SYNTH generation included: the bars cache is cold,
// the job thread is warm from an earlier small job);
// `worker` = best of --repeat further jobs on the same data set (a sweep: the worker's bars cache
// and warm job thread). A job runs from RunningJob.run() to its completion being built (artifact
// chunks uploaded to a loopback fake backend), with the production progress throttle (500 ms) and
// checkpoint settings (KTRDR_CHECKPOINT_* defaults).
// Needs the built packages (pnpm --filter @ktrdr/backtest-worker... build).
// Options: --sizes=1e5,1e6,5e6 --repeat=3 --max-seconds=240 --checkpoint-bars=5e6
import { mkdtempSync, rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import path from 'node:path';
import { arg, loadBuilt, sizesArg } from './lib.mjs';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ktrdr-bench-worker-'));
// Before @ktrdr/config loads: the bench's data directory (checkpoints, dev secrets) is its own.
process.env.KTRDR_DATA_DIR = tmp;
const BUILD = 'pnpm --filter @ktrdr/backtest-worker... build';
const md = loadBuilt('packages/market-data/dist/index.js', BUILD);
const bt = loadBuilt('packages/backtest-engine/dist/index.js', BUILD);
const wr = loadBuilt('packages/worker-runtime/dist/index.js', BUILD);
const testing = loadBuilt('packages/worker-runtime/dist/testing.js', BUILD);
const config = loadBuilt('packages/config/dist/index.js', BUILD);
const { backtestEngine } = loadBuilt('apps/backtest-worker/dist/engine.js', BUILD);

const sizes = sizesArg('sizes', '1e5,1e6,5e6');
const repeat = Math.max(1, Number(arg('repeat', '3')));
const maxSeconds = Number(arg('max-seconds', '240'));
const t00 = performance.now();
const elapsed = () => (performance.now() - t00) / 1000;

const strategy = { type: 'sma_crossover', fast_period: 10, slow_period: 30 };
const START = Date.UTC(2020, 0, 1);
const cp = config.getCheckpointSettings();
const options = {
  progressIntervalMs: config.getWorkerSettings().progress_interval_ms,
  checkpoint: { every_units: cp.epoch_interval, every_ms: cp.time_interval_seconds * 1000 },
};

// A loopback sink for the backend: drains each request and acknowledges it (the fake backend of the
// tests parses and keeps every body, which would bill the backend's work to the worker). It runs in
// a thread of its own, as the backend is another process: the worker's event loop carries only the
// worker.
const SINK = `
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
const sink = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"acknowledged":true}');
  });
});
sink.listen(0, '127.0.0.1', () => parentPort.postMessage(sink.address().port));
parentPort.on('message', () => { sink.closeAllConnections(); sink.close(() => process.exit(0)); });
`;
const sinkThread = new Worker(SINK, { eval: true });
const sinkPort = await new Promise((resolve, reject) => {
  sinkThread.once('message', resolve);
  sinkThread.once('error', reject);
});
const backend = {
  baseUrl: `http://127.0.0.1:${sinkPort}/api/v1`,
  stop: () =>
    new Promise((r) => {
      sinkThread.once('exit', r);
      sinkThread.postMessage('stop');
    }),
};
const client = new wr.BackendClient({
  baseUrl: backend.baseUrl,
  timeoutMs: 30_000,
  registrationToken: testing.TEST_REGISTRATION_TOKEN,
});
// Time spent uploading artifact chunks (every trade and the equity curve, binary, before completing).
// Wall time while at least one chunk is in flight (the runtime keeps two in flight at once).
let uploadMs = 0;
let inFlight = 0;
let busySince = 0;
const upload = client.uploadArtifactChunk.bind(client);
client.uploadArtifactChunk = async (...a) => {
  if (inFlight++ === 0) busySince = performance.now();
  try {
    return await upload(...a);
  } finally {
    if (--inFlight === 0) uploadMs += performance.now() - busySince;
  }
};
// As the runtime does at start: the reusable job thread is started (job module loaded) up front.
wr.prewarmJobThread(backtestEngine.jobModulePath);
const store = new wr.CheckpointStore(path.join(tmp, 'checkpoints'));
const logger = testing.recordingLogger();
let ops = 0;

const withCheckpointEvery = (ms) => ({
  ...backtestEngine,
  prepareJob: (r) => ({ ...backtestEngine.prepareJob(r), checkpoint_interval_ms: ms }),
});

async function workerJob(symbol, n, engine = backtestEngine) {
  const request = {
    operation_id: `op-bench-${++ops}`,
    lease_token: `lease-${ops}`,
    attempt: 1,
    params: {
      symbol,
      timeframe: '1m',
      start_date: new Date(START).toISOString(),
      end_date: new Date(START + n * 60_000).toISOString(),
      strategy,
    },
  };
  const job = new wr.RunningJob(
    engine,
    request,
    client,
    store,
    config.systemClock,
    logger,
    options,
  );
  let checkpoints = 0;
  uploadMs = 0;
  const write = store.write.bind(store);
  store.write = (...a) => (checkpoints++, write(...a));
  const t = performance.now();
  job.run();
  const end = await job.finished;
  const ms = performance.now() - t;
  store.write = write;
  if (end.status !== 'completed')
    throw new Error(`job ${request.operation_id}: ${end.completion?.error_message}`);
  return { ms, trades: end.completion.result.num_trades, checkpoints, uploadMs };
}

console.log(
  `node ${process.version}; progress throttle ${options.progressIntervalMs} ms; checkpoints ` +
    `every ${options.checkpoint.every_units} units / ${options.checkpoint.every_ms} ms`,
);
// Warm the main thread's engine (the anchor) the way the worker's thread is warmed by earlier jobs.
{
  const warm = md.synthBars('SYNTH-WARMUP', '1m', START, { count: 200_000 });
  for (let k = 0; k < 3; k++) bt.runBacktest(warm, { ...bt.BACKTEST_DEFAULTS, strategy });
}
try {
  // One small job first, as a running worker has done: the thread is warm from here on, so the
  // "first job" below is the first on its data set (the bars cache is cold, the thread is not).
  await workerJob('SYNTH-WARMUP', 20_000);
  for (const n of sizes) {
    if (elapsed() > maxSeconds) {
      console.log(`(time budget of ${maxSeconds} s used up; ${n} bars skipped)`);
      continue;
    }
    const symbol = `SYNTH-WB${n}`;
    const bars = md.synthBars(symbol, '1m', START, { count: n });
    const cfg = { ...bt.BACKTEST_DEFAULTS, strategy };
    let engine = Infinity;
    let worker = Infinity;
    let upload = 0;
    let trades = 0;
    const first = await workerJob(symbol, n);
    for (let k = 0; k < repeat && elapsed() < maxSeconds; k++) {
      const t = performance.now();
      trades = bt.runBacktest(bars, cfg).num_trades;
      engine = Math.min(engine, performance.now() - t);
      const w = await workerJob(symbol, n);
      if (w.ms < worker) {
        worker = w.ms;
        upload = w.uploadMs;
      }
    }
    const f = (ms) => `${ms.toFixed(0)} ms`;
    console.log(
      `${n.toLocaleString('en-US')} bars (${trades} trades): engine ${f(engine)} (anchor), ` +
        `worker ${f(worker)}, worker first job ${f(first.ms)}`,
    );
    console.log(
      `  worker / engine = ${(worker / engine).toFixed(2)}x; worker - 1.5 x engine = ${f(worker - 1.5 * engine)} ` +
        `(goal < 150 ms); first job / engine = ${(first.ms / engine).toFixed(2)}x`,
    );
    console.log(
      `  of the worker's ${f(worker)}: artifact upload ${f(upload)}; without it ${f(worker - upload)} = ` +
        `${((worker - upload) / engine).toFixed(2)}x the engine, ${f(worker - upload - 1.5 * engine)} over 1.5x`,
    );
  }
  // Periodic checkpoints: jobs with a checkpoint every 100 ms (far more often than the default
  // cadence) against jobs with none, interleaved, on a run long enough for several to be due.
  // Goal: < 5 % extra.
  const n = Number(arg('checkpoint-bars', '5e6'));
  if (elapsed() < maxSeconds * 1.5) {
    const symbol = `SYNTH-WB${n}`;
    const often = withCheckpointEvery(100);
    const never = withCheckpointEvery(86_400_000);
    await workerJob(symbol, n, never);
    // Pairs, interleaved; the best and the median of each side (one run varies by ~10 % here).
    const offs = [];
    const ons = [];
    let written = Infinity;
    for (let k = 0; k < Math.max(9, repeat + 2); k++) {
      // The artifact upload (the same rows either way, and the noisiest part) is left out.
      const a = await workerJob(symbol, n, never);
      offs.push(a.ms - a.uploadMs);
      const r = await workerJob(symbol, n, often);
      ons.push(r.ms - r.uploadMs);
      written = Math.min(written, r.checkpoints);
    }
    const median = (xs) => xs.slice().sort((x, y) => x - y)[xs.length >> 1];
    const pct = (a, b) => `${a >= b ? '+' : ''}${((a / b - 1) * 100).toFixed(1)} %`;
    const [off, on] = [Math.min(...offs), Math.min(...ons)];
    const [offMed, onMed] = [median(offs), median(ons)];
    console.log(
      `${n.toLocaleString('en-US')} bars, periodic checkpoints (job time less upload, ${offs.length} interleaved pairs): ` +
        `none best ${off.toFixed(0)} ms / median ${offMed.toFixed(0)} ms (anchor), every 100 ms best ${on.toFixed(0)} ms / median ${onMed.toFixed(0)} ms ` +
        `(at least ${written} written per job) = best ${pct(on, off)}, median ${pct(onMed, offMed)} (goal < 5 %)` +
        (written === 0 ? '; no checkpoint was due: the run is too short to measure them' : ''),
    );
  }
} finally {
  await backend.stop();
  await wr.closeIdleJobThreads?.();
  rmSync(tmp, { recursive: true, force: true });
}
