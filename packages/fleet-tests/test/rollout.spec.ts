/**
 * deploy-to-workers.sh for real (not --dry-run) against a loopback fake backend and the fake ssh
 * (which connects nowhere: exit 255, like an unreachable host). Covered: failures before the update
 * (drain refused, drain timeout, host unreachable): the host is undrained, nothing else changes; the
 * rollout stops at the first failure and its last message says what happened to each host.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DEPLOY,
  FakeBackend,
  fakeCalls,
  fleetFile,
  runScriptAsync,
  scriptEnv,
  tempDir,
} from './helpers';

const SCRIPT = path.join(DEPLOY, 'deploy-to-workers.sh');

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
