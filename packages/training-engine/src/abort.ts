import { AbortLike } from './fit';

/**
 * An abort flag in a SharedArrayBuffer, for running `trainModel` in a worker_thread.
 *
 * `trainModel` is synchronous, so inside the worker thread no message or event is processed
 * while it runs: an AbortController living in the worker would never see an abort sent by
 * `postMessage`. Instead the parent creates a flag, passes `flag.buffer` in `workerData`,
 * and the worker builds a signal with `abortSignalFromBuffer(buffer)`; the parent's
 * `flag.abort()` is then visible to the running loop at once.
 */
export interface SharedAbortFlag {
  readonly buffer: SharedArrayBuffer;
  readonly signal: AbortLike;
  abort(): void;
}

export function createSharedAbortFlag(): SharedAbortFlag {
  const buffer = new SharedArrayBuffer(4);
  const cell = new Int32Array(buffer);
  return {
    buffer,
    signal: abortSignalFromBuffer(buffer),
    abort: () => {
      Atomics.store(cell, 0, 1);
    },
  };
}

/** A signal reading the flag created by `createSharedAbortFlag` (in any thread). */
export function abortSignalFromBuffer(buffer: SharedArrayBuffer): AbortLike {
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < 4) {
    throw new TypeError('abortSignalFromBuffer needs the SharedArrayBuffer of a SharedAbortFlag');
  }
  const cell = new Int32Array(buffer, 0, 1);
  return {
    get aborted(): boolean {
      return Atomics.load(cell, 0) === 1;
    },
  };
}
