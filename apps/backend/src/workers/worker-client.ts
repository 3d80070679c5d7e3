import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import {
  WORKER_ROUTES,
  WORKER_START,
  buildPath,
  httpExchange,
  nodeHttpTransport,
  signRequest,
  toStorableText,
  type HttpAnswer,
  type OperationType,
  type WorkerStartRequest,
} from '@ktrdr/contracts';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { traceHeaders } from '@ktrdr/telemetry';
import type { HealthOutcome } from './health-probe';
import { HealthProber } from './health-prober';

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

/** The start of a worker's answer, safe to store and show (no NUL, no unpaired surrogate). */
function answerText(r: HttpAnswer): string {
  return toStorableText(r.text.slice(0, 300));
}

/** The path part of an endpoint URL (a worker behind a path prefix signs its own routes only). */
function routeOf(route: string): string {
  return route.split('?')[0] as string;
}

/**
 * HTTP calls from the backend to workers (through the contracts' httpExchange on node:http, the
 * cheaper transport on the dispatch path). Every call has a
 * timeout; every write (dispatch, cancel, shutdown notice) is signed with the registration token
 * (HMAC, see @ktrdr/contracts signing), so a worker refuses calls that do not come from its backend.
 */
@Injectable()
export class WorkerClient implements OnModuleDestroy {
  private readonly prober = new HealthProber();

  constructor(@Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings) {}

  async onModuleDestroy(): Promise<void> {
    await this.prober.close();
  }

  private signed(method: string, route: string, body?: string): Record<string, string> {
    const token = this.settings.worker.registration_token;
    if (!token) return {};
    return signRequest(token, { method, path: routeOf(route), body });
  }

  /**
   * POSTs the start request of an operation of type `type` to the worker's start route for that
   * type (WORKER_START): the body must be that type's request.
   */
  async startOperation<T extends OperationType>(
    endpointUrl: string,
    type: T,
    // Not inferred from the body: `type` alone says which request it must be.
    body: NoInfer<WorkerStartRequest<T>>,
    timeoutMs: number,
  ): Promise<StartOutcome> {
    const route = WORKER_START[type].route;
    const text = JSON.stringify(body);
    const r = await httpExchange(endpointUrl + route, {
      method: 'POST',
      // W3C trace context of the dispatch (empty when outgoing HTTP is instrumented: it adds it itself).
      headers: {
        'content-type': 'application/json',
        ...traceHeaders(),
        ...this.signed('POST', route, text),
      },
      body: text,
      timeoutMs,
      transport: nodeHttpTransport,
    });
    if (r.kind === 'unreachable') return { ok: false, kind: 'unreachable', detail: r.detail };
    const answer = answerText(r);
    if (r.ok) return { ok: true };
    if (r.status === 503) return { ok: false, kind: 'busy', detail: `503 ${answer}`.trim() };
    if (r.status === 400 || r.status === 422) {
      return { ok: false, kind: 'invalid', detail: `${r.status} ${answer}`.trim() };
    }
    return { ok: false, kind: 'rejected', detail: `${r.status} ${answer}`.trim() };
  }

  /** GET /health (in the probe thread); a 200 with healthy:false counts as a failure. */
  probeHealth(endpointUrl: string, timeoutMs: number): Promise<HealthOutcome> {
    return this.prober.probe(endpointUrl, timeoutMs);
  }

  /** DELETE /api/v1/operations/{id}/cancel on the worker; true when it answered 2xx. */
  async cancelOperation(
    endpointUrl: string,
    operationId: string,
    timeoutMs: number,
  ): Promise<{ ok: boolean; detail: string }> {
    const route = buildPath(WORKER_ROUTES.operationCancel, { id: operationId });
    const r = await httpExchange(endpointUrl + route, {
      method: 'DELETE',
      headers: { ...traceHeaders(), ...this.signed('DELETE', route) },
      timeoutMs,
      transport: nodeHttpTransport,
    });
    if (r.kind === 'unreachable') return { ok: false, detail: r.detail };
    return { ok: r.ok, detail: `${r.status} ${answerText(r)}`.trim() };
  }

  /** POST /backend-shutdown (best effort). */
  async notifyShutdown(endpointUrl: string, timeoutMs: number): Promise<boolean> {
    const r = await httpExchange(endpointUrl + WORKER_ROUTES.backendShutdown, {
      method: 'POST',
      headers: this.signed('POST', WORKER_ROUTES.backendShutdown),
      timeoutMs,
      transport: nodeHttpTransport,
    });
    return r.kind === 'answer' && r.ok;
  }
}
