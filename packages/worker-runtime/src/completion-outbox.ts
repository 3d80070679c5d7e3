import type { CompletedOperationDto } from '@ktrdr/contracts';
import type { BackendClient } from './backend-client';
import { backoffDelay } from './config';
import type { RuntimeLogger } from './logger';
import type { Timers } from './timers';

export interface OutboxOptions {
  backoffInitialMs: number;
  backoffMaxMs: number;
}

/**
 * Completions not yet acknowledged by the backend (rule 5: at least once).
 *
 * Each one is POSTed to /operations/{id}/complete until the backend answers 2xx (applied) or 409
 * (stale lease: a newer attempt owns the operation), with exponential backoff between tries. They
 * stay in memory meanwhile and are also carried by every registration (`completed_operations`);
 * a successful registration acknowledges the ones it carried.
 */
export class CompletionOutbox {
  private readonly pending = new Map<string, CompletedOperationDto>();
  private readonly delivering = new Map<string, Promise<void>>();
  private readonly stopController = new AbortController();

  constructor(
    private readonly client: BackendClient,
    private readonly timers: Timers,
    private readonly logger: RuntimeLogger,
    private readonly options: OutboxOptions,
    private readonly onAcknowledged: (c: CompletedOperationDto, status: number) => void = () => {},
  ) {}

  /** Queues a completion and starts delivering it in the background. */
  add(completion: CompletedOperationDto): Promise<void> {
    this.pending.set(completion.operation_id, completion);
    const delivery = this.deliver(completion).finally(() => {
      if (this.delivering.get(completion.operation_id) === delivery) {
        this.delivering.delete(completion.operation_id);
      }
    });
    this.delivering.set(completion.operation_id, delivery);
    return delivery;
  }

  /** Unacknowledged completions, for a registration body. */
  list(): CompletedOperationDto[] {
    return [...this.pending.values()];
  }

  has(operationId: string): boolean {
    return this.pending.has(operationId);
  }

  get size(): number {
    return this.pending.size;
  }

  /** The backend accepted a registration carrying these completions. */
  acknowledge(operationIds: readonly string[]): void {
    for (const id of operationIds) {
      const c = this.pending.get(id);
      if (c) {
        this.pending.delete(id);
        this.onAcknowledged(c, 200);
      }
    }
  }

  /** Resolves when everything is acknowledged or `timeoutMs` passed; returns what is left. */
  async flush(timeoutMs: number): Promise<number> {
    const deadline = this.timers.now() + timeoutMs;
    while (this.pending.size > 0 && this.timers.now() < deadline) {
      const waits = [...this.delivering.values()];
      if (waits.length === 0) break;
      const remaining = Math.max(0, deadline - this.timers.now());
      const wait = new AbortController();
      await Promise.race([Promise.all(waits), this.timers.sleep(remaining, wait.signal)]);
      wait.abort();
    }
    return this.pending.size;
  }

  stop(): void {
    this.stopController.abort();
  }

  private async deliver(original: CompletedOperationDto): Promise<void> {
    let completion = original;
    const operation_id = original.operation_id;
    for (let attempt = 0; ; attempt++) {
      if (this.pending.get(operation_id) !== completion) return; // acknowledged or replaced
      const { operation_id: _id, ...body } = completion;
      const res = await this.client.complete(operation_id, body);
      if ((res.status >= 200 && res.status < 300) || res.status === 409) {
        if (res.status === 409) {
          this.logger.warn(
            `completion of ${operation_id} rejected with 409 (stale lease: a newer attempt owns it); dropped`,
          );
        }
        if (this.pending.get(operation_id) === completion) {
          this.pending.delete(operation_id);
          this.onAcknowledged(completion, res.status);
        }
        return;
      }
      if (PERMANENT_REJECTIONS.has(res.status)) {
        // Retrying the same body cannot succeed: report the rejection itself once, then give up.
        const reason = `HTTP ${res.status}${messageOf(res.body)}`;
        if (completion === original && original.status !== 'failed') {
          this.logger.error(
            `the backend rejected the completion of ${operation_id} (${reason}); reporting it as failed instead`,
          );
          completion = {
            operation_id,
            lease_token: original.lease_token,
            status: 'failed' as CompletedOperationDto['status'],
            result: null,
            error_message:
              `The worker finished with status ${original.status} but the backend rejected its report (${reason})`.slice(
                0,
                4000,
              ),
            ...(original.checkpoint ? { checkpoint: original.checkpoint } : {}),
          };
          this.pending.set(operation_id, completion);
          attempt = -1;
          continue;
        }
        this.logger.error(
          `the backend rejected the completion of ${operation_id} (${reason}); dropped`,
        );
        if (this.pending.get(operation_id) === completion) this.pending.delete(operation_id);
        return;
      }
      if (this.stopController.signal.aborted) return;
      const delay = backoffDelay(attempt, this.options.backoffInitialMs, this.options.backoffMaxMs);
      this.logger.warn(
        `completion of ${operation_id} not delivered (${res.status === 0 ? res.error : `HTTP ${res.status}`}); retrying in ${delay} ms`,
      );
      await this.timers.sleep(delay, this.stopController.signal);
      if (this.stopController.signal.aborted) return;
    }
  }
}

/** Answers that retrying the same report cannot change (validation, size). */
const PERMANENT_REJECTIONS = new Set([400, 413, 422]);

function messageOf(body: unknown): string {
  const m = (body as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? `: ${m}` : '';
}
