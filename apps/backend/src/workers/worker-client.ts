import { Injectable } from '@nestjs/common';
import { WORKER_ROUTES, WorkerActivity, buildPath } from '@ktrdr/contracts';
import type { HealthOutcome } from './worker-registry';

/** Result of asking a worker to start an operation. */
export type StartOutcome =
  | { ok: true }
  | {
      ok: false;
      /**
       * busy: 503; unreachable: no connection or timeout; invalid: 400/422 (the worker refuses the
       * request itself); rejected: any other answer.
       */
      kind: 'busy' | 'unreachable' | 'invalid' | 'rejected';
      detail: string;
    };

function describeError(err: unknown): string {
  // Not `instanceof Error`: fetch's DOMException may come from another realm.
  if (err && typeof err === 'object') {
    const e = err as {
      name?: unknown;
      message?: unknown;
      cause?: { code?: unknown; message?: unknown };
    };
    if (e.name === 'TimeoutError') return 'timed out';
    if (e.name === 'AbortError') return 'aborted';
    if (typeof e.cause?.code === 'string') return e.cause.code;
    if (typeof e.cause?.message === 'string') return e.cause.message;
    if (typeof e.message === 'string') return e.message;
  }
  return String(err);
}

async function readText(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, 300);
  } catch {
    return '';
  }
}

/** HTTP calls from the backend to workers. Every call has a timeout (AbortSignal.timeout). */
@Injectable()
export class WorkerClient {
  async startOperation(
    endpointUrl: string,
    route: string,
    body: object,
    timeoutMs: number,
  ): Promise<StartOutcome> {
    let res: Response;
    try {
      res = await fetch(endpointUrl + route, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      return { ok: false, kind: 'unreachable', detail: describeError(err) };
    }
    const text = await readText(res);
    if (res.ok) return { ok: true };
    if (res.status === 503) return { ok: false, kind: 'busy', detail: `503 ${text}`.trim() };
    if (res.status === 400 || res.status === 422) {
      return { ok: false, kind: 'invalid', detail: `${res.status} ${text}`.trim() };
    }
    return { ok: false, kind: 'rejected', detail: `${res.status} ${text}`.trim() };
  }

  /** GET /health; a 200 with healthy:false counts as a failure. */
  async probeHealth(endpointUrl: string, timeoutMs: number): Promise<HealthOutcome> {
    try {
      const res = await fetch(endpointUrl + WORKER_ROUTES.health, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      if (!res.ok) return { ok: false, reason: `HTTP ${res.status}` };
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return { ok: false, reason: 'health response is not JSON' };
      }
      if (!body || typeof body !== 'object') return { ok: false, reason: 'health body invalid' };
      const b = body as Record<string, unknown>;
      if (b.healthy !== true) return { ok: false, reason: 'worker reports healthy: false' };
      return {
        ok: true,
        report: {
          worker_status: b.worker_status === 'busy' ? WorkerActivity.BUSY : WorkerActivity.IDLE,
          current_operation: typeof b.current_operation === 'string' ? b.current_operation : null,
        },
      };
    } catch (err) {
      return { ok: false, reason: describeError(err) };
    }
  }

  /** DELETE /api/v1/operations/{id}/cancel on the worker; true when it answered 2xx. */
  async cancelOperation(
    endpointUrl: string,
    operationId: string,
    timeoutMs: number,
  ): Promise<{ ok: boolean; detail: string }> {
    try {
      const res = await fetch(
        endpointUrl + buildPath(WORKER_ROUTES.operationCancel, { id: operationId }),
        { method: 'DELETE', signal: AbortSignal.timeout(timeoutMs) },
      );
      const text = await readText(res);
      return { ok: res.ok, detail: `${res.status} ${text}`.trim() };
    } catch (err) {
      return { ok: false, detail: describeError(err) };
    }
  }

  /** POST /backend-shutdown (best effort). */
  async notifyShutdown(endpointUrl: string, timeoutMs: number): Promise<boolean> {
    try {
      const res = await fetch(endpointUrl + WORKER_ROUTES.backendShutdown, {
        method: 'POST',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await readText(res);
      return res.ok;
    } catch {
      return false;
    }
  }
}
