import { Worker } from 'node:worker_threads';
import { abortSignalFromBuffer, createSharedAbortFlag } from '../src/abort';

describe('shared abort flag', () => {
  it('starts clear and is seen by every signal on the same buffer', () => {
    const flag = createSharedAbortFlag();
    const other = abortSignalFromBuffer(flag.buffer);
    expect(flag.signal.aborted).toBe(false);
    expect(other.aborted).toBe(false);
    flag.abort();
    expect(flag.signal.aborted).toBe(true);
    expect(other.aborted).toBe(true);
  });

  it('rejects a non-shared buffer', () => {
    expect(() => abortSignalFromBuffer(new ArrayBuffer(4) as unknown as SharedArrayBuffer)).toThrow(
      TypeError,
    );
  });

  it('reaches a worker thread stuck in a synchronous loop', async () => {
    const flag = createSharedAbortFlag();
    // The worker spins synchronously (like trainModel) reading the shared cell, with no chance
    // to process messages; it can only stop if it sees the flag through shared memory.
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const cell = new Int32Array(workerData.buffer, 0, 1);
      parentPort.postMessage('started');
      const t0 = Date.now();
      while (Atomics.load(cell, 0) !== 1) {
        if (Date.now() - t0 > 10000) { parentPort.postMessage('timeout'); process.exit(1); }
      }
      parentPort.postMessage('stopped');
    `;
    const worker = new Worker(code, { eval: true, workerData: { buffer: flag.buffer } });
    const messages: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: string) => {
        messages.push(m);
        if (m === 'started') setTimeout(() => flag.abort(), 50);
        if (m === 'stopped' || m === 'timeout') resolve();
      });
      worker.on('error', reject);
    });
    await done;
    await worker.terminate();
    expect(messages).toEqual(['started', 'stopped']);
  });
});
