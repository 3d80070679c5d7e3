import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { LocalStack } from '../src';

const MAINS = { backend: '/none/backend.js', backtest: '/none/bt.js', training: '/none/tr.js' };

describe('LocalStack.call', () => {
  let stack: LocalStack;
  let server: Server;
  const seen: { method?: string; url?: string; auth?: string; type?: string; body: string }[] = [];

  beforeAll(async () => {
    stack = new LocalStack('ktrdr-test-support-stack-', MAINS);
    await stack.configure();
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({
          method: req.method,
          url: req.url,
          auth: req.headers.authorization,
          type: req.headers['content-type'],
          body,
        });
        if (req.url === '/api/v1/text') res.end('up 1\n');
        else res.setHeader('content-type', 'application/json').end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(stack.apiPort, '127.0.0.1', r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await stack.stop();
  });

  it('parses JSON, keeps other text, and sends the development key once the backend wrote it', async () => {
    expect(await stack.call('GET', '/health')).toEqual({ status: 200, body: { ok: true } });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/api/v1/health', auth: undefined });

    mkdirSync(stack.dataDir, { recursive: true });
    writeFileSync(join(stack.dataDir, 'dev-api-key'), 'dev-key-1\n');
    expect(await stack.call('POST', '/text', { a: 1 })).toEqual({ status: 200, body: 'up 1\n' });
    expect(seen.at(-1)).toEqual({
      method: 'POST',
      url: '/api/v1/text',
      auth: 'Bearer dev-key-1',
      type: 'application/json',
      body: '{"a":1}',
    });
  });

  it('throws, naming the call, when nothing answers', async () => {
    const other = new LocalStack('ktrdr-test-support-stack-', MAINS);
    await other.configure();
    try {
      await expect(other.call('GET', '/workers')).rejects.toThrow(/^GET \/workers: .*ECONNREFUSED/);
    } finally {
      await other.stop();
    }
  });

  it('a process of a stack needs its built entry point', () => {
    expect(() => stack.launch('backend', MAINS.backend)).toThrow(
      '/none/backend.js is missing: build first',
    );
  });
});
