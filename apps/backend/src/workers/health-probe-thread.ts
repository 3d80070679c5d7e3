/**
 * The health probe thread: runs the /health probes of the monitor (thousands of sockets, their
 * timeouts and answers) off the backend's event loop, so the API's latency does not carry them.
 * Messages in: batches of `ProbeRequest`; out: batches of `ProbeResult`, flushed once per turn of
 * this thread's loop.
 */
import { parentPort } from 'node:worker_threads';
import { probeHealth, type HealthOutcome } from './health-probe';

export interface ProbeRequest {
  n: number;
  url: string;
  timeoutMs: number;
}

export interface ProbeResult {
  n: number;
  outcome: HealthOutcome;
}

if (parentPort) {
  const port = parentPort;
  let pending: ProbeResult[] = [];
  let flushing = false;
  const flush = (): void => {
    flushing = false;
    const batch = pending;
    pending = [];
    port.postMessage(batch);
  };
  port.on('message', (batch: ProbeRequest[]) => {
    for (const r of batch) {
      void probeHealth(r.url, r.timeoutMs).then((outcome) => {
        pending.push({ n: r.n, outcome });
        if (!flushing) {
          flushing = true;
          setImmediate(flush);
        }
      });
    }
  });
}
