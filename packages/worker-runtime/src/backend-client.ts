import {
  ARTIFACT_CHUNK_MEDIA_TYPE,
  BACKEND_ROUTES,
  LEASE_TOKEN_HEADER,
  type ArtifactChunkMeta,
  buildPath,
  CompleteOperationRequestDto,
  type FetchLike,
  fetchTransport,
  httpExchange,
  type HttpTransport,
  nodeHttpTransport,
  HeartbeatRequestDto,
  ProgressReportDto,
  REGISTRATION_TOKEN_HEADER,
  envelopeMessage,
  RegisterWorkerRequestDto,
} from '@ktrdr/contracts';
import { runInContext, traceHeaders, type Context } from '@ktrdr/telemetry';

/** Outcome of one request: `status` 0 means the backend could not be reached (or timed out). */
export interface BackendResponse<T = unknown> {
  status: number;
  body: T | null;
  /** Network error or non-JSON body description. */
  error?: string;
}

/**
 * One line for a log or a failure message: `HTTP 409: <the error envelope's message>` (`HTTP 409`
 * when the body is not an envelope: a bare JSON value says nothing useful), or why there was no
 * answer (`connect ECONNREFUSED …`, `timed out`).
 */
export function responseText(res: BackendResponse): string {
  if (res.status === 0) return res.error ?? 'unreachable';
  const message = typeof res.body === 'object' ? envelopeMessage(res.body, '') : '';
  return `HTTP ${res.status}${message ? `: ${message}` : ''}`;
}

export interface BackendClientOptions {
  /** Base URL including the API prefix, e.g. http://localhost:8000/api/v1. */
  baseUrl: string;
  timeoutMs: number;
  registrationToken?: string;
  /** Replaceable for tests (default: node:http). */
  fetchImpl?: FetchLike;
}

/** Thin JSON client for the backend routes a worker calls. Never throws. */
export class BackendClient {
  private readonly transport: HttpTransport;

  constructor(private readonly options: BackendClientOptions) {
    this.transport = options.fetchImpl ? fetchTransport(options.fetchImpl) : nodeHttpTransport;
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  register(body: RegisterWorkerRequestDto): Promise<BackendResponse> {
    return this.request('POST', BACKEND_ROUTES.workerRegister, body);
  }

  heartbeat(workerId: string, body: HeartbeatRequestDto): Promise<BackendResponse> {
    return this.request('POST', buildPath(BACKEND_ROUTES.workerHeartbeat, { id: workerId }), body);
  }

  getWorker(workerId: string): Promise<BackendResponse> {
    return this.request('GET', buildPath(BACKEND_ROUTES.worker, { id: workerId }));
  }

  /** `trace`: the context of the operation's job (the report joins the attempt's trace). */
  progress(
    operationId: string,
    body: ProgressReportDto,
    trace?: Context,
  ): Promise<BackendResponse> {
    return this.request(
      'POST',
      buildPath(BACKEND_ROUTES.operationProgress, { id: operationId }),
      body,
      trace,
    );
  }

  complete(
    operationId: string,
    body: CompleteOperationRequestDto,
    trace?: Context,
  ): Promise<BackendResponse> {
    return this.request(
      'POST',
      buildPath(BACKEND_ROUTES.operationComplete, { id: operationId }),
      body,
      trace,
    );
  }

  /** One binary artifact chunk (`bytes`: encodeArtifactChunk's form of rows in `meta.columns` order). */
  uploadArtifactChunk(
    operationId: string,
    kind: string,
    meta: ArtifactChunkMeta,
    bytes: Uint8Array,
    trace?: Context,
  ): Promise<BackendResponse> {
    const path = buildPath(BACKEND_ROUTES.operationArtifactChunk, {
      id: operationId,
      kind,
      index: String(meta.chunk_index),
    });
    const query = new URLSearchParams({
      chunk_count: String(meta.chunk_count),
      first_row: String(meta.first_row),
      total_rows: String(meta.total_rows),
      columns: meta.columns.join(','),
    });
    return runInContext(trace, () =>
      this.send(
        'PUT',
        `${path}?${query.toString()}`,
        {
          contentType: ARTIFACT_CHUNK_MEDIA_TYPE,
          bytes,
          headers: { [LEASE_TOKEN_HEADER]: meta.lease_token },
        },
        trace,
      ),
    );
  }

  /**
   * With `trace`, the request runs in that context: W3C `traceparent` goes out with it (injected
   * by the fetch instrumentation, or here when fetch is not instrumented).
   */
  private request(
    method: 'GET' | 'POST',
    route: string,
    body?: unknown,
    trace?: Context,
  ): Promise<BackendResponse> {
    return runInContext(trace, () =>
      this.send(
        method,
        route,
        body === undefined
          ? undefined
          : { contentType: 'application/json', bytes: JSON.stringify(body) },
        trace,
      ),
    );
  }

  private async send(
    method: 'GET' | 'POST' | 'PUT',
    route: string,
    body:
      | { contentType: string; bytes: string | Uint8Array; headers?: Record<string, string> }
      | undefined,
    trace: Context | undefined,
  ): Promise<BackendResponse> {
    const url = `${this.options.baseUrl}/${route}`;
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(trace ? traceHeaders(trace) : {}),
      ...body?.headers,
    };
    if (body !== undefined) headers['content-type'] = body.contentType;
    // The token is sent on every call when set (the backend may check it on all worker routes).
    if (this.options.registrationToken) {
      headers[REGISTRATION_TOKEN_HEADER] = this.options.registrationToken;
    }
    const r = await httpExchange(url, {
      method,
      headers,
      body: body?.bytes,
      timeoutMs: this.options.timeoutMs,
      transport: this.transport,
    });
    if (r.kind === 'unreachable') return { status: 0, body: null, error: r.detail };
    if (r.json === undefined)
      return { status: r.status, body: null, error: 'response is not JSON' };
    return { status: r.status, body: r.json };
  }
}
