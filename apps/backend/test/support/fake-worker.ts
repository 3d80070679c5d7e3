import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  worker: string;
  method: string;
  path: string;
  body: unknown;
  /** Raw body text as received (for signature checks). */
  raw: string;
  headers: IncomingMessage['headers'];
}

export interface FakeWorkerBehaviour {
  /** Status of POST /backtests/start and /trainings/start (default 200). */
  startStatus?: number;
  /** Delay of the start answer in ms. */
  startDelayMs?: number;
  /** Body of GET /health (default healthy idle). */
  health?: Record<string, unknown> | null;
  /** Status of GET /health (default 200). */
  healthStatus?: number;
  healthDelayMs?: number;
  cancelStatus?: number;
}

/**
 * Many fake workers behind one loopback HTTP server: worker `name` lives under
 * `http://127.0.0.1:{port}/w/{name}` and serves the worker routes there.
 */
export class FakeWorkers {
  readonly requests: RecordedRequest[] = [];
  private readonly behaviour = new Map<string, FakeWorkerBehaviour>();
  private server: Server | null = null;
  private port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  url(name: string): string {
    return `http://127.0.0.1:${this.port}/w/${name}`;
  }

  set(name: string, behaviour: FakeWorkerBehaviour): void {
    this.behaviour.set(name, { ...this.behaviour.get(name), ...behaviour });
  }

  requestsTo(name: string, path?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.worker === name && (!path || r.path === path));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const match = /^\/w\/([^/]+)(\/.*)$/.exec(req.url ?? '');
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    const [, name, path] = match as unknown as [string, string, string];
    let body: unknown = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    this.requests.push({
      worker: name,
      method: req.method ?? 'GET',
      path,
      body,
      raw,
      headers: req.headers,
    });
    const b = this.behaviour.get(name) ?? {};
    const json = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    const delay = (ms: number | undefined): Promise<void> =>
      ms ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
    if (req.method === 'GET' && path === '/health') {
      await delay(b.healthDelayMs);
      json(
        b.healthStatus ?? 200,
        b.health ?? {
          healthy: true,
          service: 'fake-worker',
          worker_id: name,
          worker_status: 'idle',
          current_operation: null,
        },
      );
      return;
    }
    if (req.method === 'POST' && (path === '/backtests/start' || path === '/trainings/start')) {
      await delay(b.startDelayMs);
      const status = b.startStatus ?? 200;
      const id = (body as { operation_id?: string } | null)?.operation_id ?? '';
      if (status === 503)
        json(503, { statusCode: 503, error: 'Service Unavailable', message: 'Worker busy' });
      else if (status >= 400)
        json(status, { statusCode: status, error: 'Error', message: 'rejected' });
      else json(200, { success: true, operation_id: id, status: 'started' });
      return;
    }
    if (req.method === 'DELETE' && /^\/api\/v1\/operations\/[^/]+\/cancel$/.test(path)) {
      json(b.cancelStatus ?? 200, { success: true });
      return;
    }
    if (req.method === 'POST' && path === '/backend-shutdown') {
      json(200, { acknowledged: true });
      return;
    }
    json(404, { statusCode: 404, error: 'Not Found', message: `no route ${path}` });
  }
}
