/**
 * Source of the worker_thread entry, run with `new Worker(JOB_THREAD_SOURCE, { eval: true })`.
 *
 * It is a string (not a compiled file next to this one) so the same code runs from `dist` and
 * under ts-jest. It loads the engine's job module (`workerData.modulePath`, compiled CommonJS),
 * builds the JobContext (abort flag in a SharedArrayBuffer: the engine loop is synchronous, so a
 * postMessage-delivered abort would never be seen while it runs), calls `runJob` and posts the
 * outcome. Messages: progress, checkpoint, log, done, error (see ThreadMessage).
 */
export const JOB_THREAD_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const cell = new Int32Array(workerData.abortBuffer, 0, 1);
const signal = { get aborted() { return Atomics.load(cell, 0) === 1; } };
const cadence = workerData.input.checkpoint;
let lastUnits = 0;
let seenUnits = 0;
let lastTime = Date.now();
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
};
(async () => {
  try {
    const mod = require(workerData.modulePath);
    const runJob = mod.runJob || (mod.default && mod.default.runJob);
    if (typeof runJob !== 'function') {
      throw new Error('job module ' + workerData.modulePath + ' does not export runJob');
    }
    const outcome = await runJob(workerData.input, ctx);
    parentPort.postMessage({ kind: 'done', outcome });
  } catch (err) {
    const message = err && err.message ? err.message : String(err);
    parentPort.postMessage({ kind: 'error', message });
  }
})();
`;
