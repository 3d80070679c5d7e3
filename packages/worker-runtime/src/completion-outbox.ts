import { toStorableText, type CompletedOperationDto } from '@ktrdr/contracts';
import { ATTR, context, SPAN, withSpan, type Context } from '@ktrdr/telemetry';
import { backoffDelayMs, type Clock } from '@ktrdr/config';
import { responseText, type BackendClient } from './backend-client';
import type { RuntimeLogger } from './logger';

export interface OutboxOptions {
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Tries of a report answered with a 5xx other than 502–504 (default {@link MAX_SERVER_ERRORS}). */
  maxServerErrors?: number;
}

/**
 * Completions not yet acknowledged by the backend (rule 5: at least once).
 *
 * Each one is POSTed to /operations/{id}/complete until the backend answers 2xx (applied) or 409
 * (stale lease: a newer attempt owns the operation), with exponential backoff between tries. They
 * stay in memory meanwhile and are also carried by every registration (`completed_operations`);
 * a successful registration acknowledges the ones it carried.
 *
 * A report the backend refuses (4xx other than 408/425/429), or fails to store `maxServerErrors` times
 * (5xx other than 502–504), is replaced once by a `failed` report saying so, so the operation ends with
 * its true reason instead of a retry loop and a later "worker lost". An unreachable or restarting
 * backend (no answer, 502–504) is retried without a bound (rule 5: at least once).
 */
export class CompletionOutbox {
  private readonly pending = new Map<string, CompletedOperationDto>();
  private readonly delivering = new Map<string, Promise<void>>();
  /** Trace context of each pending completion's job (its report joins the attempt's trace). */
  private readonly traces = new Map<string, Context>();
  private readonly stopController = new AbortController();

  constructor(
    private readonly client: BackendClient,
    private readonly clock: Clock,
    private readonly logger: RuntimeLogger,
    private readonly options: OutboxOptions,
    private readonly onAcknowledged: (c: CompletedOperationDto, status: number) => void = () => {},
  ) {
    this.maxServerErrors = options.maxServerErrors ?? MAX_SERVER_ERRORS;
  }

  private readonly maxServerErrors: number;

  /** Queues a completion and starts delivering it in the background. */
  add(completion: CompletedOperationDto, trace?: Context): Promise<void> {
    this.pending.set(completion.operation_id, completion);
    if (trace) this.traces.set(completion.operation_id, trace);
    else this.traces.delete(completion.operation_id);
    const delivery = this.deliver(completion).finally(() => {
      if (this.delivering.get(completion.operation_id) === delivery) {
        this.delivering.delete(completion.operation_id);
      }
      if (!this.pending.has(completion.operation_id)) this.traces.delete(completion.operation_id);
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
    const deadline = this.clock.now() + timeoutMs;
    while (this.pending.size > 0 && this.clock.now() < deadline) {
      const waits = [...this.delivering.values()];
      if (waits.length === 0) break;
      const remaining = Math.max(0, deadline - this.clock.now());
      const wait = new AbortController();
      await Promise.race([Promise.all(waits), this.clock.sleep(remaining, wait.signal)]);
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
    let serverErrors = 0;
    for (let attempt = 0; ; attempt++) {
      if (this.pending.get(operation_id) !== completion) return; // acknowledged or replaced
      const { operation_id: _id, ...body } = completion;
      const res = await withSpan(
        SPAN.REPORT_COMPLETE,
        {
          parent: this.traces.get(operation_id),
          attributes: {
            [ATTR.OPERATION_ID]: operation_id,
            [ATTR.STATUS]: completion.status,
            'ktrdr.report.try': attempt + 1,
          },
        },
        async (span) => {
          const r = await this.client.complete(operation_id, body, context.active());
          span.setAttribute('http.response.status_code', r.status);
          if (r.status === 0) span.setAttribute(ATTR.ERROR_MESSAGE, r.error ?? 'unreachable');
          return r;
        },
      );
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
      const refused = res.status >= 400 && res.status < 500 && !TRANSIENT_4XX.has(res.status);
      const broken = res.status >= 500 && !TRANSIENT_5XX.has(res.status);
      if (broken) serverErrors += 1;
      if (refused || (broken && serverErrors >= this.maxServerErrors)) {
        // Retrying the same body cannot succeed: report once, as failed, why the backend refused it.
        const reason = refused
          ? `the backend rejected its report (${responseText(res)})`
          : `the backend could not store its report (${responseText(res)}, ${serverErrors} tries)`;
        if (completion === original) {
          this.logger.error(
            `completion of ${operation_id}: ${reason}; reporting it as failed with that reason instead`,
          );
          completion = {
            operation_id,
            lease_token: original.lease_token,
            status: 'failed' as CompletedOperationDto['status'],
            result: null,
            error_message: toStorableText(
              `The worker finished with status ${original.status} but ${reason}`,
            ).slice(0, 4000),
            ...(original.checkpoint ? { checkpoint: original.checkpoint } : {}),
          };
          this.pending.set(operation_id, completion);
          attempt = -1;
          serverErrors = 0;
          continue;
        }
        this.logger.error(
          `completion of ${operation_id}: ${reason} also for the failure report; dropped`,
        );
        if (this.pending.get(operation_id) === completion) this.pending.delete(operation_id);
        return;
      }
      if (this.stopController.signal.aborted) return;
      const delay = backoffDelayMs(attempt, {
        baseMs: this.options.backoffInitialMs,
        capMs: this.options.backoffMaxMs,
      });
      this.logger.warn(
        `completion of ${operation_id} not delivered (${res.status === 0 ? res.error : `HTTP ${res.status}`}); retrying in ${delay} ms`,
      );
      await this.clock.sleep(delay, this.stopController.signal);
      if (this.stopController.signal.aborted) return;
    }
  }
}

/**
 * 4xx answers that may pass on a retry (timeout, too early, rate limit); any other 4xx is final.
 */
const TRANSIENT_4XX = new Set([408, 425, 429]);
/**
 * 5xx answers of a backend that is down or going away (a proxy, a restart, a shutdown): retried without
 * a bound, like an unreachable backend. Any other 5xx is retried `maxServerErrors` times.
 */
const TRANSIENT_5XX = new Set([502, 503, 504]);

/** Default bound of retries of a report the backend fails to store (5xx other than 502–504). */
export const MAX_SERVER_ERRORS = 5;
