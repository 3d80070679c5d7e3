/**
 * The multi-host proof, on this machine, with real separate network hosts: network namespaces joined by
 * veth pairs to a bridge (in its own namespace), a private /24 (10.213.77.0/24) that only these
 * namespaces use. The BUILT backend runs on one host, a backtest and a training worker on each of three
 * others, every worker advertising its own host address; the test process talks to the backend through
 * a Unix-socket proxy that runs on a control host (the root namespace's network is never touched).
 *
 * Each worker host is set up the way a cloned template is: the deploy tooling in <app>/bin, environment
 * files, a code release deployed by update-code.sh (from a local git repository, offline install) and
 * units started through a systemctl stand-in that does what ktrdr-worker@.service does.
 *
 *  1. the six workers register with their own addresses and answer the backend's health checks;
 *  2. backtests and trainings run on every host;
 *  3. a host is cut off (its link goes down) in the middle of a training: the operation continues on
 *     another host from its checkpoint, the cut-off worker's late report is refused by the lease (409),
 *     and once the link is back its workers register again;
 *  4. deploy-to-workers.sh (transport `ip netns exec`) rolls a new release over the three hosts while
 *     operations keep arriving: every worker runs the new release, no operation is lost or interrupted;
 *  5. a release whose workers crash at start stops the rollout at the first host, which is rolled back.
 *
 * Needs root and iproute2 (`ip`); skipped with a loud message otherwise. Every namespace it makes is
 * removed at the end, whatever happens, and leftovers of earlier runs (dead owner pid) at the start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { childProcessEnv, getTestSettings } from '@ktrdr/config';
import { waitFor as waitUntil } from '@ktrdr/test-support';
import { DEPLOY, fixtureRepo, has, tempDir } from './support/helpers';

const PREFIX = 'ktmh';
const NET = '10.213.77';
const API_PORT = 8000;
/** Production refuses a registration token under 32 characters and a backend without API keys. */
const TOKEN = `multihost-${randomBytes(24).toString('hex')}`;
const API_KEY = randomBytes(32).toString('base64url');
const API_KEY_SHA256 = createHash('sha256').update(API_KEY).digest('hex');
const HOSTS = ['h1', 'h2', 'h3'] as const;
type Host = (typeof HOSTS)[number];
const ADDR: Record<string, string> = {
  be: `${NET}.1`,
  ctl: `${NET}.2`,
  h1: `${NET}.11`,
  h2: `${NET}.12`,
  h3: `${NET}.13`,
};
const BACKEND = `http://${ADDR.be}:${API_PORT}/api/v1`;
const HOST_BIN = path.join(__dirname, 'fixtures', 'host-bin');
const distMain = (pkg: string) =>
  path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'dist', 'main.js');
const BACKEND_MAIN = distMain('@ktrdr/backend');
const WORKER_MAIN = {
  backtesting: distMain('@ktrdr/backtest-worker'),
  training: distMain('@ktrdr/training-worker'),
};

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasIp = has('ip', ['-V']);
const enabled = isRoot && hasIp;
const why = !isRoot ? 'it is not running as root' : 'iproute2 (`ip`) is not installed';
// Where every suite must run (.ci/run sets KTRDR_TEST_REQUIRE_ALL), a skip would hide a missing proof.
if (!enabled && getTestSettings().require_all) {
  describe('multi-host suite', () => {
    it('can run on this machine (KTRDR_TEST_REQUIRE_ALL is set)', () => {
      throw new Error(`the multi-host suite cannot run: ${why}`);
    });
  });
}
if (!enabled) {
  console.warn(
    `\n${'!'.repeat(100)}\n!! MULTI-HOST SUITE SKIPPED: ${why}. It needs root and \`ip netns\` (CI runs it as root; .ci/run installs iproute2).\n${'!'.repeat(100)}\n`,
  );
}

// ── namespaces ──────────────────────────────────────────────────────────────────────────────────────
const ns = (role: string) => `${PREFIX}${process.pid}-${role}`;
const SW = ns('sw');
const CTL = ns('ctl');
const BE = ns('be');
const hostNs = (h: Host) => ns(h);

function sh(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (!allowFail && (r.error || r.status !== 0))
    throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? ''}${r.stderr}`);
  return r.stdout ?? '';
}
const ip = (...args: string[]) => sh('ip', args);

function ourNamespaces(filter: (pid: number) => boolean): string[] {
  return sh('ip', ['netns', 'list'], true)
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((name) => {
      const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
      return m !== null && filter(Number(m[1]));
    });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops every process inside the namespaces (all started by this suite), then deletes them. */
function removeNamespaces(names: string[]): void {
  const pidsOf = (name: string) =>
    sh('ip', ['netns', 'pids', name], true)
      .split('\n')
      .map(Number)
      .filter((p) => p > 0 && p !== process.pid);
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    let any = false;
    for (const name of names)
      for (const pid of pidsOf(name)) {
        any = true;
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
    if (any && signal === 'SIGTERM') sh('sleep', ['2'], true);
  }
  for (const name of names) sh('ip', ['netns', 'del', name], true);
}

function createTopology(): void {
  for (const name of [SW, CTL, BE, ...HOSTS.map(hostNs)]) {
    ip('netns', 'add', name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
  }
  ip('-n', SW, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', SW, 'link', 'set', 'br0', 'up');
  const attach = (role: string, name: string) => {
    ip('-n', SW, 'link', 'add', `v-${role}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
    ip('-n', SW, 'link', 'set', `v-${role}`, 'master', 'br0', 'up');
    ip('-n', name, 'addr', 'add', `${ADDR[role]}/24`, 'dev', 'eth0');
    ip('-n', name, 'link', 'set', 'eth0', 'up');
  };
  attach('ctl', CTL);
  attach('be', BE);
  for (const h of HOSTS) attach(h, hostNs(h));
}

const setLink = (h: Host, state: 'up' | 'down') => ip('-n', SW, 'link', 'set', `v-${h}`, state);

// ── processes, logs, HTTP through the proxy ─────────────────────────────────────────────────────────
let root = '';
const children: ChildProcess[] = [];
let socketPath = '';

function startIn(
  name: string,
  cmd: string[],
  env: Record<string, string>,
  log: string,
): ChildProcess {
  const out = fs.openSync(log, 'a');
  const child = spawn('ip', ['netns', 'exec', name, ...cmd], { env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  children.push(child);
  return child;
}

function logTail(file: string, n = 3000): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').slice(-n) : '(no log)';
}

function allLogs(): string {
  const files = [
    path.join(root, 'backend.log'),
    ...HOSTS.flatMap((h) =>
      ['backtesting', 'training'].map((t) =>
        path.join(root, 'hosts', hostNs(h), 'log', `worker-${t}.log`),
      ),
    ),
  ];
  return files.map((f) => `----- ${path.relative(root, f)} -----\n${logTail(f, 1500)}`).join('\n');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted field by field
type Json = any;

function api(method: string, p: string, body?: unknown): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path: `/api/v1${p}`,
        headers: {
          host: ADDR.be,
          authorization: `Bearer ${API_KEY}`,
          ...(data
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
            : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timeout`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** The shared wait, with every process's log in its timeout error. */
function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  return waitUntil(what, fn, timeoutMs, allLogs, 250);
}

interface Worker {
  worker_id: string;
  worker_type: string;
  endpoint_url: string;
  status: string;
  current_operation_id: string | null;
  registered_at: string;
  draining: boolean;
  last_health_check: string | null;
  health_check_failures: number;
  metadata: { release?: string; pid?: number };
}

interface Operation {
  operation_id: string;
  status: string;
  attempt: number;
  worker_id: string | null;
  metrics: Json;
  error_message: string | null;
  checkpoint: { type: string; unit: number } | null;
  progress: { items_processed?: number };
}

const workerId = (h: Host, type: 'backtesting' | 'training') =>
  `mh-${type === 'backtesting' ? 'bt' : 'tr'}-${h}`;
const hostOf = (id: string | null): Host | undefined => HOSTS.find((h) => id?.endsWith(`-${h}`));
const TERMINAL = ['completed', 'failed', 'cancelled'];

async function workers(): Promise<Worker[]> {
  const r = await api('GET', '/workers');
  if (r.status !== 200) throw new Error(`GET /workers: ${r.status}`);
  return r.body.workers as Worker[];
}

async function operation(id: string): Promise<Operation> {
  const r = await api('GET', `/operations/${id}`);
  if (r.status !== 200)
    throw new Error(`GET /operations/${id}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data as Operation;
}

async function submit(kind: 'backtests' | 'trainings', body: object): Promise<string> {
  const r = await api('POST', `/${kind}/start`, body);
  if (r.status !== 202 && r.status !== 200)
    throw new Error(`POST /${kind}/start: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.operation_id as string;
}

const finished = (ids: string[], timeoutMs: number) =>
  waitFor(
    `${ids.length} operation(s) to finish`,
    async () => {
      const ops = await Promise.all(ids.map(operation));
      return ops.every((o) => TERMINAL.includes(o.status)) ? ops : undefined;
    },
    timeoutMs,
  );

/** Every worker registered, available, on the given release (and registered after `after`). */
const fleetReady = (release: string, timeoutMs: number, after = 0) =>
  waitFor(
    `6 workers available on release ${release.slice(0, 8)}`,
    async () => {
      const ws = await workers();
      const ok = ws.filter(
        (w) =>
          w.status === 'available' &&
          !w.draining &&
          w.metadata.release === release &&
          Date.parse(w.registered_at) >= after,
      );
      return ok.length === 6 ? ws : undefined;
    },
    timeoutMs,
  );

function allWorkerLogs(): string[] {
  return HOSTS.flatMap((h) =>
    (['backtesting', 'training'] as const).map((t) => workerLog(h, t)),
  ).filter((f) => fs.existsSync(f));
}

/** Operations that reached `completed`, from the Prometheus exposition (served under /api/v1 too). */
async function completedTotal(): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      // Public like GET /metrics (KTRDR_API_PUBLIC_METRICS): no key needed.
      { socketPath, path: '/api/v1/metrics/prometheus', headers: { host: ADDR.be } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
  return text
    .split('\n')
    .filter((l) => /^ktrdr_operations_total\{.*status="completed".*\} /.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

// ── operation parameters (deterministic SYNTH data) ─────────────────────────────────────────────────
/** ~130k one-minute bars: about a second on a loaded 2-core machine. */
const BACKTEST = {
  symbol: 'SYNTH-MH',
  timeframe: '1m',
  start_date: '2024-01-01',
  end_date: '2024-04-01',
  strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
};
const TRAINING = {
  symbol: 'SYNTH-MH',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-03-01',
  features: ['returns_1', 'sma_ratio_10', 'rsi_14'],
  model: { hidden_layers: [8] },
  epochs: 5,
  seed: 7,
};
/** ~13k bars, two hidden layers, no early stop: roughly 0.1–0.3 s per epoch here. */
const LONG_TRAINING = {
  ...TRAINING,
  timeframe: '5m',
  end_date: '2024-02-15',
  model: { hidden_layers: [16, 8] },
  batch_size: 32,
  early_stopping: { patience: 1000 },
  epochs: 250,
};

// ── the code releases: a local git repository, built offline by update-code.sh ──────────────────────
let source: ReturnType<typeof fixtureRepo>;
const releases: Record<'v1' | 'v2' | 'v3', string> = { v1: '', v2: '', v3: '' };

function makeReleases(): void {
  source = fixtureRepo(root);
  const targets = JSON.stringify(
    { 'backtest-worker': WORKER_MAIN.backtesting, 'training-worker': WORKER_MAIN.training },
    null,
    2,
  );
  // build:workers writes each app's dist/main.js: the built worker of this checkout, tagged with the release.
  const build = (body: string) => `const fs = require('fs');
const targets = JSON.parse(fs.readFileSync('targets.json', 'utf8'));
const label = fs.readFileSync('LABEL', 'utf8').trim();
for (const [app, main] of Object.entries(targets)) {
  fs.mkdirSync('apps/' + app + '/dist', { recursive: true });
  fs.writeFileSync('apps/' + app + '/dist/main.js', '// fixture release ' + label + '\\n' + ${body});
}
`;
  const runs = build('`require(${JSON.stringify(main)});\\n`');
  releases.v1 = source.commit('v1', runs, { 'targets.json': targets });
  releases.v2 = source.commit('v2', runs, { 'targets.json': targets });
  // v3 builds, but its workers exit at start: the rollout must stop and roll back.
  releases.v3 = source.commit(
    'v3',
    build(`"process.stderr.write('release v3: crashing at start\\\\n'); process.exit(1);\\n"`),
    { 'targets.json': targets },
  );
}

// ── hosts: what the template and provisioning leave on a worker container ───────────────────────────
const hostDir = (h: Host) => path.join(root, 'hosts', hostNs(h));
const appDir = (h: Host) => path.join(hostDir(h), 'opt', 'ktrdr');
const workerLog = (h: Host, type: 'backtesting' | 'training') =>
  path.join(hostDir(h), 'log', `worker-${type}.log`);

let baseEnv: Record<string, string> = {};

function writeHostFiles(h: Host): void {
  const dir = hostDir(h);
  for (const d of ['opt/ktrdr/bin', 'etc/ktrdr', 'run', 'log', 'data'])
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync(
    path.join(DEPLOY, 'update-code.sh'),
    path.join(appDir(h), 'bin', 'update-code.sh'),
  );
  fs.copyFileSync(
    path.join(DEPLOY, 'ktrdr-worker-start.sh'),
    path.join(appDir(h), 'bin', 'ktrdr-worker-start'),
  );
  fs.chmodSync(path.join(appDir(h), 'bin', 'update-code.sh'), 0o755);
  fs.chmodSync(path.join(appDir(h), 'bin', 'ktrdr-worker-start'), 0o755);
  const common = [
    'KTRDR_ENV=production',
    `KTRDR_API_CLIENT_BASE_URL=${BACKEND}`,
    'KTRDR_API_CLIENT_TIMEOUT=2',
    `KTRDR_WORKER_REGISTRATION_TOKEN=${TOKEN}`,
    'KTRDR_WORKER_HEARTBEAT_INTERVAL=0.5',
    'KTRDR_WORKER_PROGRESS_INTERVAL_MS=100',
    'KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS=5',
    `KTRDR_DATA_DIR=${path.join(dir, 'data')}`,
    // Shared storage for checkpoints (an NFS or bind mount on real hosts): a continued operation resumes.
    `KTRDR_CHECKPOINT_DIR=${path.join(root, 'shared', 'checkpoints')}`,
    'KTRDR_CHECKPOINT_EPOCH_INTERVAL=1',
    'KTRDR_LOG_LEVEL=log',
  ];
  fs.writeFileSync(path.join(dir, 'etc/ktrdr/worker.env'), `${common.join('\n')}\n`);
  for (const [type, port] of [
    ['backtesting', 5003],
    ['training', 5005],
  ] as const)
    fs.writeFileSync(
      path.join(dir, `etc/ktrdr/worker-${type}.env`),
      `KTRDR_WORKER_ID=${workerId(h, type)}\nKTRDR_WORKER_PORT=${port}\nKTRDR_WORKER_PUBLIC_BASE_URL=http://${ADDR[h]}:${port}\n`,
    );
}

/** Runs a command in a host namespace with the suite's PATH (systemctl stand-in first) and MH_ROOT. */
function inHost(
  name: string,
  cmd: string[],
  timeoutMs = 120_000,
  env: Record<string, string> = baseEnv,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', name, ...cmd], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
  });
}

async function provisionHost(h: Host): Promise<void> {
  writeHostFiles(h);
  const deployed = await inHost(hostNs(h), [
    path.join(appDir(h), 'bin', 'update-code.sh'),
    '--app-dir',
    appDir(h),
    '--source',
    source.path,
    '--ref',
    releases.v1,
    '--offline',
  ]);
  if (deployed.code !== 0) throw new Error(`update-code.sh on ${h} failed:\n${deployed.out}`);
  for (const type of ['backtesting', 'training']) {
    const r = await inHost(hostNs(h), ['systemctl', 'start', `ktrdr-worker@${type}.service`]);
    if (r.code !== 0) throw new Error(`systemctl start on ${h} failed:\n${r.out}`);
  }
}

const hostsFile = () => {
  const file = path.join(root, 'hosts.txt');
  fs.writeFileSync(
    file,
    HOSTS.flatMap((h) => [
      `${hostNs(h)} backtesting ${workerId(h, 'backtesting')}`,
      `${hostNs(h)} training ${workerId(h, 'training')}`,
    ]).join('\n') + '\n',
  );
  return file;
};

/** deploy-to-workers.sh run from the control host, the host commands over `ip netns exec`. */
function deployToWorkers(
  ref: string,
  extra: string[] = [],
): Promise<{ code: number; out: string; ms: number }> {
  const t0 = Date.now();
  return inHost(
    CTL,
    [
      'bash',
      path.join(DEPLOY, 'deploy-to-workers.sh'),
      '--hosts',
      hostsFile(),
      '--backend',
      BACKEND,
      '--source',
      source.path,
      '--ref',
      ref,
      '--transport',
      'netns',
      '--app-dir',
      path.join(root, 'hosts', '{host}', 'opt', 'ktrdr'),
      '--update-opts',
      '--offline',
      '--drain-timeout',
      '120',
      ...extra,
    ],
    240_000,
    // The operator's key: drain is an operate call (kinfra sends KTRDR_API_KEY as a bearer token).
    { ...baseEnv, KTRDR_API_KEY: API_KEY },
  ).then((r) => ({ ...r, ms: Date.now() - t0 }));
}

// ── the suite ───────────────────────────────────────────────────────────────────────────────────────
(enabled ? describe : describe.skip)(
  'multi-host: backend and workers on separate network hosts',
  () => {
    jest.setTimeout(180_000);

    beforeAll(async () => {
      for (const m of [BACKEND_MAIN, WORKER_MAIN.backtesting, WORKER_MAIN.training])
        if (!fs.existsSync(m)) throw new Error(`${m} is missing: build first (turbo run build)`);
      // Leftovers of runs that died (their owner pid is gone), then ours from scratch.
      const stale = ourNamespaces((pid) => pid !== process.pid && !alive(pid));
      if (stale.length > 0) {
        console.warn(
          `[multihost] removing ${stale.length} leftover namespace(s): ${stale.join(', ')}`,
        );
        removeNamespaces(stale);
      }
      removeNamespaces(ourNamespaces((pid) => pid === process.pid));
      root = tempDir('ktrdr-multihost-');
      fs.mkdirSync(path.join(root, 'shared', 'checkpoints'), { recursive: true });
      const t0 = Date.now();
      createTopology();
      baseEnv = childProcessEnv({
        PATH: `${HOST_BIN}:${childProcessEnv({}).PATH ?? ''}`,
        MH_ROOT: root,
      });

      socketPath = path.join(root, 'api.sock');
      startIn(
        CTL,
        [
          process.execPath,
          path.join(__dirname, 'fixtures', 'uds-proxy.js'),
          socketPath,
          ADDR.be,
          String(API_PORT),
        ],
        baseEnv,
        path.join(root, 'proxy.log'),
      );
      startIn(
        BE,
        [process.execPath, BACKEND_MAIN],
        childProcessEnv({
          KTRDR_ENV: 'production',
          KTRDR_API_HOST: '0.0.0.0',
          KTRDR_API_PORT: String(API_PORT),
          KTRDR_DB_DIR: 'memory://',
          KTRDR_DATA_DIR: path.join(root, 'backend-data'),
          KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN,
          KTRDR_API_OPERATE_KEY_SHA256: API_KEY_SHA256,
          KTRDR_WORKER_HEALTH_CHECK_INTERVAL: '0.5',
          KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '1',
          KTRDR_WORKER_HEALTH_CHECK_FAILURES: '2',
          KTRDR_WORKER_REMOVAL_THRESHOLD: '8',
          KTRDR_WORKER_HEARTBEAT_INTERVAL: '0.5',
          KTRDR_WORKER_DISPATCH_TIMEOUT: '3',
          KTRDR_ORPHAN_TIMEOUT_SECONDS: '2',
          KTRDR_ORPHAN_CHECK_INTERVAL_SECONDS: '0.5',
          KTRDR_OPS_MAX_ATTEMPTS: '10',
          KTRDR_LOG_LEVEL: 'log',
        }),
        path.join(root, 'backend.log'),
      );
      makeReleases();
      await waitFor(
        'the backend (through the control host)',
        async () => ((await api('GET', '/health')).status === 200 ? true : undefined),
        60_000,
      );
      await Promise.all(HOSTS.map(provisionHost));
      await fleetReady(releases.v1, 90_000);
      console.log(
        `[multihost] 5 hosts up, 6 workers registered in ${Date.now() - t0} ms (root ${root})`,
      );
    }, 240_000);

    afterAll(() => {
      removeNamespaces(ourNamespaces((pid) => pid === process.pid));
      if (root) {
        // The logs outlive the run (small): backend, proxy, each host's pre-start and worker logs.
        const keep = path.join(os.tmpdir(), 'ktrdr-multihost-logs');
        fs.rmSync(keep, { recursive: true, force: true });
        for (const f of [
          'backend.log',
          'proxy.log',
          ...HOSTS.map((h) => path.join('hosts', hostNs(h), 'log')),
        ]) {
          const from = path.join(root, f);
          if (fs.existsSync(from))
            fs.cpSync(from, path.join(keep, f.replace(/ktmh\d+-/, '')), { recursive: true });
        }
        console.log(`[multihost] logs kept in ${keep}`);
      }
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      const left = ourNamespaces((pid) => pid === process.pid);
      if (left.length > 0) console.error(`[multihost] could not remove: ${left.join(', ')}`);
      if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    it('six workers on three hosts register with their own addresses and pass the health checks', async () => {
      const ws = await workers();
      expect(ws.map((w) => [w.worker_id, w.endpoint_url]).sort()).toEqual(
        HOSTS.flatMap((h) => [
          [workerId(h, 'backtesting'), `http://${ADDR[h]}:5003`],
          [workerId(h, 'training'), `http://${ADDR[h]}:5005`],
        ]).sort(),
      );
      // The backend reached every advertised address (health checks go from its host to the others).
      const checked = await waitFor(
        'a health check of every worker',
        async () => {
          const list = await workers();
          return list.every((w) => w.last_health_check !== null && w.health_check_failures === 0)
            ? list
            : undefined;
        },
        30_000,
      );
      expect(new Set(checked.map((w) => w.metadata.pid)).size).toBe(6);
      // The root namespace has no interface on the hosts' network: it really is separate.
      expect(sh('ip', ['route', 'show', `${NET}.0/24`]).trim()).toBe('');
    });

    it('backtests and trainings run on every host', async () => {
      const bt = await Promise.all(Array.from({ length: 6 }, () => submit('backtests', BACKTEST)));
      const tr = await Promise.all(
        Array.from({ length: 3 }, (_v, i) => submit('trainings', { ...TRAINING, seed: i + 1 })),
      );
      const ops = await finished([...bt, ...tr], 120_000);
      expect(
        ops
          .filter((o) => o.status !== 'completed')
          .map((o) => `${o.operation_id} ${o.status} ${o.error_message}`),
      ).toEqual([]);
      const hostsUsed = (ids: string[]) =>
        new Set(ops.filter((o) => ids.includes(o.operation_id)).map((o) => hostOf(o.worker_id)));
      expect(hostsUsed(bt)).toEqual(new Set(HOSTS));
      expect(hostsUsed(tr)).toEqual(new Set(HOSTS));
      // Operations carry headline metrics; the full result is served by /results.
      expect(ops.find((o) => o.operation_id === bt[0])!.metrics).toMatchObject({
        num_trades: expect.any(Number),
        total_return: expect.any(Number),
      });
    });

    it('a host cut off mid-operation: the operation continues on another host, the late report is refused, the host comes back', async () => {
      const id = await submit('trainings', { ...LONG_TRAINING, model_name: 'mh-cut-off' });
      const before = await waitFor(
        'the training to checkpoint',
        async () => {
          const o = await operation(id);
          return o.status === 'running' && o.checkpoint !== null && o.worker_id ? o : undefined;
        },
        60_000,
      );
      const victim = hostOf(before.worker_id)!;
      expect(before.attempt).toBe(1);

      setLink(victim, 'down');
      const cutAt = Date.now();
      const moved = await waitFor(
        'the operation to continue on another host',
        async () => {
          const o = await operation(id);
          // Running there, or already finished there: the resumed epochs can take less than
          // one poll on an idle machine.
          return o.attempt >= 2 &&
            (o.status === 'running' || o.status === 'completed') &&
            hostOf(o.worker_id) !== victim
            ? o
            : undefined;
        },
        60_000,
      );
      // The backend gave up on the silent host's workers (removal threshold), so they must register again.
      await waitFor(
        'the cut-off workers to be removed',
        async () => {
          const codes = await Promise.all(
            ['backtesting', 'training'].map(
              async (t) =>
                (await api('GET', `/workers/${workerId(victim, t as 'backtesting')}`)).status,
            ),
          );
          return codes.every((c) => c === 404) ? true : undefined;
        },
        30_000,
      );
      const trainingLog = workerLog(victim, 'training');
      expect(fs.readFileSync(trainingLog, 'utf8')).not.toMatch(
        new RegExp(`${id}.*rejected with 409`),
      );

      setLink(victim, 'up');
      const healedAt = Date.now();
      console.log(
        `[multihost] ${victim} cut off for ${healedAt - cutAt} ms; ${id} moved to ${moved.worker_id} (attempt ${moved.attempt})`,
      );
      // The stale attempt still running on the cut-off host reports with its old lease: refused (409).
      await waitFor(
        'the late report of the cut-off worker to be refused',
        async () => {
          const worker = fs.readFileSync(trainingLog, 'utf8');
          const backend = fs.readFileSync(path.join(root, 'backend.log'), 'utf8');
          return new RegExp(`(progress|completion) of ${id} rejected with 409`).test(worker) ||
            new RegExp(
              `Ignored completion of ${id} re-sent by ${workerId(victim, 'training')}`,
            ).test(backend)
            ? true
            : undefined;
        },
        60_000,
      );
      // After the link heals its workers register again, with their own addresses.
      for (const type of ['backtesting', 'training'] as const) {
        const w = await waitFor(
          `${workerId(victim, type)} to register again`,
          async () => {
            const r = await api('GET', `/workers/${workerId(victim, type)}`);
            return r.status === 200 &&
              r.body.status === 'available' &&
              Date.parse(r.body.registered_at) >= healedAt - 1000
              ? (r.body as Worker)
              : undefined;
          },
          60_000,
        );
        expect(w.endpoint_url).toBe(
          `http://${ADDR[victim]}:${type === 'backtesting' ? 5003 : 5005}`,
        );
      }
      const done = await waitFor(
        'the continued training to finish',
        async () => {
          const o = await operation(id);
          return TERMINAL.includes(o.status) ? o : undefined;
        },
        150_000,
      );
      expect(done).toMatchObject({
        status: 'completed',
        attempt: moved.attempt,
        worker_id: moved.worker_id,
      });
      const result = (await api('GET', `/operations/${id}/results`)).body.data.result;
      expect(result).toMatchObject({ epochs_run: LONG_TRAINING.epochs });
      // Shared checkpoint storage: the other host resumed from the cut-off attempt's checkpoint.
      expect(result.resumed_from_epoch).toBeGreaterThanOrEqual(1);
    }, 300_000);

    it('a rolling deploy-to-workers.sh over the hosts updates every worker and loses no operation', async () => {
      const completedBefore = await completedTotal();
      const logSizes = new Map(allWorkerLogs().map((f) => [f, fs.statSync(f).size]));
      const beforeWorkers = await workers();
      const pids = new Map(beforeWorkers.map((w) => [w.worker_id, w.metadata.pid]));
      const ids: string[] = [];
      ids.push(
        ...(await Promise.all(Array.from({ length: 6 }, () => submit('backtests', BACKTEST)))),
      );
      ids.push(await submit('trainings', TRAINING));
      // Operations keep arriving while the rollout runs (bounded).
      let deploying = true;
      const feeder = (async () => {
        for (let i = 0; deploying && i < 30; i++) {
          await new Promise((r) => setTimeout(r, 1500));
          ids.push(
            await submit(
              i % 5 === 4 ? 'trainings' : 'backtests',
              i % 5 === 4 ? TRAINING : BACKTEST,
            ),
          );
        }
      })();
      const started = Date.now();
      const r = await deployToWorkers(releases.v2, ['--ready-timeout', '60']);
      deploying = false;
      await feeder;
      console.log(
        `[multihost] rolling deploy of v2 over 3 hosts: ${r.ms} ms, ${ids.length} operations submitted\n${r.out
          .split('\n')
          .filter((l) => l.includes('──'))
          .join('\n')}`,
      );
      expect({ code: r.code, out: r.code === 0 ? '' : r.out }).toEqual({ code: 0, out: '' });
      expect(r.out.trim().split('\n').pop()).toBe(releases.v2);
      for (const h of HOSTS)
        expect(r.out).toContain(`── ${hostNs(h)}: done, running ${releases.v2}`);

      // Every operation first: while the queue still holds work the workers are busy, not available.
      const ops = await finished(ids, 150_000);
      const after = await fleetReady(releases.v2, 30_000, started);
      for (const w of after)
        expect({ id: w.worker_id, new_process: w.metadata.pid !== pids.get(w.worker_id) }).toEqual({
          id: w.worker_id,
          new_process: true,
        });
      for (const h of HOSTS) {
        expect(fs.readlinkSync(path.join(appDir(h), 'current'))).toBe(`releases/${releases.v2}`);
        expect(fs.readlinkSync(path.join(appDir(h), 'previous'))).toBe(`releases/${releases.v1}`);
      }
      // No operation lost or failed; each completed exactly once (the metric counts completions).
      expect(
        ops
          .filter((o) => o.status !== 'completed')
          .map((o) => `${o.operation_id} ${o.status} ${o.error_message}`),
      ).toEqual([]);
      expect((await completedTotal()) - completedBefore).toBe(ids.length);
      // None was interrupted by a restart: a drained worker finished its operation first (a SIGTERM
      // during an operation logs "shutting down: aborting <id> with a shutdown checkpoint").
      const interrupted = allWorkerLogs().flatMap((f) =>
        fs
          .readFileSync(f, 'utf8')
          .slice(logSizes.get(f) ?? 0)
          .split('\n')
          .filter((l) => l.includes('shutting down: aborting')),
      );
      expect(interrupted).toEqual([]);
      const retried = ops
        .filter((o) => o.attempt > 1)
        .map((o) => `${o.operation_id} (attempt ${o.attempt})`);
      console.log(
        `[multihost] ${ops.length} operations completed during the rollout; another attempt (dispatch or health-check timeouts under load): ${retried.join(', ') || 'none'}`,
      );
    }, 300_000);

    it('a release whose workers crash stops the rollout at the first host, which is rolled back', async () => {
      const beforeWorkers = await workers();
      const pids = new Map(beforeWorkers.map((w) => [w.worker_id, w.metadata.pid]));
      const r = await deployToWorkers(releases.v3, ['--ready-timeout', '15']);
      expect(r.code).toBe(1);
      const [first, ...rest] = HOSTS;
      expect(r.out).toContain(`── ${hostNs(first)}: rolling back to ${releases.v2}`);
      expect(r.out).toContain(`── ${hostNs(first)}: rolled back to ${releases.v2}`);
      expect(r.out).toContain(
        `rollout of ${releases.v3} stopped: ${hostNs(first)} failed (rolled back to the previous release); 0 host(s) updated, 2 not touched`,
      );
      expect(r.out).not.toContain('undrain');
      expect(fs.readFileSync(workerLog(first, 'backtesting'), 'utf8')).toContain(
        'release v3: crashing at start',
      );
      const ws = await fleetReady(releases.v2, 60_000);
      for (const w of ws) {
        const h = hostOf(w.worker_id)!;
        // The first host runs v2 again in new processes; the others were never touched.
        expect({ id: w.worker_id, restarted: w.metadata.pid !== pids.get(w.worker_id) }).toEqual({
          id: w.worker_id,
          restarted: h === first,
        });
      }
      expect(fs.readlinkSync(path.join(appDir(first), 'current'))).toBe(`releases/${releases.v2}`);
      for (const h of rest)
        expect(fs.readlinkSync(path.join(appDir(h), 'current'))).toBe(`releases/${releases.v2}`);
      // The fleet still works after the failed rollout.
      const id = await submit('backtests', BACKTEST);
      const [op] = await finished([id], 60_000);
      expect(op!.status).toBe('completed');
    }, 240_000);
  },
);
