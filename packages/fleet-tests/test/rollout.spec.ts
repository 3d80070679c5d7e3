/**
 * deploy-to-workers.sh for real (not --dry-run) against a loopback fake backend and the fake ssh:
 *
 * - without FAKE_SSH_EXEC the fake ssh connects nowhere (exit 255, like an unreachable host);
 * - with FAKE_SSH_EXEC=1 it runs the host commands on this machine, so each "host" is a directory with
 *   the deploy tooling (`<host>/opt/ktrdr/bin/update-code.sh`) deploying releases of a local git
 *   repository, and `fixtures/host-restart` stands in for the unit restart: the worker registers again
 *   with the fake backend, reporting the release `current` points at.
 *
 * Covered: a rolling update over every host; a failure after the update started (the host is rolled
 * back to its previous release); failures before the update (drain refused, drain timeout, host
 * unreachable: the host is undrained, nothing else changes); the rollout stops at the first failure and
 * its last message says what happened to each host.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DEPLOY,
  FakeBackend,
  fakeCalls,
  fixtureRepo,
  fleetFile,
  runScript,
  runScriptAsync,
  scriptEnv,
  tempDir,
} from './support/helpers';

const SCRIPT = path.join(DEPLOY, 'deploy-to-workers.sh');
const RESTART = path.join(__dirname, 'fixtures', 'host-restart');

let root: string;
let log: string;
let backend: FakeBackend;

beforeAll(async () => {
  backend = await new FakeBackend().start();
});
afterAll(async () => {
  await backend.stop();
});
beforeEach(() => {
  root = tempDir();
  log = path.join(root, 'calls.log');
  backend.workers.clear();
  backend.refuse.clear();
  backend.requests.length = 0;
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const env = (extra: Record<string, string> = {}) =>
  scriptEnv({ FAKE_LOG: log, FAKE_STATE: path.join(root, 'state'), ...extra });
/** The backend calls (method and path) about one worker, in order. */
const callsFor = (id: string) =>
  backend.requests
    .filter((r) => r.path.startsWith(`/api/v1/workers/${id}`))
    .map((r) => `${r.method} ${r.path.replace(`/api/v1/workers/${id}`, '') || '/'}`);
const lastLine = (text: string) => text.trim().split('\n').pop();

describe('deploy-to-workers.sh: a host that fails before its update is undrained', () => {
  const sha = 'd'.repeat(40);
  const hostsFile = (text: string) => {
    const file = path.join(root, 'hosts');
    fs.writeFileSync(file, text);
    return file;
  };
  const deploy = (args: string[], extra: Record<string, string> = {}) =>
    runScriptAsync(
      SCRIPT,
      ['--source', 'https://git.example/k.git', '--ref', sha, ...args],
      env(extra),
    );

  it('an unreachable host (ssh fails): drained, then undrained; the other hosts are not touched', async () => {
    const fleet = fleetFile(root, backend.url);
    backend.add('backtesting-301', 'backtesting');
    backend.add('backtesting-302', 'backtesting');
    backend.add('training-401', 'training');
    const r = await deploy(['--file', fleet]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('10.77.0.101: cannot reach the host');
    expect(r.stderr).toContain(
      '── 10.77.0.101: undrained: it keeps its release and takes operations again',
    );
    expect(lastLine(r.stderr)).toBe(
      `[deploy-to-workers] error: rollout of ${sha} stopped: 10.77.0.101 failed before the update (unchanged, undrained); 0 host(s) updated, 2 not touched`,
    );
    expect(r.stderr).not.toContain('rolled back');
    expect(callsFor('backtesting-301')).toEqual(['POST /drain', 'GET /', 'DELETE /drain']);
    expect(backend.workers.get('backtesting-301')?.draining).toBe(false);
    expect([...callsFor('backtesting-302'), ...callsFor('training-401')]).toEqual([]);
    // One ssh call (the --print-current that failed), to that host only.
    const ssh = fakeCalls(log).filter((l) => l.startsWith('ssh '));
    expect(ssh).toHaveLength(1);
    expect(ssh[0]).toContain('root@10.77.0.101');
    expect(ssh[0]).toContain('--print-current');
  });

  it('a refused drain undrains every worker of the host, also the one already drained', async () => {
    backend.add('bt-1', 'backtesting');
    backend.add('tr-1', 'training');
    backend.add('tr-2', 'training');
    backend.refuse.set('POST tr-1', 403);
    const hosts = hostsFile('h1 backtesting bt-1\nh1 training tr-1\nh2 training tr-2\n');
    const r = await deploy(['--hosts', hosts, '--backend', backend.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('answered 403: refused by the test (POST)');
    expect(r.stderr).toContain('h1: could not drain tr-1');
    expect(callsFor('bt-1')).toEqual(['POST /drain', 'DELETE /drain']);
    expect(callsFor('tr-1')).toEqual(['POST /drain', 'DELETE /drain']);
    expect(backend.workers.get('bt-1')?.draining).toBe(false);
    expect(callsFor('tr-2')).toEqual([]);
    expect(fakeCalls(log).filter((l) => l.startsWith('ssh '))).toEqual([]);
    expect(lastLine(r.stderr)).toContain(
      'stopped: h1 failed before the update (unchanged, undrained); 0 host(s) updated, 1 not touched',
    );
  });

  it('an undrain that fails too is reported: the host stays drained and the message says so', async () => {
    backend.add('bt-1', 'backtesting');
    backend.refuse.set('POST bt-1', 500);
    backend.refuse.set('DELETE bt-1', 500);
    const r = await deploy([
      '--hosts',
      hostsFile('h1 backtesting bt-1\n'),
      '--backend',
      backend.url,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      '── h1: UNDRAIN FAILED: its workers stay drained (kinfra fleet undrain <worker_id>)',
    );
    expect(lastLine(r.stderr)).toContain(
      'stopped: h1 failed before the update (unchanged) and COULD NOT BE UNDRAINED; 0 host(s) updated, 0 not touched',
    );
  });

  it('a drain timeout (a long operation) undrains: the worker keeps its operation', async () => {
    backend.add('bt-1', 'backtesting', { status: 'busy', current_operation_id: 'op_long' });
    const r = await deploy([
      '--hosts',
      hostsFile('h1 backtesting bt-1\n'),
      '--backend',
      backend.url,
      '--drain-timeout',
      '1',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('worker bt-1 was not idle within 1s');
    expect(callsFor('bt-1').at(-1)).toBe('DELETE /drain');
    expect(backend.workers.get('bt-1')).toMatchObject({
      status: 'busy',
      current_operation_id: 'op_long',
      draining: false,
    });
    expect(fakeCalls(log).filter((l) => l.startsWith('ssh '))).toEqual([]);
  });
});

describe('deploy-to-workers.sh over ssh for real (the fake ssh runs the host commands here)', () => {
  const HOSTS: [string, string, string][] = [
    ['h1', 'backtesting', 'bt-1'],
    ['h2', 'backtesting', 'bt-2'],
    ['h2', 'training', 'tr-2'],
    ['h3', 'training', 'tr-3'],
  ];
  let repo: ReturnType<typeof fixtureRepo>;
  let v1: string;
  let hosts: string;
  /** The source repository and the hosts as provisioned, made once and copied for each test. */
  let template: string;
  const app = (host: string, base = root) => path.join(base, 'hosts', host, 'opt', 'ktrdr');
  const link = (host: string, name: string) =>
    path.basename(fs.readlinkSync(path.join(app(host), name)));
  const restarts = () => fakeCalls(path.join(root, 'hosts', 'restarts.log'));

  beforeAll(() => {
    template = tempDir();
    v1 = fixtureRepo(template).commit('v1');
    // Each host as provisioned: the tooling in bin/ and v1 deployed by it.
    for (const host of new Set(HOSTS.map(([h]) => h))) {
      const dir = app(host, template);
      fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
      fs.copyFileSync(path.join(DEPLOY, 'update-code.sh'), path.join(dir, 'bin', 'update-code.sh'));
      const r = runScript(
        path.join(dir, 'bin', 'update-code.sh'),
        ['--app-dir', dir, '--source', path.join(template, 'source'), '--ref', v1, '--offline'],
        scriptEnv({ FAKE_LOG: path.join(template, 'calls.log') }),
      );
      expect([host, r.code, r.stderr.includes('error')]).toEqual([host, 0, false]);
    }
  });
  afterAll(() => fs.rmSync(template, { recursive: true, force: true }));

  beforeEach(() => {
    fs.cpSync(path.join(template, 'source'), path.join(root, 'source'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    fs.cpSync(path.join(template, 'hosts'), path.join(root, 'hosts'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    repo = fixtureRepo(root); // the copy: commits go there
    hosts = path.join(root, 'hosts.txt');
    fs.writeFileSync(hosts, HOSTS.map((h) => h.join(' ')).join('\n') + '\n');
    // Its workers registered on v1 a minute ago.
    for (const [host, type, id] of HOSTS) {
      backend.add(id, type, {
        registered_at: new Date(Date.now() - 60_000).toISOString(),
        metadata: { release: v1 },
      });
      backend.place(host, type, id);
    }
  });

  const deploy = (args: string[], extra: Record<string, string> = {}) =>
    runScriptAsync(
      SCRIPT,
      [
        '--hosts',
        hosts,
        '--backend',
        backend.url,
        '--source',
        repo.path,
        '--ref',
        'main',
        '--app-dir',
        path.join(root, 'hosts', '{host}', 'opt', 'ktrdr'),
        '--restart-cmd',
        `bash ${RESTART} {host} {type}`,
        '--update-opts',
        '--offline',
        '--ssh-user',
        'deploy',
        ...args,
      ],
      env({
        FAKE_SSH_EXEC: '1',
        FAKE_HOSTS_ROOT: path.join(root, 'hosts'),
        FAKE_BACKEND: backend.url.replace(/\/api\/v1$/, ''),
        ...extra,
      }),
    );

  it('rolls the new release over every host, two at a time: drain, update, restart, re-registration', async () => {
    const v2 = repo.commit('v2');
    const r = await deploy(['--batch', '2']);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(lastLine(r.stdout)).toBe(v2);
    expect(r.stderr).toContain(`all 3 host(s) run ${v2}`);
    for (const host of ['h1', 'h2', 'h3'])
      expect([host, link(host, 'current'), link(host, 'previous')]).toEqual([host, v2, v1]);
    for (const [host, type, id] of HOSTS) {
      expect(backend.workers.get(id)).toMatchObject({
        status: 'available',
        draining: false,
        metadata: { release: v2 },
      });
      // Drained and idle before its host was updated and restarted; ready on the new release after.
      const paths = backend.requests.map((q) => `${q.method} ${q.path}`);
      const drained = paths.indexOf(`POST /api/v1/workers/${id}/drain`);
      const restarted = paths.findIndex((p) =>
        p.startsWith(`POST /fake/restart?host=${host}&type=${type}&`),
      );
      expect([id, drained >= 0, drained < restarted]).toEqual([id, true, true]);
      expect(paths.lastIndexOf(`GET /api/v1/workers/${id}`)).toBeGreaterThan(restarted);
    }
    expect(restarts().sort()).toEqual(HOSTS.map(([h, t]) => `${h} ${t} ${v2}`).sort());
    // Over ssh, as the given user, to each host: print-current, update, one restart per worker type.
    const ssh = fakeCalls(log).filter((l) => l.startsWith('ssh '));
    expect(ssh.filter((l) => l.includes('deploy@h2'))).toHaveLength(4);
    expect(ssh).toHaveLength(3 + 3 + 4);
  });

  it('a release whose workers crash on one host stops the rollout there and rolls that host back', async () => {
    const v2 = repo.commit('v2');
    const r = await deploy(['--ready-timeout', '2'], { FAKE_CRASH: `h2:${v2}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`── h2: update to ${v2} failed`);
    expect(r.stderr).toContain(`── h2: rolled back to ${v1}`);
    expect(lastLine(r.stderr)).toBe(
      `[deploy-to-workers] error: rollout of ${v2} stopped: h2 failed (rolled back to the previous release); 1 host(s) updated (h1), 1 not touched`,
    );
    expect(r.stderr).not.toContain('undrained');
    // h1 runs v2; h2 runs v1 again (its workers re-registered on it); h3 was not touched.
    expect(link('h1', 'current')).toBe(v2);
    expect([link('h2', 'current'), link('h2', 'previous')]).toEqual([v1, v2]);
    expect(fs.readFileSync(path.join(app('h2'), 'release.pin'), 'utf8')).toContain(
      `commit=${v1}\n`,
    );
    expect(link('h3', 'current')).toBe(v1);
    expect(backend.workers.get('bt-1')?.metadata.release).toBe(v2);
    for (const id of ['bt-2', 'tr-2'])
      expect(backend.workers.get(id)).toMatchObject({ draining: false, metadata: { release: v1 } });
    expect(callsFor('tr-3')).toEqual([]);
    expect(backend.workers.get('tr-3')?.metadata.release).toBe(v1);
    expect(restarts()).toEqual([
      `h1 backtesting ${v2}`,
      `h2 backtesting ${v2}`,
      `h2 training ${v2}`,
      `h2 backtesting ${v1}`,
      `h2 training ${v1}`,
    ]);
    // The rollback drained the host's workers again before restarting them.
    expect(callsFor('bt-2').filter((c) => c === 'POST /drain')).toHaveLength(2);
  });

  it('a host whose drain times out is undrained and keeps its release; the hosts before it are updated', async () => {
    const v2 = repo.commit('v2');
    backend.workers.get('tr-2')!.status = 'busy';
    backend.workers.get('tr-2')!.current_operation_id = 'op_training';
    const r = await deploy(['--drain-timeout', '1']);
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toBe(
      `[deploy-to-workers] error: rollout of ${v2} stopped: h2 failed before the update (unchanged, undrained); 1 host(s) updated (h1), 1 not touched`,
    );
    expect(r.stderr).not.toContain('rolled back');
    expect(link('h1', 'current')).toBe(v2);
    expect(link('h2', 'current')).toBe(v1);
    expect(fs.existsSync(path.join(app('h2'), 'previous'))).toBe(false);
    for (const id of ['bt-2', 'tr-2']) {
      expect(callsFor(id).at(-1)).toBe('DELETE /drain');
      expect(backend.workers.get(id)?.draining).toBe(false);
    }
    expect(backend.workers.get('tr-2')).toMatchObject({
      status: 'busy',
      current_operation_id: 'op_training',
    });
    expect(fakeCalls(log).filter((l) => l.includes('@h2'))).toEqual([]);
    expect(restarts()).toEqual([`h1 backtesting ${v2}`]);
  });
});
