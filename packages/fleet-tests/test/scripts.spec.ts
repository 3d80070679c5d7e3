/**
 * The deploy scripts: shellcheck, the systemd unit, --dry-run output against fake pct/pvesh/pveam/ssh
 * on PATH (and that a real run executes exactly what the dry run printed), idempotence, clear errors,
 * and update-code.sh / ktrdr-worker-start.sh on real git repositories.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  DEPLOY,
  FakeBackend,
  FAKE_BIN,
  fakeCalls,
  fixtureRepo,
  fleetFile,
  has,
  REPO,
  runScript,
  runScriptAsync,
  scriptEnv,
  tempDir,
} from './support/helpers';
import { getTestSettings } from '@ktrdr/config';

const SCRIPTS = [
  'deploy/lib/common.sh',
  'deploy/update-code.sh',
  'deploy/ktrdr-worker-start.sh',
  'deploy/deploy-to-workers.sh',
  'deploy/proxmox/create-base-template.sh',
  'deploy/proxmox/validate-template.sh',
  'deploy/proxmox/provision-worker.sh',
  'deploy/proxmox/provision-fleet.sh',
  'deploy/proxmox/template-setup.sh',
];
const UNIT = path.join(DEPLOY, 'systemd', 'ktrdr-worker@.service');
const OSTEMPLATE = 'debian-12-standard_12.7-1_amd64.tar.zst';
const itIf = (cond: boolean) => (cond ? it : it.skip);
// shellcheck is part of the issue's proof: where every suite must run (.ci/run sets
// KTRDR_TEST_REQUIRE_ALL and installs it), a missing shellcheck fails instead of skipping.
const itWithShellcheck = itIf(has('shellcheck') || getTestSettings().require_all);

let root: string;
let state: string;
let log: string;
let fleet: string;
let backend: FakeBackend;
let tokenFile: string;

beforeAll(async () => {
  backend = await new FakeBackend().start();
});
afterAll(async () => {
  await backend.stop();
});
beforeEach(() => {
  root = tempDir();
  state = path.join(root, 'state');
  log = path.join(root, 'calls.log');
  fs.mkdirSync(path.join(state, 'lxc'), { recursive: true });
  fleet = fleetFile(root, backend.url);
  tokenFile = path.join(root, 'token');
  fs.writeFileSync(tokenFile, 'sekret-registration-token-0123456789abcdef\n');
  backend.workers.clear();
  backend.requests.length = 0;
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const env = (extra: Record<string, string> = {}) =>
  scriptEnv({ FAKE_STATE: state, FAKE_LOG: log, FAKE_UNIT: UNIT, ...extra });
const script = (rel: string) => path.join(DEPLOY, rel);
const addContainer = (id: number, template = false, status = 'stopped') =>
  fs.writeFileSync(
    path.join(state, 'lxc', String(id)),
    `status=${status}\ntemplate=${template ? 1 : 0}\nhostname=x\n`,
  );
const exists = (id: number) => fs.existsSync(path.join(state, 'lxc', String(id)));
/** Calls of the fakes that change something (everything but the read-only queries). */
const mutating = () =>
  fakeCalls(log).filter(
    (l) =>
      !/^(pct (config|status)|pveam list|pvesh get) /.test(l) && l !== 'pvesh get /cluster/nextid',
  );

describe('static checks', () => {
  it('every script is executable and uses set -euo pipefail', () => {
    for (const rel of SCRIPTS.filter((s) => !s.endsWith('common.sh'))) {
      const file = path.join(REPO, rel);
      expect({ rel, executable: (fs.statSync(file).mode & 0o100) !== 0 }).toEqual({
        rel,
        executable: true,
      });
      expect({ rel, strict: fs.readFileSync(file, 'utf8').includes('set -euo pipefail') }).toEqual({
        rel,
        strict: true,
      });
    }
  });

  itWithShellcheck('pass shellcheck (following the sourced library)', () => {
    const r = spawnSync(
      'shellcheck',
      [
        '-x',
        ...SCRIPTS,
        ...fs.readdirSync(FAKE_BIN).map((f) => path.join(FAKE_BIN, f)),
        path.join(__dirname, 'fixtures', 'host-bin', 'systemctl'),
      ],
      {
        cwd: REPO,
        encoding: 'utf8',
      },
    );
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the unit template: EnvironmentFile, Restart=always, a pre-start deploy of the pinned code, hardening', () => {
    const unit = fs.readFileSync(UNIT, 'utf8');
    const directives = unit
      .split('\n')
      .filter((l) => /^[A-Za-z]+=/.test(l))
      .map((l) => l.trim());
    expect(directives).toEqual(
      expect.arrayContaining([
        'User=ktrdr',
        'EnvironmentFile=/etc/ktrdr/worker.env',
        'EnvironmentFile=-/etc/ktrdr/worker-%i.env',
        'ExecStartPre=+/opt/ktrdr/bin/update-code.sh --pinned --build-user ktrdr --store-dir /var/cache/ktrdr/pnpm-store',
        'ExecStart=/opt/ktrdr/bin/ktrdr-worker-start %i',
        'Restart=always',
        'KillSignal=SIGTERM',
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'ReadWritePaths=/var/lib/ktrdr',
        'ProtectHome=yes',
        'PrivateTmp=yes',
        'CapabilityBoundingSet=',
        'WantedBy=multi-user.target',
      ]),
    );
  });

  itIf(has('systemd-analyze', ['--version']))('the unit passes systemd-analyze verify', () => {
    const dir = path.join(root, 'units');
    fs.mkdirSync(dir);
    fs.copyFileSync(UNIT, path.join(dir, 'ktrdr-worker@.service'));
    fs.symlinkSync('ktrdr-worker@.service', path.join(dir, 'ktrdr-worker@backtesting.service'));
    const r = spawnSync(
      'systemd-analyze',
      ['verify', '--man=no', 'ktrdr-worker@backtesting.service'],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    // The executables live in the template, not on this machine: that is the only complaint allowed.
    const problems = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter(
        (l) => l.trim() !== '' && !/Command \/opt\/ktrdr\/bin\/\S+ is not executable/.test(l),
      );
    expect(problems).toEqual([]);
  });

  it.each(SCRIPTS.filter((s) => !/common|template-setup/.test(s)))(
    '%s --help exits 0 with usage',
    (rel) => {
      const r = runScript(path.join(REPO, rel), ['--help'], env());
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: /m);
    },
  );

  it.each([
    ['deploy/update-code.sh', ['--bogus']],
    ['deploy/deploy-to-workers.sh', ['--bogus']],
    ['deploy/proxmox/create-base-template.sh', ['--bogus']],
    ['deploy/proxmox/validate-template.sh', ['--bogus']],
    ['deploy/proxmox/provision-worker.sh', ['--bogus']],
    ['deploy/proxmox/provision-fleet.sh', ['--bogus']],
  ])('%s refuses an unknown argument with exit 2', (rel, args) => {
    const r = runScript(path.join(REPO, rel), args, env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown');
    expect(r.stderr).toContain('--help');
  });
});

describe('create-base-template.sh', () => {
  const expected = [
    'pveam update',
    `pveam download local ${OSTEMPLATE}`,
    `pct create 9000 local:vztmpl/${OSTEMPLATE} --hostname ktrdr-worker-template --ostype debian --unprivileged 1 --features nesting=1 --cores 2 --memory 2048 --swap 0 --rootfs fast-zfs:8 --net0 name=eth0\\,bridge=vmbr1\\,ip=dhcp --onboot 0`,
    'pct start 9000',
    'pct exec 9000 -- mkdir -p /root/ktrdr-template',
    `pct push 9000 ${DEPLOY}/proxmox/template-setup.sh /root/ktrdr-template/template-setup.sh --perms 0755`,
    `pct push 9000 ${DEPLOY}/update-code.sh /root/ktrdr-template/update-code.sh --perms 0755`,
    `pct push 9000 ${DEPLOY}/ktrdr-worker-start.sh /root/ktrdr-template/ktrdr-worker-start.sh --perms 0755`,
    `pct push 9000 ${DEPLOY}/systemd/ktrdr-worker@.service /root/ktrdr-template/ktrdr-worker@.service --perms 0644`,
    'pct exec 9000 -- bash /root/ktrdr-template/template-setup.sh 20.20.2 10.34.9',
    'pct exec 9000 -- rm -rf /root/ktrdr-template',
    'pct stop 9000',
    'pct set 9000 --description KTRDR\\ worker\\ base\\ template:\\ Node.js\\ 20.20.2\\,\\ pnpm\\ 10.34.9\\,\\ git\\;\\ no\\ application\\ code',
    'pct template 9000',
  ];

  it('--dry-run prints the exact commands (defaults from the fleet plan) and changes nothing', () => {
    const r = runScript(
      script('proxmox/create-base-template.sh'),
      ['--dry-run', '--file', fleet],
      env(),
    );
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.commands).toEqual(expected);
    expect(mutating()).toEqual([]);
    expect(exists(9000)).toBe(false);
  });

  it('a real run executes exactly what the dry run printed, and the result is a template', () => {
    const r = runScript(script('proxmox/create-base-template.sh'), ['--file', fleet], env());
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(mutating()).toEqual(expected);
    expect(fs.readFileSync(path.join(state, 'lxc', '9000'), 'utf8')).toContain('template=1');
    // The pushed files are the repository's.
    expect(
      fs.readFileSync(
        path.join(state, 'fs', '9000', 'root/ktrdr-template/ktrdr-worker@.service'),
        'utf8',
      ),
    ).toBe(fs.readFileSync(UNIT, 'utf8'));
  });

  it('is idempotent: an existing template is reported and left alone; the OS template is not downloaded twice', () => {
    addContainer(9000, true);
    const r = runScript(script('proxmox/create-base-template.sh'), ['--file', fleet], env());
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('template 9000 already exists: nothing to do');
    expect(mutating()).toEqual([]);

    fs.rmSync(path.join(state, 'lxc', '9000'));
    fs.mkdirSync(path.join(state, 'vztmpl', 'local'), { recursive: true });
    fs.writeFileSync(path.join(state, 'vztmpl', 'local', OSTEMPLATE), '');
    const again = runScript(
      script('proxmox/create-base-template.sh'),
      ['--dry-run', '--id', '9100', '--storage', 'local-lvm', '--bridge', 'vmbr0'],
      env(),
    );
    expect(again.code).toBe(0);
    expect(again.commands[0]).toMatch(
      /^pct create 9100 .* --rootfs local-lvm:8 --net0 name=eth0\\,bridge=vmbr0\\,ip=dhcp/,
    );
    expect(again.commands.some((c) => c.startsWith('pveam'))).toBe(false);
  });

  it('refuses a VMID held by a container that is not a template, and bad options', () => {
    addContainer(9000, false);
    const r = runScript(script('proxmox/create-base-template.sh'), ['--file', fleet], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('container 9000 exists and is not a template');
    expect(mutating()).toEqual([]);
    const bad = runScript(
      script('proxmox/create-base-template.sh'),
      ['--file', fleet, '--node-version', '18.0.0'],
      env(),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--node-version must be a 20.x.y version');
  });

  it('says clearly when pct is missing', () => {
    const r = runScript(
      script('proxmox/create-base-template.sh'),
      ['--dry-run', '--file', fleet],
      scriptEnv({ FAKE_STATE: state, FAKE_LOG: log }, false),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "'pct' is required but was not found on PATH (run this on a Proxmox VE node)",
    );
  });
});

describe('validate-template.sh', () => {
  const checks = [
    'pct exec 999 -- sh -c for\\ i\\ in\\ \\$\\(seq\\ 1\\ 30\\)\\;\\ do\\ ip\\ -4\\ route\\ show\\ default\\ \\|\\ grep\\ -q\\ .\\ \\&\\&\\ echo\\ up\\ \\&\\&\\ exit\\ 0\\;\\ sleep\\ 1\\;\\ done\\;\\ exit\\ 1',
    'pct exec 999 -- node --version',
    'pct exec 999 -- pnpm --version',
    'pct exec 999 -- git --version',
    'pct exec 999 -- id ktrdr',
  ];

  it('--dry-run prints clone, start, the checks and the cleanup', () => {
    addContainer(9000, true);
    const r = runScript(
      script('proxmox/validate-template.sh'),
      ['--dry-run', '--file', fleet],
      env(),
    );
    expect(r.code).toBe(0);
    expect(r.commands.slice(0, 2)).toEqual([
      'pct clone 9000 999 --hostname ktrdr-validate-999',
      'pct start 999',
    ]);
    expect(r.commands.slice(2, 7)).toEqual(checks);
    expect(r.commands.slice(-2)).toEqual(['pct stop 999', 'pct destroy 999 --purge']);
    expect(mutating()).toEqual([]);
  });

  it('a real run checks the environment in a clone and removes the clone', () => {
    addContainer(9000, true);
    const r = runScript(script('proxmox/validate-template.sh'), ['--id', '9000'], env());
    expect(r.stderr).toContain('template 9000 is valid');
    expect(r.code).toBe(0);
    for (const name of [
      'Node.js 20',
      'pnpm 10',
      'unprivileged ktrdr user',
      'unit hardening',
      'no application code',
    ])
      expect(r.stderr).toContain(`ok    ${name}`);
    expect(exists(999)).toBe(false);
    expect(mutating().slice(-2)).toEqual(['pct stop 999', 'pct destroy 999 --purge']);
  });

  it('fails on a wrong environment and still removes the clone', () => {
    addContainer(9000, true);
    const r = runScript(
      script('proxmox/validate-template.sh'),
      ['--id', '9000', '--clone-id', '555'],
      env({ FAKE_NODE_VERSION: 'v18.19.0' }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAIL  Node.js 20: expected /^v20');
    expect(r.stderr).toContain('template 9000 failed 1 check(s)');
    expect(exists(555)).toBe(false);
  });

  it('refuses a missing template or a container that is not one', () => {
    expect(
      runScript(script('proxmox/validate-template.sh'), ['--id', '9000'], env()).stderr,
    ).toContain('container 9000 does not exist');
    addContainer(9000, false);
    expect(
      runScript(script('proxmox/validate-template.sh'), ['--id', '9000'], env()).stderr,
    ).toContain('container 9000 is not a template');
  });
});

describe('provision-worker.sh', () => {
  const src = () => path.join(root, 'nowhere.git');
  const args = (...extra: string[]) => [
    '--file',
    fleet,
    '--source',
    src(),
    '--ref',
    'a'.repeat(40),
    '--token-file',
    tokenFile,
    ...extra,
  ];

  it('--dry-run: clone, size and network from the plan, env file (token hidden), pin, unit, wait', () => {
    addContainer(9000, true);
    const r = runScript(
      script('proxmox/provision-worker.sh'),
      ['--dry-run', ...args(), '302', 'backtesting', '10.77.0.102'],
      env(),
    );
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.commands).toEqual([
      'pct clone 9000 302 --hostname ktrdr-bt-302 --full 1 --storage fast-zfs',
      'pct set 302 --cores 2 --memory 2048 --swap 0 --onboot 1 --net0 name=eth0\\,bridge=vmbr1\\,ip=10.77.0.102/24\\,gw=10.77.0.1 --description KTRDR\\ backtesting\\ worker\\ backtesting-302',
      'pct start 302',
      'pct push 302 \\<file\\> /etc/ktrdr/worker.env --perms 0600',
      'pct push 302 \\<file\\> /opt/ktrdr/release.pin --perms 0644',
      'pct exec 302 -- systemctl enable --now --no-block ktrdr-worker@backtesting.service',
      `node ${path.join(REPO, 'apps/kinfra/dist/main.js')} fleet wait backtesting-302 --for ready --backend ${backend.url} --timeout 900 --interval 5`,
    ]);
    expect(r.stdout).toContain(`    | KTRDR_API_CLIENT_BASE_URL=${backend.url}`);
    expect(r.stdout).toContain('    | KTRDR_WORKER_ID=backtesting-302');
    expect(r.stdout).toContain('    | KTRDR_WORKER_HOST=0.0.0.0');
    expect(r.stdout).toContain('    | KTRDR_WORKER_PUBLIC_BASE_URL=http://10.77.0.102:5003');
    expect(r.stdout).toContain('    | KTRDR_WORKER_REGISTRATION_TOKEN=<from --token-file>');
    expect(r.stdout).toContain(`    | commit=${'a'.repeat(40)}`);
    expect(r.stdout + r.stderr).not.toContain('sekret-registration-token');
    expect(mutating()).toEqual([]);
  });

  it('a real run clones, writes the env file with the token, starts the unit and waits for the worker', async () => {
    addContainer(9000, true);
    backend.add('training-401', 'training');
    const r = await runScriptAsync(
      script('proxmox/provision-worker.sh'),
      [...args(), '401', 'training', '10.77.0.121'],
      env(),
    );
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Worker training-401 is ready');
    const workerEnv = fs.readFileSync(
      path.join(state, 'fs', '401', 'etc/ktrdr/worker.env'),
      'utf8',
    );
    expect(workerEnv).toContain('KTRDR_ENV=production\n');
    expect(workerEnv).toContain(
      'KTRDR_WORKER_REGISTRATION_TOKEN=sekret-registration-token-0123456789abcdef\n',
    );
    expect(workerEnv).toContain('KTRDR_WORKER_PUBLIC_BASE_URL=http://10.77.0.121:5003\n');
    expect(workerEnv).toContain('KTRDR_WORKER_HOST=0.0.0.0\n');
    expect(fs.readFileSync(path.join(state, 'fs', '401', 'opt/ktrdr/release.pin'), 'utf8')).toBe(
      `source=${src()}\ncommit=${'a'.repeat(40)}\n`,
    );
    expect(backend.requests).toContainEqual({
      method: 'GET',
      path: '/api/v1/workers/training-401',
    });
  });

  it('is idempotent: an existing container is reported, not recreated (started when stopped)', async () => {
    addContainer(9000, true);
    addContainer(301, false, 'stopped');
    backend.add('backtesting-301', 'backtesting');
    const r = await runScriptAsync(
      script('proxmox/provision-worker.sh'),
      [...args(), '301', 'backtesting', '10.77.0.101'],
      env(),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'container 301 already exists (status: stopped): reported, not recreated',
    );
    expect(mutating()).toEqual([
      'pct start 301',
      'pct exec 301 -- systemctl enable --now --no-block ktrdr-worker@backtesting.service',
    ]);
  });

  it('clear errors: arguments, the plan disagreeing, a missing token, the worker never registering', async () => {
    const shortToken = path.join(root, 'short-token');
    fs.writeFileSync(shortToken, 'too-short\n');
    const cases: [string[], number, string][] = [
      [args('301', 'backtesting'), 2, 'expected ID TYPE IP, got 2 argument(s)'],
      [args('301', 'gpu', '10.77.0.101'), 2, "TYPE must be backtesting or training, got 'gpu'"],
      [
        args('301', 'backtesting', '10.77.0.300'),
        2,
        "IP must be an IPv4 address, got '10.77.0.300'",
      ],
      [args('42', 'backtesting', '10.77.0.101'), 2, "ID must be a VMID >= 100, got '42'"],
      [
        args('301', 'training', '10.77.0.101'),
        1,
        'the fleet plan has 301 as a backtesting worker, not training',
      ],
      [
        args('301', 'backtesting', '10.77.0.109'),
        1,
        'the fleet plan gives 301 the address 10.77.0.101, not 10.77.0.109',
      ],
      [
        ['--file', fleet, '--source', src(), '301', 'backtesting', '10.77.0.101'],
        2,
        '--token-file is required',
      ],
      [
        [
          '--file',
          fleet,
          '--source',
          src(),
          '--token-file',
          shortToken,
          '301',
          'backtesting',
          '10.77.0.101',
        ],
        1,
        'is shorter than 32 characters (KTRDR_ENV=production refuses it',
      ],
    ];
    for (const [a, code, message] of cases) {
      const r = runScript(script('proxmox/provision-worker.sh'), a, env());
      expect({ a, code: r.code, message: r.stderr.includes(message) ? message : r.stderr }).toEqual(
        { a, code, message },
      );
    }
    addContainer(9000, true);
    const r = await runScriptAsync(
      script('proxmox/provision-worker.sh'),
      [...args('--timeout', '1'), '302', 'backtesting', '10.77.0.102'],
      env(),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'worker backtesting-302 was not registered, available or busy within 1s (last seen: not registered)',
    );
  });
});

describe('provision-fleet.sh', () => {
  const common = () => [
    '--file',
    fleet,
    '--source',
    path.join(root, 'x.git'),
    '--ref',
    'b'.repeat(40),
    '--token-file',
    tokenFile,
  ];

  it('--dry-run prints one provision-worker.sh per container of the plan, with its commands', () => {
    addContainer(9000, true);
    const r = runScript(script('proxmox/provision-fleet.sh'), ['--dry-run', ...common()], env());
    expect(r.code).toBe(0);
    const worker = `${DEPLOY}/proxmox/provision-worker.sh --source ${path.join(root, 'x.git')} --ref ${'b'.repeat(40)} --token-file ${tokenFile} --timeout 900 --file ${fleet}`;
    expect(r.commands).toEqual([
      `${worker} 301 backtesting 10.77.0.101`,
      `${worker} 302 backtesting 10.77.0.102`,
      `${worker} 401 training 10.77.0.121`,
    ]);
    expect(r.stdout).toContain(
      '    + pct clone 9000 401 --hostname ktrdr-tr-401 --full 1 --storage fast-zfs',
    );
    expect(mutating()).toEqual([]);
    const only = runScript(
      script('proxmox/provision-fleet.sh'),
      ['--dry-run', '--only', 'training', ...common()],
      env(),
    );
    expect(only.commands).toEqual([`${worker} 401 training 10.77.0.121`]);
  });

  it('provisions in parallel with a bound, reports each container, and fails naming the broken one', async () => {
    addContainer(9000, true);
    for (const [id, type] of [
      ['backtesting-301', 'backtesting'],
      ['backtesting-302', 'backtesting'],
      ['training-401', 'training'],
    ])
      backend.add(id, type);
    const logs = path.join(root, 'logs');
    const r = await runScriptAsync(
      script('proxmox/provision-fleet.sh'),
      [...common(), '--parallel', '2', '--log-dir', logs],
      env({ FAKE_FAIL: 'clone:302' }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('provisioning 3 container(s), 2 at a time');
    expect(r.stderr).toMatch(/ok {5}301 \(backtesting-301 at 10\.77\.0\.101\)/);
    expect(r.stderr).toMatch(/ok {5}401 \(training-401 at 10\.77\.0\.121\)/);
    expect(r.stderr).toContain('FAILED 302 (backtesting-302 at 10.77.0.102)');
    expect(r.stderr).toContain('1 of 3 container(s) failed: 302 (backtesting-302 at 10.77.0.102)');
    expect(exists(301) && exists(401)).toBe(true);
    expect(fs.readFileSync(path.join(logs, '302.log'), 'utf8')).toContain('clone to 302 failed');
    // Again: the existing containers are reported, the failed one is created now.
    const again = await runScriptAsync(
      script('proxmox/provision-fleet.sh'),
      [...common(), '--log-dir', logs],
      env(),
    );
    expect(again.code).toBe(0);
    expect(fs.readFileSync(path.join(logs, '301.log'), 'utf8')).toContain('already exists');
    expect(exists(302)).toBe(true);
  });

  it('refuses a docker-compose fleet file', () => {
    const r = runScript(
      script('proxmox/provision-fleet.sh'),
      ['--dry-run', '--env', 'dev', '--source', 'x', '--token-file', tokenFile],
      env(),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the fleet plan of 'dev' is not a proxmox-lxc deployment");
  });
});

describe('deploy-to-workers.sh (dry run)', () => {
  it('prints drain, wait, update, restart and ready-wait per host, over ssh, from the fleet plan', () => {
    const sha = 'c'.repeat(40);
    const r = runScript(
      script('deploy-to-workers.sh'),
      [
        '--dry-run',
        '--file',
        fleet,
        '--source',
        'https://git.example/ktrdr.git',
        '--ref',
        sha,
        '--ssh-key',
        '/keys/deploy',
      ],
      env(),
    );
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const kinfra = `node ${path.join(REPO, 'apps/kinfra/dist/main.js')}`;
    const ssh = (host: string, cmd: string) =>
      `ssh -o BatchMode=yes -o ConnectTimeout=10 -i /keys/deploy root@${host} ${cmd}`;
    const upd = '/opt/ktrdr/bin/update-code.sh\\ --app-dir\\ /opt/ktrdr';
    const host = (id: string, type: string, ip: string) => [
      `${kinfra} fleet drain ${id} --backend ${backend.url} --missing-ok --print registered_at`,
      `${kinfra} fleet wait ${id} --for idle --backend ${backend.url} --timeout 3600`,
      ssh(ip, `${upd}\\ --print-current`),
      ssh(
        ip,
        `${upd}\\ --source\\ https://git.example/ktrdr.git\\ --ref\\ ${sha}\\ --build-user\\ ktrdr\\ --store-dir\\ /var/cache/ktrdr/pnpm-store`,
      ),
      ssh(ip, `systemctl\\ restart\\ ktrdr-worker@${type}.service`),
      `${kinfra} fleet wait ${id} --for ready --backend ${backend.url} --release ${sha} --registered-after \\<registered_at\\> --timeout 300`,
    ];
    expect(r.commands).toEqual([
      ...host('backtesting-301', 'backtesting', '10.77.0.101'),
      ...host('backtesting-302', 'backtesting', '10.77.0.102'),
      ...host('training-401', 'training', '10.77.0.121'),
    ]);
    expect(r.stdout.trim().split('\n').pop()).toBe(sha);
    expect(fakeCalls(log).filter((l) => l.startsWith('ssh'))).toEqual([]);
  });

  it('groups the workers of a host from --hosts and resolves a branch once', () => {
    const repo = fixtureRepo(root);
    const sha = repo.commit('v1');
    const hosts = path.join(root, 'hosts');
    fs.writeFileSync(
      hosts,
      '# host type worker\nh1 backtesting bt-1\nh1 training tr-1\n\nh2 training tr-2\n',
    );
    const r = runScript(
      script('deploy-to-workers.sh'),
      [
        '--dry-run',
        '--hosts',
        hosts,
        '--backend',
        'http://b:8000/api/v1/',
        '--source',
        repo.path,
        '--ref',
        'main',
        '--transport',
        'netns',
        '--app-dir',
        '/srv/{host}',
        '--update-opts',
        '--offline',
      ],
      env(),
    );
    expect(r.code).toBe(0);
    expect(r.commands.filter((c) => c.startsWith('ip netns exec'))).toEqual([
      'ip netns exec h1 bash -c /srv/h1/bin/update-code.sh\\ --app-dir\\ /srv/h1\\ --print-current',
      `ip netns exec h1 bash -c /srv/h1/bin/update-code.sh\\ --app-dir\\ /srv/h1\\ --source\\ ${repo.path}\\ --ref\\ ${sha}\\ --offline`,
      'ip netns exec h1 bash -c systemctl\\ restart\\ ktrdr-worker@backtesting.service',
      'ip netns exec h1 bash -c systemctl\\ restart\\ ktrdr-worker@training.service',
      'ip netns exec h2 bash -c /srv/h2/bin/update-code.sh\\ --app-dir\\ /srv/h2\\ --print-current',
      `ip netns exec h2 bash -c /srv/h2/bin/update-code.sh\\ --app-dir\\ /srv/h2\\ --source\\ ${repo.path}\\ --ref\\ ${sha}\\ --offline`,
      'ip netns exec h2 bash -c systemctl\\ restart\\ ktrdr-worker@training.service',
    ]);
    expect(r.commands.filter((c) => c.includes('fleet drain')).map((c) => c.split(' ')[4])).toEqual(
      ['bt-1', 'tr-1', 'tr-2'],
    );
  });

  it('clear errors: no ref, a bad transport, a bad hosts line, an unknown ref', () => {
    const hosts = path.join(root, 'hosts');
    fs.writeFileSync(hosts, 'h1 backtesting\n');
    const cases: [string[], number, string][] = [
      [['--source', 'x'], 2, '--ref is required'],
      [
        ['--source', 'x', '--ref', 'main', '--transport', 'carrier-pigeon'],
        2,
        "--transport must be ssh, netns or local, got 'carrier-pigeon'",
      ],
      [
        ['--source', 'x', '--ref', 'main', '--hosts', hosts, '--backend', 'http://b'],
        1,
        `${hosts}, line 1: expected 'HOST TYPE WORKER_ID'`,
      ],
      [
        ['--source', path.join(root, 'missing.git'), '--ref', 'main', '--file', fleet],
        1,
        'git ls-remote',
      ],
    ];
    for (const [a, code, message] of cases) {
      const r = runScript(script('deploy-to-workers.sh'), ['--dry-run', ...a], env());
      expect({ a, code: r.code, message: r.stderr.includes(message) ? message : r.stderr }).toEqual(
        { a, code, message },
      );
    }
  });
});

describe('update-code.sh on a host', () => {
  let app: string;
  let repo: ReturnType<typeof fixtureRepo>;
  beforeEach(() => {
    app = path.join(root, 'app');
    repo = fixtureRepo(root);
  });
  const update = (...a: string[]) =>
    runScript(script('update-code.sh'), ['--app-dir', app, ...a], env());
  const current = () => fs.readlinkSync(path.join(app, 'current'));
  const previous = () => fs.readlinkSync(path.join(app, 'previous'));
  const label = () => fs.readFileSync(path.join(app, 'current', 'dist', 'label.txt'), 'utf8');

  it('fetches, installs (frozen lockfile), builds, switches current, keeps previous, prints the commit', () => {
    const v1 = repo.commit('v1');
    const a = update('--source', repo.path, '--ref', 'main', '--offline');
    expect(a.stderr).not.toContain('error');
    expect(a.code).toBe(0);
    expect(a.stdout.trim().split('\n').pop()).toBe(v1);
    expect(current()).toBe(`releases/${v1}`);
    expect(label()).toBe('v1');
    expect(fs.readFileSync(path.join(app, 'current', '.ktrdr-release'), 'utf8').trim()).toBe(v1);
    expect(fs.readFileSync(path.join(app, 'release.pin'), 'utf8')).toBe(
      `source=${repo.path}\ncommit=${v1}\n`,
    );

    const v2 = repo.commit('v2');
    const b = update('--ref', v2, '--offline'); // the source comes from the pin now
    expect(b.code).toBe(0);
    expect(b.stdout.trim().split('\n').pop()).toBe(v2);
    expect([current(), previous(), label()]).toEqual([`releases/${v2}`, `releases/${v1}`, 'v2']);
    expect(update('--print-current').stdout.trim()).toBe(v2);

    // Idempotent: the same commit again builds nothing.
    const c = update('--ref', 'main', '--offline');
    expect(c.code).toBe(0);
    expect(c.stderr).toContain(`current is already ${v2}: nothing to build`);

    // Rollback and activate swap current and previous, and pin what is current.
    const back = update('--rollback');
    expect(back.stdout.trim()).toBe(v1);
    expect([current(), previous(), label()]).toEqual([`releases/${v1}`, `releases/${v2}`, 'v1']);
    expect(fs.readFileSync(path.join(app, 'release.pin'), 'utf8')).toContain(`commit=${v1}\n`);
    expect(update('--activate', v2).code).toBe(0);
    expect(label()).toBe('v2');
    expect(update('--activate', 'd'.repeat(40)).stderr).toContain(
      `release ${'d'.repeat(40)} is not built`,
    );
  });

  it('--pinned: a no-op when current is the pin; deploys the pin otherwise; keeps current when the source is gone', () => {
    const v1 = repo.commit('v1');
    update('--source', repo.path, '--ref', v1, '--offline');
    const same = update('--pinned', '--offline');
    expect(same.code).toBe(0);
    expect(same.stderr).toContain(`current is the pinned release ${v1}`);
    const v2 = repo.commit('v2');
    fs.writeFileSync(path.join(app, 'release.pin'), `source=${repo.path}\ncommit=${v2}\n`);
    const moved = update('--pinned', '--offline');
    expect(moved.code).toBe(0);
    expect(label()).toBe('v2');
    fs.writeFileSync(
      path.join(app, 'release.pin'),
      `source=${path.join(root, 'gone.git')}\ncommit=${'e'.repeat(40)}\n`,
    );
    const offline = update('--pinned', '--offline');
    expect(offline.code).toBe(0);
    expect(offline.stderr).toContain(
      `could not deploy the pinned release ${'e'.repeat(40)}; keeping current ${v2}`,
    );
    expect(label()).toBe('v2');
  });

  it('a failing build leaves current untouched and no half-built release behind', () => {
    const v1 = repo.commit('v1');
    update('--source', repo.path, '--ref', v1, '--offline');
    const bad = repo.commit('broken', 'process.exit(3)');
    const r = update('--ref', bad, '--offline');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the build (pnpm run build:workers) failed for ${bad}`);
    expect(current()).toBe(`releases/${v1}`);
    expect(fs.readdirSync(path.join(app, 'releases'))).toEqual([v1]);
    expect(fs.readFileSync(path.join(app, 'release.pin'), 'utf8')).toContain(`commit=${v1}\n`);
  });

  it('keeps current, previous and --keep more releases', () => {
    const shas = ['v1', 'v2', 'v3', 'v4'].map((l) => {
      const sha = repo.commit(l);
      expect(update('--source', repo.path, '--ref', sha, '--offline', '--keep', '1').code).toBe(0);
      return sha;
    });
    // v4 current, v3 previous, v2 the one extra release kept; v1 pruned.
    expect(fs.readdirSync(path.join(app, 'releases')).sort()).toEqual(
      [shas[1], shas[2], shas[3]].sort(),
    );
  });

  it('--dry-run prints the build commands and changes nothing; clear errors', () => {
    const v1 = repo.commit('v1');
    update('--source', repo.path, '--ref', v1, '--offline');
    const v2 = repo.commit('v2');
    const r = update(
      '--ref',
      'main',
      '--dry-run',
      '--build-user',
      'ktrdr',
      '--store-dir',
      '/var/cache/store',
    );
    expect(r.code).toBe(0);
    const tmp = `${app}/releases/${v2}.tmp.PID`;
    expect(r.commands.map((c) => c.replace(/\.tmp\.\d+/g, '.tmp.PID'))).toEqual([
      `git -C ${app}/repo.git remote set-url origin ${repo.path}`,
      `git -C ${app}/repo.git fetch --quiet --force --prune origin +refs/heads/\\*:refs/heads/\\* +refs/tags/\\*:refs/tags/\\*`,
      `rm -rf ${tmp}`,
      `mkdir -p ${tmp}`,
      `git -C ${app}/repo.git archive ${v2} | tar -x -C ${tmp}`,
      `chown -R ktrdr ${tmp}`,
      `cd ${tmp} && runuser -u ktrdr -- pnpm install --frozen-lockfile --prefer-offline --store-dir /var/cache/store`,
      `cd ${tmp} && runuser -u ktrdr -- pnpm run build:workers`,
      `chown -R root:root ${tmp}`,
      `write ${tmp}/.ktrdr-release: ${v2}`,
      `mv -T ${tmp} ${app}/releases/${v2}`,
      `ln -sfn releases/${v2} ${app}/current.new`,
      `mv -Tf ${app}/current.new ${app}/current`,
      `ln -sfn releases/${v1} ${app}/previous.new`,
      `mv -Tf ${app}/previous.new ${app}/previous`,
      `write ${app}/release.pin: source=${repo.path} commit=${v2}`,
    ]);
    expect(r.stdout.trim().split('\n').pop()).toBe(v2);
    // Nothing changed.
    expect(current()).toBe(`releases/${v1}`);
    expect(fs.readdirSync(path.join(app, 'releases'))).toEqual([v1]);
    expect(fs.readFileSync(path.join(app, 'release.pin'), 'utf8')).toContain(`commit=${v1}\n`);

    expect(update().stderr).toContain(
      'one of --ref, --pinned, --rollback, --activate or --print-current is required',
    );
    expect(
      runScript(
        script('update-code.sh'),
        ['--app-dir', path.join(root, 'fresh'), '--ref', 'main'],
        env(),
      ).stderr,
    ).toContain('--source is required (no release.pin');
    expect(update('--rollback').stderr).toContain('no previous release to roll back to');
    expect(update('--ref', 'no-such-branch', '--offline').stderr).toContain(
      `'no-such-branch' is not a branch, tag or commit of ${repo.path}`,
    );
  });
});

describe('ktrdr-worker-start.sh', () => {
  it('runs the type’s worker from the resolved current release with KTRDR_WORKER_RELEASE', () => {
    const app = path.join(root, 'app');
    const rel = path.join(app, 'releases', 'f'.repeat(40));
    fs.mkdirSync(path.join(rel, 'apps', 'training-worker', 'dist'), { recursive: true });
    fs.writeFileSync(path.join(rel, '.ktrdr-release'), `${'f'.repeat(40)}\n`);
    fs.writeFileSync(
      path.join(rel, 'apps', 'training-worker', 'dist', 'main.js'),
      'console.log(JSON.stringify({ release: process.env.KTRDR_WORKER_RELEASE, cwd: process.cwd(), main: __filename }));',
    );
    fs.symlinkSync(`releases/${'f'.repeat(40)}`, path.join(app, 'current'));
    const r = runScript(script('ktrdr-worker-start.sh'), ['training', app], env());
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      release: 'f'.repeat(40),
      cwd: rel,
      main: path.join(rel, 'apps', 'training-worker', 'dist', 'main.js'),
    });
    expect(
      runScript(script('ktrdr-worker-start.sh'), ['backtesting', app], env()).stderr,
    ).toContain('has no built backtest-worker');
    expect(runScript(script('ktrdr-worker-start.sh'), ['gpu', app], env()).stderr).toContain(
      "unknown worker type 'gpu'",
    );
    expect(
      runScript(script('ktrdr-worker-start.sh'), ['training', path.join(root, 'none')], env())
        .stderr,
    ).toContain('no release is deployed');
  });
});
