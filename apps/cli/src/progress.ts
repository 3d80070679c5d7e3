/**
 * Live progress of a followed operation on stderr: a cli-progress bar on a terminal, plain lines
 * otherwise (status changes and every 10 %), so logs and pipes stay readable.
 */
import { Presets, SingleBar } from 'cli-progress';
import type { Output } from './output';
import { duration } from './output';
import type { OperationView } from './types';

export interface ProgressView {
  update(op: OperationView): void;
  /** Removes the bar (before a final message). */
  stop(): void;
}

/** Seconds left, from the elapsed run time and the percentage (null while unknown). */
export function estimateEta(op: OperationView, now: number): number | null {
  const p = op.progress?.percentage ?? 0;
  if (!op.started_at || p <= 0 || p >= 100) return null;
  const elapsed = (now - Date.parse(op.started_at)) / 1000;
  if (!Number.isFinite(elapsed) || elapsed <= 0) return null;
  return (elapsed * (100 - p)) / p;
}

/** `queued, position 2 (2 ahead of it; 3 backtesting workers busy)` */
export function describeWait(op: OperationView): string {
  const pos = op.queue_position;
  const where = typeof pos === 'number' ? `queued, position ${pos}` : 'queued';
  return op.wait_reason ? `${where} (${op.wait_reason})` : where;
}

export function describeStep(op: OperationView): string {
  const p = op.progress ?? { percentage: 0 };
  if (p.current_step) return p.current_step;
  if (p.items_total) return `${p.items_processed ?? 0}/${p.items_total}`;
  return p.message ?? '';
}

const ACTIVE_RUN = new Set(['dispatched', 'running']);

class LineProgress implements ProgressView {
  private lastStatus = '';
  private lastBucket = -1;
  private lastWorker: string | null = null;

  constructor(
    private readonly out: Output,
    private readonly now: () => number,
  ) {}

  update(op: OperationView): void {
    const pct = Math.floor(op.progress?.percentage ?? 0);
    const bucket = Math.floor(pct / 10);
    const statusChanged = op.status !== this.lastStatus || op.worker_id !== this.lastWorker;
    if (op.status === 'pending') {
      const text = describeWait(op);
      if (statusChanged || text !== this.lastWaitText) this.out.note(`${op.operation_id}: ${text}`);
      this.lastWaitText = text;
    } else if (ACTIVE_RUN.has(op.status) && (statusChanged || bucket > this.lastBucket)) {
      const eta = estimateEta(op, this.now());
      const parts = [`${op.status}${op.worker_id ? ` on ${op.worker_id}` : ''}`];
      const step = describeStep(op);
      if (step) parts.push(step);
      if (eta !== null) parts.push(`ETA ${duration(eta)}`);
      this.out.note(`[${String(pct).padStart(3)}%] ${parts.join(' · ')}`);
      this.lastBucket = bucket;
    }
    this.lastStatus = op.status;
    this.lastWorker = op.worker_id;
  }

  private lastWaitText = '';

  stop(): void {
    // Lines need no clean-up.
  }
}

class BarProgress implements ProgressView {
  private readonly bar: SingleBar;
  private started = false;

  constructor(out: Output) {
    const c = out.ec;
    this.bar = new SingleBar(
      {
        stream: out.stderr as NodeJS.WritableStream,
        format: `${c.cyan('{bar}')} {percentage}% | {state} | {step} | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        etaBuffer: 30,
        fps: 10,
        barsize: 30,
      },
      Presets.shades_classic,
    );
  }

  update(op: OperationView): void {
    const payload =
      op.status === 'pending'
        ? { state: describeWait(op), step: '' }
        : {
            state: `${op.status}${op.worker_id ? ` on ${op.worker_id}` : ''}`,
            step: describeStep(op),
          };
    const value = Math.max(0, Math.min(100, op.progress?.percentage ?? 0));
    if (!this.started) {
      this.bar.start(100, value, payload);
      this.started = true;
    } else {
      this.bar.update(value, payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
    this.started = false;
  }
}

export function createProgressView(out: Output, now: () => number): ProgressView {
  return out.stderrIsTTY ? new BarProgress(out) : new LineProgress(out, now);
}
