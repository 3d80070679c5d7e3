import {
  API_PREFIX,
  BACKEND_ROUTES,
  buildPath,
  httpExchange,
  OperationStatus,
  REGISTRATION_TOKEN_HEADER,
  TERMINAL_OPERATION_STATUSES,
  type AnswerHeaders,
  type OperationDto,
  type StartOperationResponseDto,
  type WorkerDto,
  type WorkerListResponseDto,
} from '@ktrdr/contracts';
import { E2E_API_KEY } from './credentials';
import { waitFor } from './wait';

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  headers: AnswerHeaders;
}

/**
 * Plain HTTP against a base URL (host side, through the mapped port): the contracts' exchange, the
 * body parsed as JSON or kept as text (e.g. Prometheus exposition). No answer throws, naming why.
 */
export async function http<T = unknown>(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<HttpResult<T>> {
  const res = await httpExchange(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs,
  });
  if (res.kind === 'unreachable') throw new Error(`${method} ${url}: ${res.detail}`);
  const parsed = res.json === undefined ? res.text : res.json;
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** The backend's REST API, addressed with the contracts' route constants. */
export class BackendClient {
  /** Every request carries `Authorization: Bearer <apiKey>` (the e2e operate key by default). */
  constructor(
    private baseUrl: string,
    private readonly apiKey: string = E2E_API_KEY,
  ) {}

  private auth(headers: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}`, ...headers };
  }

  /** Host-side base URL, e.g. http://localhost:32771 (changes when the container restarts). */
  setBaseUrl(baseUrl: string): void {
    this.baseUrl = baseUrl;
  }

  url(route: string, params: Record<string, string> = {}): string {
    return `${this.baseUrl}/${API_PREFIX}/${buildPath(route, params)}`;
  }

  get<T = unknown>(
    route: string,
    params: Record<string, string> = {},
    query = '',
  ): Promise<HttpResult<T>> {
    return http<T>('GET', this.url(route, params) + query, undefined, this.auth());
  }

  post<T = unknown>(
    route: string,
    body: unknown,
    params: Record<string, string> = {},
    headers: Record<string, string> = {},
  ): Promise<HttpResult<T>> {
    return http<T>('POST', this.url(route, params), body, this.auth(headers));
  }

  delete<T = unknown>(route: string, params: Record<string, string> = {}): Promise<HttpResult<T>> {
    return http<T>('DELETE', this.url(route, params), undefined, this.auth());
  }

  async workers(query = ''): Promise<WorkerListResponseDto> {
    const r = await this.get<WorkerListResponseDto>(BACKEND_ROUTES.workers, {}, query);
    if (r.status !== 200)
      throw new Error(`GET /workers answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async operation(id: string): Promise<OperationDto> {
    const r = await this.get<{ success: boolean; data: OperationDto }>(BACKEND_ROUTES.operation, {
      id,
    });
    if (r.status !== 200)
      throw new Error(`GET /operations/${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body.data;
  }

  async startBacktest(params: Record<string, unknown>): Promise<StartOperationResponseDto> {
    return this.start(BACKEND_ROUTES.backtestsStart, params);
  }

  async startTraining(params: Record<string, unknown>): Promise<StartOperationResponseDto> {
    return this.start(BACKEND_ROUTES.trainingsStart, params);
  }

  /**
   * Queues an operation (202) and waits until the dispatcher has handed it to a worker (or it has
   * finished): the answer then carries the worker and the status it reached.
   */
  private async start(
    route: string,
    params: Record<string, unknown>,
  ): Promise<StartOperationResponseDto> {
    const r = await this.post<StartOperationResponseDto>(route, params);
    if (r.status !== 202) {
      throw new Error(`POST /${route} answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
    const op = await waitFor(
      `operation ${r.body.operation_id} to be handed to a worker`,
      () => this.operation(r.body.operation_id),
      (o) => o.worker_id !== null || TERMINAL_OPERATION_STATUSES.includes(o.status),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    return { ...r.body, status: op.status, worker_id: op.worker_id };
  }

  /** Waits until `count` workers (optionally of a type) are registered and available. */
  waitForWorkers(
    predicate: (workers: WorkerDto[]) => boolean,
    description: string,
    timeoutMs = 30_000,
  ): Promise<WorkerListResponseDto> {
    return waitFor(
      `workers: ${description}`,
      () => this.workers(),
      (l) => predicate(l.workers),
      {
        timeoutMs,
        intervalMs: 300,
      },
    );
  }

  /** Waits until the backend's liveness endpoint answers 200 (e.g. after a restart). */
  async waitForHealthy(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      'backend health',
      () => this.get(BACKEND_ROUTES.health).then((r) => r.status),
      (status) => status === 200,
      { timeoutMs, intervalMs: 250 },
    );
  }

  /** Polls an operation until it reaches a terminal status. */
  waitForTerminal(id: string, timeoutMs = 60_000): Promise<OperationDto> {
    return waitFor(
      `operation ${id} to finish`,
      () => this.operation(id),
      (op) => TERMINAL_OPERATION_STATUSES.includes(op.status),
      { timeoutMs, intervalMs: 300 },
    );
  }

  waitForStatus(
    id: string,
    statuses: OperationStatus[],
    timeoutMs = 30_000,
  ): Promise<OperationDto> {
    return waitFor(
      `operation ${id} to be ${statuses.join(' or ')}`,
      () => this.operation(id),
      (op) => statuses.includes(op.status),
      { timeoutMs, intervalMs: 200 },
    );
  }
}

export { REGISTRATION_TOKEN_HEADER };
