/**
 * Access control of every route, enumerated from the app itself (so routes added later are covered):
 * each route × {no key, unknown key, read key, operate key, worker token} gives the documented status.
 * Documented: the operation's `x-ktrdr-access` in the OpenAPI document (read for GET/HEAD, operate for
 * writes, worker for the protocol routes, public for /metrics and the health routes).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { sha256Hex } from '@ktrdr/config';
import { REGISTRATION_TOKEN_HEADER } from '@ktrdr/contracts';
import { buildOpenApiDocument } from '../src/app.setup';
import type { AccessLevel } from '../src/auth/access.decorators';
import { ApiKeyStore, loadApiKeys, parseKeysFile } from '../src/auth/api-keys';
import { FakeWorkers } from './support/fake-worker';
import {
  TEST_OPERATE_KEY,
  TEST_READ_KEY,
  TEST_WORKER_TOKEN,
  testSettings,
} from './support/settings';
import { createTestApp, type TestApp } from './support/test-app';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Server = Parameters<typeof request>[0];

interface Route {
  method: 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  access: AccessLevel;
}

type Credential = 'none' | 'wrong' | 'read' | 'operate' | 'worker' | 'wrong-worker';

const CREDENTIALS: Record<Credential, Record<string, string>> = {
  none: {},
  wrong: { authorization: 'Bearer not-a-configured-key-0123456789abcdef' },
  read: { authorization: `Bearer ${TEST_READ_KEY}` },
  operate: { authorization: `Bearer ${TEST_OPERATE_KEY}` },
  worker: { [REGISTRATION_TOKEN_HEADER]: TEST_WORKER_TOKEN },
  'wrong-worker': { [REGISTRATION_TOKEN_HEADER]: `${TEST_WORKER_TOKEN}x` },
};

/** 'pass': the access check let it through (any status but 401/403). */
function expected(access: AccessLevel, cred: Credential, publicRoutes = true): 401 | 403 | 'pass' {
  if (access === 'public-metrics' || access === 'public-health') {
    if (publicRoutes) return 'pass';
    access = 'read';
  }
  if (access === 'worker') return cred === 'worker' ? 'pass' : 401;
  if (cred === 'operate') return 'pass';
  if (cred === 'read') return access === 'read' ? 'pass' : 403;
  return 401;
}

function routesOf(t: TestApp): Route[] {
  const doc = buildOpenApiDocument(t.app);
  const out: Route[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ['get', 'head', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item[method] as Record<string, unknown> | undefined;
      if (!op) continue;
      out.push({
        method,
        path: path.replace(/\{[^}]+\}/g, 'op_auth_x1'),
        access: op['x-ktrdr-access'] as AccessLevel,
      });
    }
  }
  return out;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: { message?: string };
}

/**
 * One request on a listening server; resolves once the answer's headers are in (an event stream never
 * ends its body), reading at most a little of the body.
 */
function send(port: number, r: Route, headers: Record<string, string>): Promise<Answer> {
  const body = r.method === 'get' || r.method === 'head' ? undefined : '{}';
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: r.path,
        method: r.method.toUpperCase(),
        headers: {
          ...headers,
          ...(body
            ? { 'content-type': 'application/json', 'content-length': String(body.length) }
            : {}),
        },
      },
      (res) => {
        const stream = String(res.headers['content-type'] ?? '').includes('text/event-stream');
        const chunks: Buffer[] = [];
        const done = () => {
          let parsed: Answer['body'] = {};
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'];
          } catch {
            // not JSON (metrics, a stream)
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        };
        if (stream) {
          res.destroy();
          return done();
        }
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', done);
        res.on('error', done);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('access control of every route', () => {
  const fake = new FakeWorkers();
  let t: TestApp;
  let http: Server;
  let routes: Route[];
  let port = 0;

  beforeAll(async () => {
    await fake.start();
    t = await createTestApp();
    http = t.app.getHttpServer() as Server;
    routes = routesOf(t);
    const server = t.app.getHttpServer() as import('node:http').Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t?.close();
    await fake.stop();
  });

  it('documents the access level of every operation, and every Nest route is documented', () => {
    expect(routes.length).toBeGreaterThanOrEqual(17);
    for (const r of routes) {
      expect(['read', 'operate', 'worker', 'public-metrics', 'public-health']).toContain(r.access);
      if (r.access === 'read') expect(['get', 'head']).toContain(r.method);
    }
    const byKey = (m: string, p: string) =>
      routes.some((r) => r.method === m && r.path === p.replace(/:\w+/g, 'op_auth_x1'));
    // The express router: every route Nest mapped (Swagger's own pages excluded) is in the document.
    const stack = (
      t.app.getHttpAdapter().getInstance() as {
        router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
      }
    ).router.stack;
    const mapped = stack
      .filter((l) => l.route && !l.route.path.startsWith('/api/docs'))
      .flatMap((l) => Object.keys(l.route!.methods).map((m) => [m, l.route!.path] as const))
      .filter(([m]) => m !== '_all');
    for (const [m, p] of mapped) expect([m, p, byKey(m, p)]).toEqual([m, p, true]);
    // The protocol routes take the worker token; the scrape and probe routes are public.
    const level = (m: string, p: string) =>
      routes.find((r) => r.method === m && r.path === p)?.access;
    expect(level('post', '/api/v1/workers/register')).toBe('worker');
    expect(level('post', '/api/v1/workers/op_auth_x1/heartbeat')).toBe('worker');
    expect(level('post', '/api/v1/operations/op_auth_x1/progress')).toBe('worker');
    expect(level('post', '/api/v1/operations/op_auth_x1/complete')).toBe('worker');
    expect(level('post', '/api/v1/operations/op_auth_x1/artifacts/op_auth_x1')).toBe('worker');
    expect(
      level('put', '/api/v1/operations/op_auth_x1/artifacts/op_auth_x1/chunks/op_auth_x1'),
    ).toBe('worker');
    expect(level('get', '/metrics')).toBe('public-metrics');
    expect(level('get', '/api/v1/health')).toBe('public-health');
    expect(level('get', '/api/v1/health/ready')).toBe('public-health');
    expect(level('post', '/api/v1/backtests/start')).toBe('operate');
    expect(level('delete', '/api/v1/operations/op_auth_x1')).toBe('operate');
    expect(level('post', '/api/v1/workers/op_auth_x1/drain')).toBe('operate');
    expect(level('delete', '/api/v1/workers/op_auth_x1/drain')).toBe('operate');
    expect(level('get', '/api/v1/operations')).toBe('read');
  });

  it.each(Object.keys(CREDENTIALS) as Credential[])(
    'every route with credential "%s" gives the documented status',
    async (cred) => {
      const seen: string[] = [];
      for (const r of routes) {
        const res = await send(port, r, CREDENTIALS[cred]);
        const want = expected(r.access, cred);
        const got = res.status === 401 || res.status === 403 ? res.status : 'pass';
        seen.push(`${r.method.toUpperCase()} ${r.path} [${r.access}] → ${res.status}`);
        expect({ route: `${r.method} ${r.path}`, status: got }).toEqual({
          route: `${r.method} ${r.path}`,
          status: want,
        });
        expect(res.status).toBeLessThan(500);
        if (got === 401 && r.access !== 'worker') {
          expect([r.path, res.headers['www-authenticate']]).toEqual([
            r.path,
            'Bearer realm="ktrdr"',
          ]);
          expect([r.path, res.body.message]).toEqual([
            r.path,
            expect.stringMatching(/^authorization: /),
          ]);
        }
        if (got === 403) expect(res.body.message).toMatch(/"test-read" has the read role/);
      }
      expect(seen.length).toBe(routes.length);
    },
  );

  it('a malformed Authorization header is a 401, never a 500', async () => {
    for (const value of [
      'Bearer',
      'Basic dXNlcjpwYXNz',
      `Bearer ${'x'.repeat(600)}`,
      'Bearer a b',
    ]) {
      const res = await request(http).get('/api/v1/operations').set('authorization', value);
      expect([value.slice(0, 20), res.status]).toEqual([value.slice(0, 20), 401]);
    }
  });

  it('the document shows the bearer scheme, and a security requirement on every operation', () => {
    const doc = buildOpenApiDocument(t.app);
    expect(doc.components?.securitySchemes?.['api-key']).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    for (const item of Object.values(doc.paths))
      for (const op of Object.values(item) as { security?: unknown[] }[])
        if (op && typeof op === 'object' && 'responses' in op) expect(op.security).toBeDefined();
  });
});

describe('public routes can require a key', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      settings: testSettings({ auth: { public_metrics: false, public_health: false } }),
    });
  });
  afterAll(() => t?.close());

  it('/metrics and the health routes need a read key when KTRDR_API_PUBLIC_* is false', async () => {
    const http = t.app.getHttpServer() as Server;
    for (const path of ['/metrics', '/api/v1/health', '/api/v1/health/ready']) {
      expect((await request(http).get(path)).status).toBe(401);
      const res = await request(http).get(path).set(CREDENTIALS.read);
      expect([path, res.status]).toEqual([path, 200]);
    }
  });
});

describe('a backend without keys or token is closed, not open', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      settings: testSettings({ worker: { registration_token: undefined }, auth: { keys: [] } }),
    });
  });
  afterAll(() => t?.close());

  it('answers 401 to every keyed and worker route', async () => {
    const http = t.app.getHttpServer() as Server;
    expect((await request(http).get('/api/v1/workers').set(CREDENTIALS.operate)).status).toBe(401);
    const reg = await request(http)
      .post('/api/v1/workers/register')
      .set(REGISTRATION_TOKEN_HEADER, 'anything')
      .send({ worker_id: 'w', worker_type: 'backtesting', endpoint_url: 'http://127.0.0.1:1' });
    expect(reg.status).toBe(401);
    expect((await request(http).get('/api/v1/health')).status).toBe(200);
  });
});

describe('API keys', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ktrdr-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('match by digest, whatever else is configured', () => {
    const store = new ApiKeyStore([
      { name: 'a', role: 'read', sha256: sha256Hex('key-a') },
      { name: 'b', role: 'operate', sha256: sha256Hex('key-b') },
    ]);
    expect(store.match('key-a')).toEqual({ name: 'a', role: 'read' });
    expect(store.match('key-b')).toEqual({ name: 'b', role: 'operate' });
    expect(store.match('key-c')).toBeNull();
    expect(store.match('')).toBeNull();
  });

  it('load from settings and a keys file; parse errors name the entry, never a digest', () => {
    const file = join(dir, 'keys.json');
    const digest = sha256Hex('ci-key');
    writeFileSync(
      file,
      JSON.stringify([{ name: 'ci', role: 'read', sha256: digest.toUpperCase() }]),
    );
    const loaded = loadApiKeys({
      keys_file: file,
      operate_key_sha256: [sha256Hex('op')],
      read_key_sha256: undefined,
      environment: 'production',
      data_dir: dir,
    });
    expect(loaded.keys).toEqual([
      { name: 'operate-1', role: 'operate', sha256: sha256Hex('op') },
      { name: 'ci', role: 'read', sha256: digest },
    ]);
    expect(loaded.dev_key_file).toBeNull();
    expect(() => parseKeysFile('k.json', '[{"name":"x","role":"admin","sha256":"00"}]')).toThrow(
      'k.json: entry 0 (x): role must be "read" or "operate"',
    );
    expect(() =>
      parseKeysFile('k.json', `[{"name":"x","role":"read","sha256":"${'z'.repeat(64)}"}]`),
    ).toThrow(/entry 0 \(x\): sha256 must be/);
    expect(() => parseKeysFile('k.json', '{')).toThrow(/k.json is not valid JSON/);
  });

  it('outside production without keys: an operate key generated once in {data dir}/dev-api-key, mode 0600', () => {
    const src = {
      keys_file: undefined,
      operate_key_sha256: undefined,
      read_key_sha256: undefined,
      environment: 'development' as const,
      data_dir: dir,
    };
    const first = loadApiKeys(src);
    const file = join(dir, 'dev-api-key');
    expect(first.dev_key_file).toBe(file);
    expect(first.dev_key_created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = readFileSync(file, 'utf8').trim();
    expect(key.length).toBeGreaterThanOrEqual(32);
    expect(first.keys).toEqual([{ name: 'development', role: 'operate', sha256: sha256Hex(key) }]);
    chmodSync(file, 0o644);
    const again = loadApiKeys(src);
    expect(again.dev_key_created).toBe(false);
    expect(again.keys).toEqual(first.keys);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Production never generates one: it refuses to start.
    expect(() =>
      loadApiKeys({ ...src, environment: 'production', data_dir: join(dir, 'p') }),
    ).toThrow(/^KTRDR_ENV=production needs at least one API key: set KTRDR_API_OPERATE_KEY_SHA256/);
    expect(existsSync(join(dir, 'p', 'dev-api-key'))).toBe(false);
  });

  it('a keys file that holds no keys is refused in every environment, naming the file', () => {
    const file = join(dir, 'empty-keys.json');
    for (const text of ['[]', '{"keys": []}']) {
      writeFileSync(file, text);
      for (const environment of ['production', 'development'] as const)
        expect(() =>
          loadApiKeys({
            keys_file: file,
            operate_key_sha256: environment === 'production' ? [sha256Hex('op')] : undefined,
            read_key_sha256: undefined,
            environment,
            data_dir: dir,
          }),
        ).toThrow(`KTRDR_API_KEYS_FILE: ${file} holds no keys`);
    }
    expect(existsSync(join(dir, 'dev-api-key'))).toBe(false);
  });
});
