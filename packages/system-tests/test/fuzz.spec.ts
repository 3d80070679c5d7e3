/**
 * Property-based fuzzing (fast-check) of every write endpoint of the BUILT backend (enumerated from its
 * own OpenAPI document, so endpoints added later are fuzzed too) and of a real backtest worker and a
 * real training worker: at least 10,000 generated bad requests — random JSON, mutations of valid
 * bodies (wrong types, unknown and forbidden keys, NUL characters, unpaired surrogates, nesting up to
 * 100,000 levels), invalid JSON, other content types, odd path ids and artifact kinds, missing or wrong
 * credentials and signatures. Properties: no 5xx ever; every 400 names a field or a path; a request
 * without or with wrong credentials never succeeds; afterwards every service still answers and a real
 * backtest completes.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  ARTIFACT_CHUNK_MEDIA_TYPE,
  ARTIFACT_COLUMNS,
  ARTIFACT_KINDS,
  LEASE_TOKEN_HEADER,
  PATH_MESSAGE_PATTERN,
  REGISTRATION_TOKEN_HEADER,
  signRequest,
} from '@ktrdr/contracts';
import {
  BACKEND_MAIN,
  BACKTEST_MAIN,
  TRAINING_MAIN,
  freePort,
  launch,
  requireBuilt,
  sha256,
  stopAll,
  tail,
  waitFor,
  type Proc,
} from './support/processes';

const TOKEN = 'fuzz-registration-token-0123456789abcdef';
const KEY = 'fuzz-operate-key-0123456789abcdef0123456789';
const SEED = 20261122;
const BACKEND_REQUESTS = 7_000;
const WORKER_REQUESTS = 4_200;
const CONCURRENCY = 8;
/** A 400 starts with the field or path it is about: `strategy.fast_period must…`, `body is…`. */
const NAMES_A_PATH = PATH_MESSAGE_PATTERN;

type Target = 'backend' | 'backtest-worker' | 'training-worker';

interface Spec {
  target: Target;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  what: string;
  /** What the request carried: the right credentials, wrong ones, or none. */
  credentials: 'right' | 'wrong' | 'none';
  /**
   * Token to sign a worker call with, when it is signed: signatures are made when the request is sent
   * (a signature older than the worker's window is refused, whatever the body).
   */
  signWith?: string;
}

interface Outcome {
  spec: Spec;
  status: number;
  message: string;
  retryAfter: string | null;
}

const procs: Proc[] = [];
let root: string;
let backendUrl: string;
let workerUrl: string;
let trainingUrl: string;

const logs = (): string => procs.map((p) => `----- ${p.name}\n${tail(p)}`).join('\n');

beforeAll(async () => {
  requireBuilt(BACKEND_MAIN, BACKTEST_MAIN);
  root = mkdtempSync(join(tmpdir(), 'ktrdr-fuzz-'));
  mkdirSync(join(root, 'logs'));
  const [apiPort, workerPort, trainingPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  backendUrl = `http://127.0.0.1:${apiPort}`;
  workerUrl = `http://127.0.0.1:${workerPort}`;
  trainingUrl = `http://127.0.0.1:${trainingPort}`;
  const common = {
    KTRDR_ENV: 'test',
    KTRDR_LOG_LEVEL: 'warn',
    KTRDR_DATA_DIR: join(root, 'data'),
    KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN,
  };
  procs.push(
    launch(
      'backend',
      BACKEND_MAIN,
      {
        ...common,
        KTRDR_DB_DIR: 'memory://',
        KTRDR_API_HOST: '127.0.0.1',
        KTRDR_API_PORT: String(apiPort),
        KTRDR_API_OPERATE_KEY_SHA256: sha256(KEY),
        KTRDR_WORKER_HEALTH_CHECK_INTERVAL: '1',
        KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '0.5',
      },
      join(root, 'logs'),
    ),
  );
  procs.push(
    launch(
      'backtest-worker',
      BACKTEST_MAIN,
      {
        ...common,
        KTRDR_WORKER_ID: 'fuzz-backtest-1',
        KTRDR_WORKER_HOST: '127.0.0.1',
        KTRDR_WORKER_PORT: String(workerPort),
        KTRDR_WORKER_PUBLIC_BASE_URL: workerUrl,
        KTRDR_API_CLIENT_BASE_URL: `${backendUrl}/api/v1`,
        KTRDR_WORKER_HEARTBEAT_INTERVAL: '1',
      },
      join(root, 'logs'),
    ),
  );
  procs.push(
    launch(
      'training-worker',
      TRAINING_MAIN,
      {
        ...common,
        KTRDR_WORKER_ID: 'fuzz-training-1',
        KTRDR_WORKER_HOST: '127.0.0.1',
        KTRDR_WORKER_PORT: String(trainingPort),
        KTRDR_WORKER_PUBLIC_BASE_URL: trainingUrl,
        KTRDR_API_CLIENT_BASE_URL: `${backendUrl}/api/v1`,
        KTRDR_WORKER_HEARTBEAT_INTERVAL: '1',
      },
      join(root, 'logs'),
    ),
  );
  for (const id of ['fuzz-backtest-1', 'fuzz-training-1'])
    await waitFor(
      `worker ${id} registered`,
      async () => {
        const res = await fetch(`${backendUrl}/api/v1/workers/${id}`, {
          headers: { authorization: `Bearer ${KEY}` },
        });
        return res.status === 200 ? true : undefined;
      },
      120_000,
      logs,
    );
}, 180_000);

afterAll(async () => {
  await stopAll(procs);
  if (root) rmSync(root, { recursive: true, force: true });
});

// ── generators ──────────────────────────────────────────────────────────────────────────────────

const BACKTEST = {
  symbol: 'SYNTH-FUZZ',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-01-10',
  strategy: { type: 'sma_crossover', fast_period: 5, slow_period: 20 },
};
const TRAINING = {
  symbol: 'SYNTH-FUZZ',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-02-01',
  features: ['returns_1', 'rsi_14'],
  model: { hidden_layers: [4] },
  epochs: 2,
};

/** A plausible valid body per endpoint (the fuzzer breaks it); `{}` for endpoints it does not know. */
function baseBody(path: string): Record<string, unknown> {
  // A worker's start routes (no /api/v1 prefix) take the dispatch shape: the parameters nested.
  const dispatch = { operation_id: 'op-f', lease_token: 'l', attempt: 1, resume_from: null };
  if (path === '/backtests/start') return { ...dispatch, params: { ...BACKTEST } };
  if (path === '/trainings/start') return { ...dispatch, params: { ...TRAINING } };
  // The 0.1 route, still served: a 0.1 backend sent the flat shape there.
  if (path === '/training/start')
    return { task_id: 'op-f', lease_token: 'l', attempt: 1, ...TRAINING };
  if (path.endsWith('/backtests/start')) return { ...BACKTEST };
  if (path.endsWith('/trainings/start')) return { ...TRAINING };
  if (path.endsWith('/sweep'))
    return { base: { ...BACKTEST }, grid: { 'strategy.fast_period': [5, 6] } };
  if (path.endsWith('/workers/register'))
    // A training worker at an unreachable endpoint: a registration that happens to be valid never
    // receives the backtest checked at the end.
    return { worker_id: 'fuzz-junk', worker_type: 'training', endpoint_url: 'http://127.0.0.1:9' };
  if (path.endsWith('/heartbeat')) return { status: 'available', current_operation_id: null };
  if (path.endsWith('/progress'))
    return { lease_token: 'lease-x', progress: { percentage: 10, message: 'm' } };
  if (path.endsWith('/complete'))
    return { lease_token: 'lease-x', status: 'completed', result: { a: [1, { b: 'c' }] } };
  if (path.includes('/artifacts/'))
    return {
      lease_token: 'lease-x',
      chunk_index: 0,
      chunk_count: 1,
      first_row: 0,
      total_rows: 1,
      columns: [...ARTIFACT_COLUMNS.equity],
      rows: [[1704067200000, 100000]],
    };
  return {};
}

const deep = (depth: number, open: string, close: string, inner: string) =>
  open.repeat(depth) + inner + close.repeat(depth);

const nasty = fc.oneof(
  fc.constantFrom('a\u0000b', '\ud800', 'x\udfff', '\u0000', '\ud83d', 'ok\ud800\u0000'),
  fc.string({ maxLength: 20 }).map((s) => `${s}\u0000${s}`),
);
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  nasty,
  fc.constantFrom(-1, 0, 1e308, -1e308, 2 ** 53 + 1, 1.5, '', ' ', 'NaN', true, null, [], {}),
  fc.string({ maxLength: 300 }),
  fc.integer({ min: 65, max: 400 }).map((d) => JSON.parse(deep(d, '{"k":', '}', '1')) as unknown),
);
const badKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'k\u0000', 'k\ud800', ''),
  fc.string({ maxLength: 12 }),
);

/** Sets a value at a random depth of a copy of `body`. */
function mutate(
  body: Record<string, unknown>,
  key: string,
  value: unknown,
  depthPick: number,
): string {
  const copy = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
  let target: Record<string, unknown> = copy;
  const objects = Object.entries(copy).filter(
    ([, v]) => v && typeof v === 'object' && !Array.isArray(v),
  );
  if (objects.length > 0 && depthPick % 2 === 1) {
    target = objects[depthPick % objects.length]![1] as Record<string, unknown>;
  }
  const keys = Object.keys(target);
  const name = depthPick % 3 === 0 && keys.length > 0 ? keys[depthPick % keys.length]! : key;
  // The value replaces the field (no duplicate key for JSON.parse to override).
  delete target[name];
  // JSON text so that `__proto__` stays an own key.
  const text = JSON.stringify(target);
  const entry = `${JSON.stringify(name)}:${JSON.stringify(value) ?? 'null'}`;
  const replaced = text === '{}' ? `{${entry}}` : `{${entry},${text.slice(1)}`;
  if (target === copy) return replaced;
  const marker = '"__FUZZ_TARGET__"';
  const outer = JSON.stringify(copy, (_k, v) => (v === target ? '__FUZZ_TARGET__' : v));
  return outer.replace(marker, replaced);
}

function bodyArb(path: string): fc.Arbitrary<{ body?: string; what: string; type?: string }> {
  const base = baseBody(path);
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .tuple(badKey, weirdValue, fc.nat())
        .map(([k, v, d]) => ({ body: mutate(base, k, v, d), what: `mutation ${k}` })),
    },
    {
      weight: 2,
      arbitrary: fc
        .jsonValue({ maxDepth: 4 })
        .map((v) => ({ body: JSON.stringify(v), what: 'random JSON' })),
    },
    {
      weight: 1,
      arbitrary: fc.string({ maxLength: 80 }).map((s) => ({ body: s, what: 'random text' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('{', '{"a":', '[1,]', '{"a":1}}', 'nul', '"\\u0000"', '"\\ud800"', '\u0000')
        .map((b) => ({ body: b, what: 'invalid JSON' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.oneof(
            { weight: 9, arbitrary: fc.integer({ min: 70, max: 20_000 }) },
            { weight: 1, arbitrary: fc.constant(100_000) },
          ),
          fc.boolean(),
        )
        .map(([d, arr]) => ({
          body: `{"x":${arr ? deep(d, '[', ']', '1') : deep(d, '{"a":', '}', '1')}}`,
          what: `nesting ${d}`,
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          'application/x-www-form-urlencoded',
          'text/plain',
          'multipart/form-data; boundary=x',
          'application/xml',
          'application/json; charset=latin1',
        )
        .map((type) => ({
          body: 'worker_id=evil&worker_type=backtesting',
          what: `content-type ${type}`,
          type,
        })),
    },
    {
      // The binary artifact-chunk form: refused (415) on every route but the chunk upload.
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 256 }).map((bytes) => ({
        body: String.fromCharCode(...bytes),
        what: `binary chunk of ${bytes.length} bytes`,
        type: ARTIFACT_CHUNK_MEDIA_TYPE,
      })),
    },
    { weight: 1, arbitrary: fc.constant({ body: undefined, what: 'no body' }) },
  );
}

const idArb = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^op_[a-z]{3,10}_[0-9a-f]{6}$/) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s) || 'x') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '%00',
      '%ZZ',
      '..',
      '%2e%2e',
      'a'.repeat(300),
      '%ED%A0%80',
      '-x',
      'op%0A1',
    ),
  },
);

/** Mostly a real artifact kind (so the body is validated), sometimes an odd one. */
const kindArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ARTIFACT_KINDS) },
  { weight: 1, arbitrary: idArb },
);

interface Endpoint {
  target: Target;
  method: string;
  template: string;
  credentials: 'key' | 'token' | 'signature';
}

function specArb(e: Endpoint): fc.Arbitrary<Spec> {
  return fc
    .tuple(bodyArb(e.template), idArb, kindArb, fc.integer({ min: 0, max: 19 }))
    .map(([b, id, kind, auth]) => {
      let path = e.template.replace(/\{kind\}/g, kind).replace(/\{[^}]+\}|:id/g, id);
      const headers: Record<string, string> = {};
      if (e.template.endsWith('/chunks/{index}')) {
        // Mostly a well-formed query and lease header, so the body and the lease are reached.
        path = `${path.slice(0, path.lastIndexOf('/'))}/${auth % 3 === 0 ? id : auth}`;
        if (auth % 4 !== 0)
          path += `?chunk_count=${auth + 1}&first_row=${auth % 5}&total_rows=${auth * 3}&columns=${auth % 2 ? 'time,equity' : 'a'}`;
        if (auth % 5 !== 0) headers[LEASE_TOKEN_HEADER] = auth % 2 ? 'lease-x' : id;
      }
      if (b.body !== undefined) headers['content-type'] = b.type ?? 'application/json';
      let what = b.what;
      // Mostly the right credentials (so validation is reached); sometimes none or wrong ones.
      if (auth === 0) what += ', no credentials';
      else if (e.credentials === 'key')
        headers.authorization = auth === 1 ? 'Bearer wrong-key' : `Bearer ${KEY}`;
      else if (e.credentials === 'token')
        headers[REGISTRATION_TOKEN_HEADER] = auth === 1 ? 'wrong' : TOKEN;
      const signWith =
        e.credentials === 'signature' && auth !== 0
          ? auth === 1
            ? 'wrong-token-0123456789abcdef0123'
            : TOKEN
          : undefined;
      const credentials = auth === 0 ? 'none' : auth === 1 ? 'wrong' : 'right';
      return {
        target: e.target,
        method: e.method,
        path,
        headers,
        body: b.body,
        what,
        credentials,
        signWith,
      };
    });
}

async function send(spec: Spec): Promise<Outcome> {
  const base =
    spec.target === 'backend'
      ? backendUrl
      : spec.target === 'backtest-worker'
        ? workerUrl
        : trainingUrl;
  const headers = spec.signWith
    ? {
        ...spec.headers,
        ...signRequest(spec.signWith, {
          method: spec.method,
          path: spec.path.split('?')[0]!,
          body: spec.body,
        }),
      }
    : spec.headers;
  const res = await fetch(base + spec.path, {
    method: spec.method,
    headers,
    body: spec.body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let message = '';
  try {
    message = String((JSON.parse(text) as { message?: unknown }).message ?? '');
  } catch {
    message = text.slice(0, 200);
  }
  return { spec, status: res.status, message, retryAfter: res.headers.get('retry-after') };
}

async function runAll(specs: Spec[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        out.push(await send(spec));
      }
    }),
  );
  return out;
}

function summarize(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.status] = (counts[o.status] ?? 0) + 1;
  return counts;
}

function check(outcomes: Outcome[]): void {
  // A 503 with Retry-After is the documented "no worker free / shutting down" answer to a request
  // that happened to be valid, not a failure; any other 5xx is.
  const server = outcomes.filter((o) => o.status >= 500 && !(o.status === 503 && o.retryAfter));
  const unnamed = outcomes.filter((o) => o.status === 400 && !NAMES_A_PATH.test(o.message));
  const show = (list: Outcome[]) =>
    list.slice(0, 5).map((o) => ({
      request: `${o.spec.method} ${o.spec.path.slice(0, 80)} (${o.spec.what})`,
      body: o.spec.body?.slice(0, 200),
      status: o.status,
      message: o.message.slice(0, 200),
    }));
  expect({ server_errors: server.length, first: show(server) }).toEqual({
    server_errors: 0,
    first: [],
  });
  expect({ unnamed_400: unnamed.length, first: show(unnamed) }).toEqual({
    unnamed_400: 0,
    first: [],
  });
  // Without or with wrong credentials (key, registration token or signature) nothing gets through.
  const admitted = outcomes.filter((o) => o.spec.credentials !== 'right' && o.status < 300);
  expect({ admitted_without_credentials: admitted.length, first: show(admitted) }).toEqual({
    admitted_without_credentials: 0,
    first: [],
  });
  const refused = outcomes.filter((o) => o.spec.credentials !== 'right' && o.status === 401);
  expect(refused.length).toBeGreaterThan(outcomes.length / 40);
}

describe('fuzzing every write endpoint', () => {
  it(`backend: ${BACKEND_REQUESTS} generated bad requests, no 5xx, every 400 names a field or path`, async () => {
    const doc = (await (await fetch(`${backendUrl}/api/docs-json`)).json()) as {
      paths: Record<string, Record<string, { 'x-ktrdr-access'?: string }>>;
    };
    const endpoints: Endpoint[] = [];
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item))
        if (['post', 'put', 'patch', 'delete'].includes(method))
          endpoints.push({
            target: 'backend',
            method: method.toUpperCase(),
            template: path,
            credentials: op['x-ktrdr-access'] === 'worker' ? 'token' : 'key',
          });
    expect(endpoints.length).toBeGreaterThanOrEqual(8);
    const perEndpoint = Math.ceil(BACKEND_REQUESTS / endpoints.length);
    const specs = endpoints.flatMap((e, i) =>
      fc.sample(specArb(e), { numRuns: perEndpoint, seed: SEED + i }),
    );
    expect(specs.length).toBeGreaterThanOrEqual(BACKEND_REQUESTS);
    const outcomes = await runAll(specs);
    console.log(
      `backend fuzz (seed ${SEED}): ${outcomes.length} requests over ${endpoints.length} write endpoints: ${JSON.stringify(summarize(outcomes))}`,
    );
    check(outcomes);
    expect(outcomes.filter((o) => o.status === 400).length).toBeGreaterThan(outcomes.length / 3);
  }, 600_000);

  it(`worker: ${WORKER_REQUESTS} generated bad requests, no 5xx, every 400 names a field or path`, async () => {
    const cancel = '/api/v1/operations/:id/cancel';
    const plan: [Endpoint, number][] = [
      [
        {
          target: 'backtest-worker',
          method: 'POST',
          template: '/backtests/start',
          credentials: 'signature',
        },
        2_000,
      ],
      [
        {
          target: 'training-worker',
          method: 'POST',
          template: '/trainings/start',
          credentials: 'signature',
        },
        900,
      ],
      [
        {
          target: 'training-worker',
          method: 'POST',
          template: '/training/start',
          credentials: 'signature',
        },
        300,
      ],
      [
        { target: 'backtest-worker', method: 'DELETE', template: cancel, credentials: 'signature' },
        400,
      ],
      [
        { target: 'training-worker', method: 'DELETE', template: cancel, credentials: 'signature' },
        200,
      ],
      [
        {
          target: 'backtest-worker',
          method: 'POST',
          template: '/backend-shutdown',
          credentials: 'signature',
        },
        250,
      ],
      [
        {
          target: 'training-worker',
          method: 'POST',
          template: '/backend-shutdown',
          credentials: 'signature',
        },
        150,
      ],
    ];
    const specs = plan.flatMap(([e, count], i) =>
      fc.sample(specArb(e), { numRuns: count, seed: SEED + 100 + i }),
    );
    expect(specs.length).toBeGreaterThanOrEqual(WORKER_REQUESTS);
    const outcomes = await runAll(specs);
    console.log(
      `worker fuzz (seed ${SEED}): ${outcomes.length} requests to a backtest and a training worker: ${JSON.stringify(summarize(outcomes))}`,
    );
    check(outcomes);
    expect(outcomes.filter((o) => o.status === 401).length).toBeGreaterThan(100);
    // Signed at send time, most requests get past the signature check to validation.
    expect(outcomes.filter((o) => o.status === 400).length).toBeGreaterThan(outcomes.length / 3);
  }, 600_000);

  it('afterwards every service answers, and a real backtest completes', async () => {
    const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    expect((await fetch(`${backendUrl}/api/v1/health`)).status).toBe(200);
    expect((await fetch(`${workerUrl}/health`)).status).toBe(200);
    expect((await fetch(`${trainingUrl}/health`)).status).toBe(200);
    // Cancel whatever the fuzzing happened to start.
    for (const status of ['pending', 'dispatched', 'running']) {
      const list = (await (
        await fetch(`${backendUrl}/api/v1/operations?status=${status}&limit=1000`, {
          headers: auth,
        })
      ).json()) as { data?: { operation_id: string }[] };
      for (const op of list.data ?? [])
        await fetch(`${backendUrl}/api/v1/operations/${op.operation_id}`, {
          method: 'DELETE',
          headers: auth,
        });
    }
    await waitFor(
      'the backtest worker available',
      async () => {
        const res = await fetch(`${backendUrl}/api/v1/workers/fuzz-backtest-1`, { headers: auth });
        const w = (await res.json()) as { status?: string };
        return w.status === 'available' ? true : undefined;
      },
      60_000,
      logs,
    );
    const start = await fetch(`${backendUrl}/api/v1/backtests/start`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ ...BACKTEST, end_date: '2024-03-01' }),
    });
    expect(start.status).toBeLessThan(300);
    const { operation_id } = (await start.json()) as { operation_id: string };
    const done = await waitFor(
      `backtest ${operation_id} finished`,
      async () => {
        const res = await fetch(`${backendUrl}/api/v1/operations/${operation_id}`, {
          headers: auth,
        });
        const op = ((await res.json()) as { data: { status: string } }).data;
        return ['completed', 'failed', 'cancelled'].includes(op.status) ? op : undefined;
      },
      120_000,
      logs,
    );
    expect(done.status).toBe('completed');
    // Operations carry headline metrics; the full result is served by /results.
    const results = await fetch(`${backendUrl}/api/v1/operations/${operation_id}/results`, {
      headers: auth,
    });
    const full = (await results.json()) as { data: { result: { bars_total?: number } } };
    expect(full.data.result.bars_total).toBe(60 * 24);
  }, 300_000);
});
