/**
 * Source of the worker_thread entry, run with `new Worker(JOB_THREAD_SOURCE, { eval: true })`.
 *
 * It is a string (not a compiled file next to this one) so the same code runs from `dist` and
 * under ts-jest. It loads the engine's job module (`workerData.modulePath`, compiled CommonJS),
 * builds the JobContext (abort flag in a SharedArrayBuffer: the engine loop is synchronous, so a
 * postMessage-delivered abort would never be seen while it runs), calls `runJob` and posts the
 * outcome. Messages: progress, checkpoint, log, done, completed, error, and the phase/event
 * messages the main thread turns into spans (see ThreadMessage). A completed result is serialised
 * here, timed as the `serialise_result` phase, and sent as one JSON string. A reusable thread
 * (WorkerEngine.reuseThread) runs one job per `{ kind: 'run', input, abortBuffer }` message.
 */
export const JOB_THREAD_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
// One job per thread (workerData.input), or a reusable thread (WorkerEngine.reuseThread) that runs
// each { kind: 'run', input, abortBuffer } message it is sent, one at a time: the job module stays
// loaded and its JIT-compiled code and module-level caches stay warm between jobs.
let runJobFn = null;
function loadRunJob() {
  if (runJobFn) return runJobFn;
  const mod = require(workerData.modulePath);
  const runJob = mod.runJob || (mod.default && mod.default.runJob);
  if (typeof runJob !== 'function') {
    throw new Error('job module ' + workerData.modulePath + ' does not export runJob');
  }
  runJobFn = runJob;
  return runJob;
}
function now() { return performance.timeOrigin + performance.now(); }
function clean(attributes) {
  if (!attributes || typeof attributes !== 'object') return undefined;
  const out = {};
  for (const [k, v] of Object.entries(attributes)) {
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
  }
  return out;
}
function endPhase(id, err) {
  const msg = { kind: 'phase_end', id, time: now() };
  if (err) {
    msg.error = err && err.message ? String(err.message) : String(err);
    msg.error_name = err && err.name ? String(err.name) : 'Error';
  }
  parentPort.postMessage(msg);
}
function runOne(input, abortBuffer) {
const cell = new Int32Array(abortBuffer, 0, 1);
const signal = { get aborted() { return Atomics.load(cell, 0) === 1; } };
const cadence = input.checkpoint;
let lastUnits = 0;
let seenUnits = 0;
let lastTime = Date.now();
let phaseIds = 0;
const ctx = {
  signal,
  progress(progress) { parentPort.postMessage({ kind: 'progress', progress }); },
  checkpointDue(units) {
    seenUnits = units;
    const byUnits = cadence.every_units > 0 && units - lastUnits >= cadence.every_units;
    const byTime = cadence.every_ms > 0 && Date.now() - lastTime >= cadence.every_ms;
    return byUnits || byTime;
  },
  checkpoint(unit, state) {
    lastUnits = seenUnits;
    lastTime = Date.now();
    parentPort.postMessage({ kind: 'checkpoint', unit, state });
  },
  log(message) { parentPort.postMessage({ kind: 'log', message: String(message) }); },
  phase(name, fn, attributes) {
    const id = ++phaseIds;
    parentPort.postMessage({ kind: 'phase_start', id, name: String(name), time: now(), attributes: clean(attributes) });
    let result;
    try {
      result = fn();
    } catch (err) {
      endPhase(id, err);
      throw err;
    }
    if (result && typeof result.then === 'function') {
      return result.then((v) => { endPhase(id); return v; }, (err) => { endPhase(id, err); throw err; });
    }
    endPhase(id);
    return result;
  },
  event(name, attributes) {
    parentPort.postMessage({ kind: 'event', name: String(name), time: now(), attributes: clean(attributes) });
  },
};
(async () => {
  try {
    const runJob = loadRunJob();
    const outcome = await runJob(input, ctx);
    if (outcome && outcome.status === 'completed') {
      const id = ++phaseIds;
      parentPort.postMessage({ kind: 'phase_start', id, name: 'serialise_result', time: now() });
      const result_json = JSON.stringify(outcome.result ?? null);
      parentPort.postMessage({
        kind: 'phase_end', id, time: now(),
        attributes: { 'ktrdr.result.bytes': Buffer.byteLength(result_json) },
      });
      // Artifacts (column arrays, typed arrays included) travel by structured clone.
      parentPort.postMessage({ kind: 'completed', result_json, artifacts: outcome.artifacts });
    } else {
      parentPort.postMessage({ kind: 'done', outcome });
    }
  } catch (err) {
    const message = err && err.message ? err.message : String(err);
    parentPort.postMessage({ kind: 'error', message });
  }
})();
}
if (workerData.input) {
  runOne(workerData.input, workerData.abortBuffer);
} else {
  if (workerData.preload) {
    try { loadRunJob(); } catch (err) { /* reported when a job runs */ }
  }
  parentPort.on('message', (msg) => {
    if (msg && msg.kind === 'run') runOne(msg.input, msg.abortBuffer);
  });
}
`;
