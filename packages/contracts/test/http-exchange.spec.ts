import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchTransport, httpExchange, type HttpTransport } from '../src/http-exchange';
import { nodeHttpTransport } from '../src/node-http-transport';

describe.each<[string, HttpTransport]>([
  ['fetch', fetchTransport()],
  ['node:http', nodeHttpTransport],
])('httpExchange over %s (the one exchange of every client)', (_name, transport) => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/json') {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end('{"a":1}');
      } else if (req.url === '/text') {
        res.writeHead(502, { 'retry-after': '3' });
        res.end('<html>bad gateway</html>');
      } else if (req.url === '/empty') {
        res.writeHead(204);
        res.end();
      } else if (req.url === '/echo') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const bytes = Buffer.concat(chunks);
          res.end(
            JSON.stringify({
              method: req.method,
              body: bytes.toString(),
              bytes: [...bytes],
              length: req.headers['content-length'],
              h: req.headers['x-t'],
            }),
          );
        });
      } else if (req.url === '/cut') {
        // Promises 100 bytes, sends 5, drops the connection.
        res.writeHead(200, { 'content-length': '100' });
        res.write('{"a":');
        setTimeout(() => res.socket?.destroy(), 20);
      }
      // /hang: never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('reads the answer and parses its JSON', async () => {
    const r = await httpExchange(`${base}/json`, { method: 'GET', timeoutMs: 5000, transport });
    expect(r).toMatchObject({
      kind: 'answer',
      status: 201,
      ok: true,
      json: { a: 1 },
      text: '{"a":1}',
    });
  });

  it('sends the method, headers and body', async () => {
    const r = await httpExchange(`${base}/echo`, {
      method: 'POST',
      headers: { 'x-t': 'yes' },
      body: 'héllo',
      transport,
    });
    expect(r).toMatchObject({
      kind: 'answer',
      json: { method: 'POST', body: 'héllo', length: '6', h: 'yes' },
    });
  });

  it('sends binary bytes as they are', async () => {
    const bytes = new Uint8Array(new Float64Array([1.5, -2]).buffer);
    const r = await httpExchange(`${base}/echo`, { method: 'PUT', body: bytes, transport });
    expect(r.kind === 'answer' && (r.json as { bytes: number[] }).bytes).toEqual([...bytes]);
  });

  it('a connection lost in the middle of the body: unreachable, sent', async () => {
    const r = await httpExchange(`${base}/cut`, { method: 'GET', timeoutMs: 5000, transport });
    expect(r).toMatchObject({ kind: 'unreachable', timedOut: false, sent: true });
  });

  it('keeps a body that is not JSON as text (json undefined) and reads Retry-After', async () => {
    const r = await httpExchange(`${base}/text`, { method: 'GET', transport });
    expect(r).toMatchObject({
      kind: 'answer',
      status: 502,
      ok: false,
      json: undefined,
      text: '<html>bad gateway</html>',
      retryAfterSeconds: 3,
    });
  });

  it('an empty body is null', async () => {
    const r = await httpExchange(`${base}/empty`, { method: 'DELETE', transport });
    expect(r).toMatchObject({
      kind: 'answer',
      status: 204,
      json: null,
      text: '',
      retryAfterSeconds: null,
    });
  });

  it('no answer in time: unreachable, timed out, maybe sent', async () => {
    const t0 = Date.now();
    const r = await httpExchange(`${base}/hang`, { method: 'POST', timeoutMs: 150, transport });
    expect(r).toEqual({ kind: 'unreachable', timedOut: true, sent: true, detail: 'timed out' });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a refused connection: unreachable, certainly not sent, the cause in one line', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await httpExchange(`http://127.0.0.1:${port}/x`, {
      method: 'POST',
      timeoutMs: 5000,
      transport,
    });
    expect(r).toMatchObject({ kind: 'unreachable', timedOut: false, sent: false });
    expect(r.kind === 'unreachable' && r.detail).toMatch(/ECONNREFUSED/);
  });

  it("rejects only when the caller's own signal aborts it", async () => {
    const ac = new AbortController();
    const p = httpExchange(`${base}/hang`, {
      method: 'GET',
      signal: ac.signal,
      timeoutMs: 5000,
      transport,
    });
    setTimeout(() => ac.abort(new Error('user left')), 50);
    await expect(p).rejects.toThrow('user left');
  });
});

describe('httpExchange options', () => {
  it('uses the fetch it is given', async () => {
    const fetchImpl = jest.fn(async () => new Response('[1,2]', { status: 200 }));
    const r = await httpExchange('http://127.0.0.1:9/x', {
      method: 'GET',
      transport: fetchTransport(fetchImpl),
    });
    expect(fetchImpl).toHaveBeenCalledWith(
      'http://127.0.0.1:9/x',
      expect.objectContaining({ method: 'GET' }),
    );
    expect(r).toMatchObject({ kind: 'answer', json: [1, 2] });
  });
});
