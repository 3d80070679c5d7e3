import { compiledEntry } from '@ktrdr/config';
import { Worker } from 'node:worker_threads';
import { probeHealth, type HealthOutcome } from './health-probe';
import type { ProbeRequest, ProbeResult } from './health-probe-thread';

/** Compiled entry of the probe thread (from src/ under ts-jest: the one in dist). */
const PROBE_THREAD_PATH = compiledEntry(__dirname, 'health-probe-thread.js');

/**
 * Runs /health probes in a thread of their own (one, started on the first probe): requests and
 * answers cross in batches, one message per turn of either loop, so the main event loop handles a
 * few small messages instead of thousands of sockets. A thread that dies fails the probes it held
 * (each names why) and the next probe starts a new one.
 */
export class HealthProber {
  private thread: Worker | null = null;
  private seq = 0;
  private readonly waiting = new Map<number, (outcome: HealthOutcome) => void>();
  private outbox: ProbeRequest[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(private readonly threadPath = PROBE_THREAD_PATH) {}

  probe(url: string, timeoutMs: number): Promise<HealthOutcome> {
    if (this.closed) return probeHealth(url, timeoutMs);
    const n = ++this.seq;
    return new Promise<HealthOutcome>((resolve) => {
      this.waiting.set(n, resolve);
      this.outbox.push({ n, url, timeoutMs });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Probes waiting for their answer. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Stops the thread; probes still waiting fail, later ones run on the main thread. */
  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    this.thread = null;
    this.failAll('the backend is shutting down');
    if (thread) await thread.terminate();
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length === 0) return;
    const thread = this.ensureThread();
    thread.ref();
    thread.postMessage(batch);
  }

  private ensureThread(): Worker {
    if (this.thread) return this.thread;
    const thread = new Worker(this.threadPath);
    thread.on('message', (batch: ProbeResult[]) => {
      for (const r of batch) {
        const resolve = this.waiting.get(r.n);
        if (!resolve) continue;
        this.waiting.delete(r.n);
        resolve(r.outcome);
      }
      if (this.waiting.size === 0) thread.unref();
    });
    const lost = (why: string): void => {
      if (this.thread !== thread) return;
      this.thread = null;
      this.failAll(why);
    };
    thread.on('error', (err) => lost(`the health probe thread failed: ${err.message}`));
    thread.on('exit', (code) => lost(`the health probe thread exited (code ${code})`));
    // The thread keeps the process alive only while probes wait for it (their own timeouts bound
    // that); unref'd after the listeners, since adding a message listener refs the port again.
    if (this.waiting.size === 0) thread.unref();
    this.thread = thread;
    return thread;
  }

  private failAll(reason: string): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const resolve of waiting) resolve({ ok: false, reason });
  }
}
