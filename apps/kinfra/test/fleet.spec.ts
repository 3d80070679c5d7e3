import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { childProcessEnv, loadFleetConfig, withEnv } from '@ktrdr/config';
import { runCli } from '../src/cli';
import { buildFleetPlan, PLAN_TSV_COLUMNS } from '../src/fleet';
import { HttpDeps } from '../src/stack-health';
import { fakeTransport, makeContext, tempDir } from './support/helpers';

jest.setTimeout(60_000);

const REPO = path.resolve(__dirname, '..', '..', '..');
const MAIN = path.join(REPO, 'apps', 'kinfra', 'dist', 'main.js');

const FLEET = `backend_url: http://127.0.9.10:8000/api/v1
health_check: { interval: 4, timeout: 2, failure_threshold: 2, removal_threshold: 60 }
deployment:
  type: proxmox-lxc
  proxmox:
    template_id: 9000
    bridge: vmbr1
    network: { subnet: 127.0.9.0/24, gateway: 127.0.9.1 }
    workers:
      backtesting: { count: 2, id_start: 301, cores: 2, memory_mb: 2048, ip_range: 127.0.9.101-127.0.9.110 }
      training: { count: 1, id_start: 401, cores: 8, memory_mb: 16384, ip_range: 127.0.9.121-127.0.9.130 }
`;

interface Call {
  url: string;
  method: string;
  headers?: Record<string, string>;
}

/** A fake backend: answers from a script of worker records; time advances through sleep. */
function fakeBackend(
  answer: (call: Call, n: number) => { status: number; body?: unknown },
): HttpDeps & {
  calls: Call[];
} {
  let now = 0;
  const calls: Call[] = [];
  return {
    calls,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    transport: fakeTransport((r) => {
      const call: Call = { url: r.url, method: r.method };
      if (Object.keys(r.headers).length > 0) call.headers = r.headers;
      calls.push(call);
      return answer(call, calls.length);
    }),
  };
}

describe('kinfra fleet', () => {
  let root: string;
  let file: string;
  beforeEach(() => {
    root = tempDir();
    file = path.join(root, 'workers.prod.yaml');
    fs.writeFileSync(file, FLEET);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const run = async (argv: string[], http?: HttpDeps) => {
    const ctx = makeContext(path.join(root, 'sandboxes'), root, http ? { http } : {});
    const code = await withEnv({}, () => runCli(argv, ctx));
    return { code, out: ctx.stdout.text, err: ctx.stderr.text, lines: ctx.stdout.lines() };
  };

  describe('plan', () => {
    it('derives VMIDs, worker ids, host names and addresses from the file', () => {
      const plan = withEnv({}, () => buildFleetPlan(loadFleetConfig({ file }), 5003));
      expect(plan.containers.map((c) => [c.vmid, c.worker_id, c.hostname, c.ip])).toEqual([
        [301, 'backtesting-301', 'ktrdr-bt-301', '127.0.9.101'],
        [302, 'backtesting-302', 'ktrdr-bt-302', '127.0.9.102'],
        [401, 'training-401', 'ktrdr-tr-401', '127.0.9.121'],
      ]);
      expect(plan.containers[2]).toMatchObject({
        prefix: 24,
        gateway: '127.0.9.1',
        bridge: 'vmbr1',
        cores: 8,
        memory_mb: 16384,
        template_id: 9000,
        storage: 'local-lvm',
        node: 'pve',
        endpoint_url: 'http://127.0.9.121:5003',
      });
    });

    it('--format tsv: a # header, then one tab-separated line per container', async () => {
      const r = await run(['fleet', 'plan', '--file', file, '--format', 'tsv']);
      expect(r.code).toBe(0);
      expect(r.lines[0]).toBe(`# ${PLAN_TSV_COLUMNS.join('\t')}`);
      expect(r.lines.slice(1)).toEqual([
        '301\tbacktesting\tbacktesting-301\tktrdr-bt-301\t127.0.9.101\t24\t127.0.9.1\tvmbr1\t2\t2048\t9000\tlocal-lvm\tpve\thttp://127.0.9.10:8000/api/v1\thttp://127.0.9.101:5003',
        '302\tbacktesting\tbacktesting-302\tktrdr-bt-302\t127.0.9.102\t24\t127.0.9.1\tvmbr1\t2\t2048\t9000\tlocal-lvm\tpve\thttp://127.0.9.10:8000/api/v1\thttp://127.0.9.102:5003',
        '401\ttraining\ttraining-401\tktrdr-tr-401\t127.0.9.121\t24\t127.0.9.1\tvmbr1\t8\t16384\t9000\tlocal-lvm\tpve\thttp://127.0.9.10:8000/api/v1\thttp://127.0.9.121:5003',
      ]);
    });

    it('prints a table for people, --json for tools', async () => {
      const t = await run(['fleet', 'plan', '--file', file]);
      expect(t.code).toBe(0);
      expect(t.out).toContain(`Fleet plan: development (${file})`);
      expect(t.out).toContain(
        'Health check: every 4s, timeout 2s, unavailable after 2 failures, removed after 60s',
      );
      expect(t.out).toMatch(
        /301 +backtesting +backtesting-301 +ktrdr-bt-301 +127\.0\.9\.101\/24 +2 +2048 MiB/,
      );
      expect(t.out).toContain('3 container(s): 2 backtesting, 1 training.');
      const j = await run(['fleet', 'plan', '--file', file, '--json']);
      expect(JSON.parse(j.out)).toMatchObject({
        deployment: 'proxmox-lxc',
        containers: expect.any(Array),
      });
    });

    it('--env prod and --env dev read the repository files', async () => {
      const prod = await run(['fleet', 'plan', '--env', 'prod', '--format', 'json']);
      expect(prod.code).toBe(0);
      expect(JSON.parse(prod.out)).toMatchObject({
        environment: 'production',
        file: path.join(REPO, 'config', 'workers.prod.yaml'),
        deployment: 'proxmox-lxc',
      });
      const dev = await run(['fleet', 'plan', '--env', 'dev']);
      expect(dev.code).toBe(0);
      expect(dev.out).toContain('--scale backtest-worker=2 --scale training-worker=2');
      const tsv = await run(['fleet', 'plan', '--env', 'dev', '--format', 'tsv']);
      expect(tsv.lines).toEqual([
        '# worker_type\tservice\tscale',
        'backtesting\tbacktest-worker\t2',
        'training\ttraining-worker\t2',
      ]);
    });

    it('an invalid file or environment exits 1 with every problem', async () => {
      fs.writeFileSync(
        file,
        FLEET.replace('count: 2', 'count: 20').replace('interval: 4', 'interval: 0'),
      );
      const r = await run(['fleet', 'plan', '--file', file]);
      expect(r.code).toBe(1);
      expect(r.err).toContain('Error: the fleet environment file is invalid:');
      expect(r.err).toContain(
        `health_check.interval (${file}, line 2): must be a number between 0.1 and 86400 (got 0)`,
      );
      const e = await run(['fleet', 'plan', '--env', 'staging']);
      expect(e.code).toBe(1);
      expect(e.err).toContain('--env: must be one of development, test, production');
    });

    it('the built CLI prints the same plan (what the deploy scripts call)', () => {
      const r = spawnSync(
        process.execPath,
        [MAIN, 'fleet', 'plan', '--file', file, '--format', 'tsv'],
        {
          env: childProcessEnv({ KTRDR_API_CLIENT_BASE_URL: 'http://override:8000/api/v1' }),
          encoding: 'utf8',
        },
      );
      expect(r.status).toBe(0);
      expect(r.stdout.split('\n')[1]).toContain('\thttp://override:8000/api/v1\t');
    });
  });

  describe('drain and wait', () => {
    const worker = (over: object = {}) => ({
      worker_id: 'bt-1',
      status: 'busy',
      current_operation_id: 'op-1',
      registered_at: '2026-01-01T00:00:00.000Z',
      draining: true,
      metadata: { release: 'aaa' },
      ...over,
    });

    it('drain POSTs /workers/{id}/drain and --print prints one field', async () => {
      const http = fakeBackend(() => ({ status: 200, body: worker() }));
      const r = await run(
        [
          'fleet',
          'drain',
          'bt-1',
          '--backend',
          'http://b:8000/api/v1/',
          '--print',
          'registered_at',
        ],
        http,
      );
      expect(r.code).toBe(0);
      expect(http.calls).toEqual([
        { url: 'http://b:8000/api/v1/workers/bt-1/drain', method: 'POST' },
      ]);
      expect(r.out).toBe('2026-01-01T00:00:00.000Z\n');
      expect(r.err).toContain('Draining bt-1: status busy, running op-1, draining');
    });

    it('sends KTRDR_API_KEY as a bearer token when one is configured', async () => {
      const http = fakeBackend(() => ({ status: 200, body: worker() }));
      const ctx = makeContext(path.join(root, 'sandboxes'), root, { http });
      const code = await withEnv({ KTRDR_API_KEY: 'k-123' }, () =>
        runCli(['fleet', 'drain', 'bt-1', '--backend', 'http://b/api/v1'], ctx),
      );
      expect(code).toBe(0);
      expect(http.calls[0]!.headers).toEqual({ authorization: 'Bearer k-123' });
    });

    it('drain: 404 is an error unless --missing-ok; the backend URL defaults to the fleet file', async () => {
      const http = fakeBackend(() => ({
        status: 404,
        body: { message: 'Worker bt-1 is not registered' },
      }));
      const r = await run(['fleet', 'drain', 'bt-1', '--file', file], http);
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        'POST http://127.0.9.10:8000/api/v1/workers/bt-1/drain answered 404: Worker bt-1 is not registered',
      );
      const ok = await run(['fleet', 'drain', 'bt-1', '--file', file, '--missing-ok'], http);
      expect(ok.code).toBe(0);
      expect(ok.err).toContain('not registered: nothing to drain');
    });

    it('undrain DELETEs /workers/{id}/drain; 404 is an error unless --missing-ok; errors name the call', async () => {
      const http = fakeBackend((c) =>
        c.url.includes('/gone/')
          ? { status: 404, body: { message: 'Worker gone is not registered: nothing to undrain' } }
          : c.url.includes('/locked/')
            ? { status: 403, body: { message: 'the key has the read role' } }
            : {
                status: 200,
                body: worker({ status: 'available', current_operation_id: null, draining: false }),
              },
      );
      const r = await run(['fleet', 'undrain', 'bt-1', '--backend', 'http://b:8000/api/v1'], http);
      expect(r.code).toBe(0);
      expect(http.calls).toEqual([
        { url: 'http://b:8000/api/v1/workers/bt-1/drain', method: 'DELETE' },
      ]);
      expect(r.out).toBe(
        'Undrained bt-1 (takes operations again): status available, registered 2026-01-01T00:00:00.000Z, release aaa\n',
      );

      const missing = await run(['fleet', 'undrain', 'gone', '--backend', 'http://b/api/v1'], http);
      expect(missing.code).toBe(1);
      expect(missing.err).toContain(
        'DELETE http://b/api/v1/workers/gone/drain answered 404: Worker gone is not registered: nothing to undrain',
      );
      const ok = await run(
        ['fleet', 'undrain', 'gone', '--backend', 'http://b/api/v1', '--missing-ok'],
        http,
      );
      expect(ok.code).toBe(0);
      expect(ok.err).toContain('Worker gone is not registered: nothing to undrain');
      const refused = await run(
        ['fleet', 'undrain', 'locked', '--backend', 'http://b/api/v1', '--missing-ok'],
        http,
      );
      expect(refused.code).toBe(1);
      expect(refused.err).toContain(
        'DELETE http://b/api/v1/workers/locked/drain answered 403: the key has the read role',
      );
    });

    it('wait --for idle polls until the worker runs nothing', async () => {
      const http = fakeBackend((_c, n) => ({
        status: 200,
        body: n < 3 ? worker() : worker({ status: 'available', current_operation_id: null }),
      }));
      const r = await run(
        ['fleet', 'wait', 'bt-1', '--for', 'idle', '--backend', 'http://b/api/v1'],
        http,
      );
      expect(r.code).toBe(0);
      expect(http.calls).toHaveLength(3);
      expect(r.out).toContain('Worker bt-1 is idle');
    });

    it('wait --for ready accepts a new registration that is already busy, never an unavailable one', async () => {
      const http = fakeBackend((_c, n) => ({
        status: 200,
        body:
          n < 2
            ? worker({
                status: 'temporarily_unavailable',
                draining: false,
                registered_at: '2026-01-01T00:01:00.000Z',
              })
            : worker({
                status: 'busy',
                current_operation_id: 'op-9',
                draining: false,
                registered_at: '2026-01-01T00:01:00.000Z',
              }),
      }));
      const r = await run(
        [
          'fleet',
          'wait',
          'bt-1',
          '--for',
          'ready',
          '--backend',
          'http://b/api/v1',
          '--registered-after',
          '2026-01-01T00:00:00.000Z',
        ],
        http,
      );
      expect(r.code).toBe(0);
      expect(http.calls).toHaveLength(2);
      expect(r.out).toContain('running op-9');
    });

    it('wait --for ready needs a newer registration, available, not draining, the release', async () => {
      const states = [
        worker({ status: 'available', current_operation_id: null }), // still the old registration
        { status: 404 },
        worker({
          status: 'available',
          current_operation_id: null,
          draining: false,
          registered_at: '2026-01-01T00:01:00.000Z',
          metadata: { release: 'aaa' },
        }),
        worker({
          status: 'available',
          current_operation_id: null,
          draining: false,
          registered_at: '2026-01-01T00:01:00.000Z',
          metadata: { release: 'bbb' },
        }),
      ];
      const http = fakeBackend((_c, n) => {
        const s = states[Math.min(n - 1, states.length - 1)] as { status?: number };
        return 'worker_id' in s ? { status: 200, body: s } : { status: s.status ?? 500 };
      });
      const r = await run(
        [
          'fleet',
          'wait',
          'bt-1',
          '--for',
          'ready',
          '--backend',
          'http://b/api/v1',
          '--registered-after',
          '2026-01-01T00:00:00.000Z',
          '--release',
          'bbb',
        ],
        http,
      );
      expect(r.code).toBe(0);
      expect(http.calls).toHaveLength(4);
      expect(r.out).toContain('release bbb');
    });

    it('wait times out with the last state seen', async () => {
      const http = fakeBackend(() => ({ status: 200, body: worker() }));
      const r = await run(
        [
          'fleet',
          'wait',
          'bt-1',
          '--for',
          'idle',
          '--backend',
          'http://b/api/v1',
          '--timeout',
          '5',
        ],
        http,
      );
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        'worker bt-1 was not idle within 5s (last seen: status busy, running op-1, draining',
      );
      const bad = await run(['fleet', 'wait', 'bt-1', '--for', 'soon']);
      expect(bad.code).toBe(1);
      expect(bad.err).toContain("argument 'soon' is invalid");
    });
  });
});
