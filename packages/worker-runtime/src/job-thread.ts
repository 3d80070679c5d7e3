/**
 * Entry of the worker_thread that runs jobs (started with `new Worker(JOB_THREAD_PATH)`; never
 * imported by the main thread).
 *
 * It loads the engine's job module (`workerData.modulePath`, compiled CommonJS), builds the
 * JobContext (abort flag in a SharedArrayBuffer: the engine loop is synchronous, so a
 * postMessage-delivered abort would never be seen while it runs), calls `runJob` and posts the
 * outcome. Messages: progress, checkpoint, log, done, completed, error, and the phase/event
 * messages the main thread turns into spans (see ThreadMessage). A completed result is serialised
 * here, timed as the `serialise_result` phase, and sent as one JSON string.
 *
 * One job per thread (`workerData.input`), or a reusable thread (WorkerEngine.reuseThread) that
 * runs each `{ kind: 'run', input, abortBuffer }` message it is sent, one at a time: the job module
 * stays loaded and its JIT-compiled code and module-level caches stay warm between jobs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorText } from '@ktrdr/contracts/constants';
import type {
  JobArtifact,
  JobContext,
  JobInput,
  RunJob,
  SpanAttributes,
  ThreadMessage,
} from './types';

/** `workerData` of a job thread. */
export interface JobThreadData {
  modulePath: string;
  /** A single job: the thread runs it and ends. */
  input?: JobInput;
  abortBuffer?: SharedArrayBuffer;
  /** A reusable thread: load the job module now, before the first job arrives. */
  preload?: boolean;
}

/** Main thread → reusable job thread. */
export interface RunMessage {
  kind: 'run';
  input: JobInput;
  abortBuffer: SharedArrayBuffer;
}

const port = parentPort;
const data = workerData as JobThreadData;

function post(msg: ThreadMessage, transfer?: ArrayBuffer[]): void {
  port?.postMessage(msg, transfer);
}

/**
 * The buffers of a job's artifact columns that move to the main thread instead of being copied:
 * of artifacts marked `transfer`, the typed arrays that own their whole (non-shared) buffer, each
 * buffer once. A view into a larger buffer is copied as before.
 */
export function transferableArtifactBuffers(artifacts: JobArtifact[] | undefined): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of artifacts ?? []) {
    if (!a.transfer) continue;
    for (const col of a.data) {
      if (!ArrayBuffer.isView(col)) continue;
      const buf = col.buffer;
      // Not instanceof: the array may come from another realm (vm contexts); shared memory stays.
      const plain = Object.prototype.toString.call(buf) === '[object ArrayBuffer]';
      if (plain && col.byteOffset === 0 && col.byteLength === buf.byteLength)
        out.add(buf as ArrayBuffer);
    }
  }
  return [...out];
}

let runJobFn: RunJob | null = null;
function loadRunJob(): RunJob {
  if (runJobFn) return runJobFn;
  // The job module is chosen at run time (each app's compiled job.js).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(data.modulePath) as { runJob?: unknown; default?: { runJob?: unknown } };
  const runJob = mod.runJob ?? mod.default?.runJob;
  if (typeof runJob !== 'function') {
    throw new Error(`job module ${data.modulePath} does not export runJob`);
  }
  runJobFn = runJob as RunJob;
  return runJobFn;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Keeps what a span can hold: strings, booleans and finite numbers. */
function clean(attributes: SpanAttributes | undefined): SpanAttributes | undefined {
  if (!attributes || typeof attributes !== 'object') return undefined;
  const out: SpanAttributes = {};
  for (const [k, v] of Object.entries(attributes)) {
    if (
      typeof v === 'string' ||
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v))
    ) {
      out[k] = v;
    }
  }
  return out;
}

function endPhase(id: number, err?: unknown): void {
  if (err === undefined) {
    post({ kind: 'phase_end', id, time: now() });
    return;
  }
  const e = err as { name?: unknown } | null;
  post({
    kind: 'phase_end',
    id,
    time: now(),
    error: errorText(err),
    error_name: e && e.name ? String(e.name) : 'Error',
  });
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function'
  );
}

async function runOne(input: JobInput, abortBuffer: SharedArrayBuffer): Promise<void> {
  const cell = new Int32Array(abortBuffer, 0, 1);
  const cadence = input.checkpoint;
  let lastUnits = 0;
  let seenUnits = 0;
  let lastTime = Date.now();
  let phaseIds = 0;
  const ctx: JobContext = {
    signal: {
      get aborted() {
        return Atomics.load(cell, 0) === 1;
      },
    },
    progress(progress) {
      post({ kind: 'progress', progress });
    },
    checkpointDue(units) {
      seenUnits = units;
      const byUnits = cadence.every_units > 0 && units - lastUnits >= cadence.every_units;
      const byTime = cadence.every_ms > 0 && Date.now() - lastTime >= cadence.every_ms;
      return byUnits || byTime;
    },
    checkpoint(unit, state) {
      lastUnits = seenUnits;
      lastTime = Date.now();
      post({ kind: 'checkpoint', unit, state });
    },
    log(message) {
      post({ kind: 'log', message: String(message) });
    },
    phase<T>(name: string, fn: () => T, attributes?: SpanAttributes): T {
      const id = ++phaseIds;
      post({
        kind: 'phase_start',
        id,
        name: String(name),
        time: now(),
        attributes: clean(attributes),
      });
      let result: T;
      try {
        result = fn();
      } catch (err) {
        endPhase(id, err ?? new Error('phase failed'));
        throw err;
      }
      if (isThenable(result)) {
        return result.then(
          (v) => {
            endPhase(id);
            return v;
          },
          (err: unknown) => {
            endPhase(id, err ?? new Error('phase failed'));
            throw err;
          },
        ) as T;
      }
      endPhase(id);
      return result;
    },
    event(name, attributes) {
      post({ kind: 'event', name: String(name), time: now(), attributes: clean(attributes) });
    },
  };
  try {
    const outcome = await loadRunJob()(input, ctx);
    if (outcome && outcome.status === 'completed') {
      const id = ++phaseIds;
      post({ kind: 'phase_start', id, name: 'serialise_result', time: now() });
      const result_json = JSON.stringify(outcome.result ?? null);
      post({
        kind: 'phase_end',
        id,
        time: now(),
        attributes: { 'ktrdr.result.bytes': Buffer.byteLength(result_json) },
      });
      // Artifacts (column arrays, typed arrays included) travel by structured clone; those marked
      // `transfer` move their typed arrays' buffers instead (tens of MB for a long run, not copied).
      post(
        { kind: 'completed', result_json, artifacts: outcome.artifacts },
        transferableArtifactBuffers(outcome.artifacts),
      );
    } else {
      post({ kind: 'done', outcome });
    }
  } catch (err) {
    post({ kind: 'error', message: errorText(err) });
  }
}

if (port) {
  if (data.input && data.abortBuffer) {
    void runOne(data.input, data.abortBuffer);
  } else {
    if (data.preload) {
      try {
        loadRunJob();
      } catch {
        // reported when a job runs
      }
    }
    port.on('message', (msg: RunMessage | null) => {
      if (msg && msg.kind === 'run') void runOne(msg.input, msg.abortBuffer);
    });
  }
}
