import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import {
  ConfigurationError,
  FLEET_FILE_KEYS,
  checkFleetFile,
  clearSettingsCache,
  getApiClientSettings,
  getRuntimeSettings,
  getWorkerSettings,
  loadFleetConfig,
  parseCidr,
  parseIpRange,
  parseIpv4,
  renderConfigurationMarkdown,
  setConfigLogger,
  validateAll,
  withEnv,
  type ProxmoxDeployment,
} from '../src/index';

const REPO_CONFIG = nodePath.resolve(__dirname, '..', '..', '..', 'config');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'ktrdr-fleet-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  setConfigLogger(undefined);
});
beforeEach(() => {
  setConfigLogger({ warn: () => undefined, error: () => undefined });
  clearSettingsCache();
});

let n = 0;
function write(text: string): string {
  const file = nodePath.join(tmp, `workers-${++n}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

const PROD = `backend_url: http://127.9.0.10:8000/api/v1
health_check:
  interval: 10
  timeout: 5
  failure_threshold: 3
  removal_threshold: 300
deployment:
  type: proxmox-lxc
  proxmox:
    template_id: 9000
    network:
      subnet: 127.9.0.0/24
      gateway: 127.9.0.1
    workers:
      backtesting:
        count: 3
        id_start: 301
        cores: 2
        memory_mb: 2048
        ip_range: 127.9.0.101-127.9.0.110
      training:
        count: 2
        id_start: 401
        cores: 4
        memory_mb: 8192
        ip_range: 127.9.0.121-127.9.0.130
`;

/** Errors of a file, as loadFleetConfig throws them. */
function errorsOf(text: string): { file: string; errors: readonly string[] } {
  const file = write(text);
  try {
    withEnv({}, () => loadFleetConfig({ file }));
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    return { file, errors: (e as ConfigurationError).details.errors };
  }
  throw new Error('expected the file to be refused');
}

describe('the repository fleet files', () => {
  it('config/workers.dev.yaml is a docker-compose fleet with 2 + 2 workers', () => {
    const c = withEnv({}, () => loadFleetConfig({ environment: 'dev' }));
    expect(c.environment).toBe('development');
    expect(c.file).toBe(nodePath.join(REPO_CONFIG, 'workers.dev.yaml'));
    expect(c.backend_url).toBe('http://localhost:8000/api/v1');
    expect(c.health_check).toEqual({
      interval: 10,
      timeout: 5,
      failure_threshold: 3,
      removal_threshold: 300,
    });
    expect(c.deployment).toEqual({
      type: 'docker-compose',
      compose: { scale: { backtesting: 2, training: 2 } },
    });
  });

  it('config/workers.prod.yaml is a Proxmox LXC fleet (defaults filled in)', () => {
    const c = withEnv({}, () => loadFleetConfig({ environment: 'production' }));
    expect(c.file).toBe(nodePath.join(REPO_CONFIG, 'workers.prod.yaml'));
    const d = c.deployment as ProxmoxDeployment;
    expect(d.type).toBe('proxmox-lxc');
    expect(d.proxmox).toMatchObject({
      template_id: expect.any(Number),
      node: expect.any(String),
      bridge: expect.any(String),
      network: { subnet: expect.stringMatching(/\/\d+$/), gateway: expect.any(String) },
    });
    expect(d.proxmox.workers.backtesting.count).toBeGreaterThan(0);
    expect(d.proxmox.workers.training.count).toBeGreaterThan(0);
    expect(Object.isFrozen(c.deployment)).toBe(true);
  });

  it.each([
    ['dev', 'workers.dev.yaml'],
    ['DEVELOPMENT', 'workers.dev.yaml'],
    ['prod', 'workers.prod.yaml'],
    ['production', 'workers.prod.yaml'],
  ])('KTRDR_ENV=%s picks %s', (value, name) => {
    const c = withEnv({ KTRDR_ENV: value }, () => loadFleetConfig());
    expect(nodePath.basename(c.file)).toBe(name);
  });

  it('KTRDR_ENV accepts dev and prod as aliases everywhere', () => {
    expect(withEnv({ KTRDR_ENV: 'prod' }, () => getRuntimeSettings().environment)).toBe(
      'production',
    );
    expect(withEnv({ KTRDR_ENV: 'Dev' }, () => getRuntimeSettings().environment)).toBe(
      'development',
    );
    expect(() => withEnv({ KTRDR_ENV: 'staging' }, () => getRuntimeSettings())).toThrow(
      /KTRDR_ENV: must be one of development, test, production \(also dev for development, prod for production\) \(got "staging"\)/,
    );
  });

  it('KTRDR_ENV=test has no fleet file unless KTRDR_FLEET_FILE names one', () => {
    expect(() => withEnv({ KTRDR_ENV: 'test' }, () => loadFleetConfig())).toThrow(
      /KTRDR_ENV=test has no fleet environment file; set KTRDR_FLEET_FILE/,
    );
    const file = write(PROD);
    const c = withEnv({ KTRDR_ENV: 'test', KTRDR_FLEET_FILE: file }, () => loadFleetConfig());
    expect(c.file).toBe(file);
    expect(c.environment).toBe('test');
  });

  it('KTRDR_FLEET_DIR moves the directory; an unknown --env is refused', () => {
    fs.mkdirSync(nodePath.join(tmp, 'dir'), { recursive: true });
    fs.writeFileSync(nodePath.join(tmp, 'dir', 'workers.prod.yaml'), PROD);
    const c = withEnv({ KTRDR_FLEET_DIR: nodePath.join(tmp, 'dir') }, () =>
      loadFleetConfig({ environment: 'prod' }),
    );
    expect(c.backend_url).toBe('http://127.9.0.10:8000/api/v1');
    expect(() => withEnv({}, () => loadFleetConfig({ environment: 'qa' }))).toThrow(
      /--env: must be one of development, test, production/,
    );
    expect(() =>
      withEnv({ KTRDR_FLEET_DIR: nodePath.join(tmp, 'nowhere') }, () =>
        loadFleetConfig({ environment: 'prod' }),
      ),
    ).toThrow(/workers\.prod\.yaml: no such fleet environment file/);
  });
});

describe('variables override the file', () => {
  it('the effective values and the overridden keys', () => {
    const file = write(PROD);
    const c = withEnv(
      {
        KTRDR_WORKER_HEALTH_CHECK_INTERVAL: '2.5',
        KTRDR_API_CLIENT_BASE_URL: 'http://backend.lan:8000/api/v1',
      },
      () => loadFleetConfig({ file }),
    );
    expect(c.health_check.interval).toBe(2.5);
    expect(c.health_check.timeout).toBe(5);
    expect(c.backend_url).toBe('http://backend.lan:8000/api/v1');
    expect(c.overridden).toEqual([
      { path: 'backend_url', variable: 'KTRDR_API_CLIENT_BASE_URL' },
      { path: 'health_check.interval', variable: 'KTRDR_WORKER_HEALTH_CHECK_INTERVAL' },
    ]);
  });

  it('the file is a source of the settings, below the variables and above the defaults', () => {
    const file = write(
      PROD.replace('interval: 10', 'interval: 7').replace('timeout: 5', 'timeout: 2'),
    );
    withEnv({ KTRDR_FLEET_FILE: file, KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '4' }, () => {
      const w = getWorkerSettings();
      expect(w.health_check_interval).toBe(7); // from the file
      expect(w.health_check_timeout).toBe(4); // the variable wins
      expect(w.heartbeat_interval).toBe(5); // not in the file: the default
      expect(getApiClientSettings().base_url).toBe('http://127.9.0.10:8000/api/v1');
    });
    // Without the file the defaults apply (tests are hermetic: no implicit file under withEnv).
    expect(withEnv({}, () => getWorkerSettings().health_check_interval)).toBe(10);
  });

  it('a service refuses to start on a broken fleet file, naming the YAML path and file', () => {
    const file = write(PROD.replace('timeout: 5', 'timeout: -3'));
    let err: ConfigurationError | undefined;
    try {
      validateAll('backend', { KTRDR_FLEET_FILE: file });
    } catch (e) {
      err = e as ConfigurationError;
    }
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err!.details.errors).toEqual([
      `health_check.timeout (${file}, line 4): must be a number between 0.1 and 600 (got -3)`,
    ]);
    expect(() => validateAll('worker', { KTRDR_FLEET_FILE: file })).toThrow(
      /health_check\.timeout/,
    );
    // A variable set for the key does not make a broken file valid: the file is checked itself.
    expect(() =>
      validateAll('worker', { KTRDR_FLEET_FILE: file, KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '3' }),
    ).toThrow(/health_check\.timeout/);
    expect(() =>
      validateAll('worker', { KTRDR_FLEET_FILE: nodePath.join(tmp, 'missing.yaml') }),
    ).toThrow(/KTRDR_FLEET_FILE: .*missing\.yaml does not exist/);
  });
});

describe('validation of invalid files', () => {
  it('reports every problem at once with path, file and line; did-you-mean for typos', () => {
    const { file, errors } = errorsOf(
      PROD.replace('interval: 10', 'interval: fast')
        .replace('failure_threshold: 3', 'failure_treshold: 3')
        .replace('cores: 2', 'cores: 0')
        .replace('backend_url: http://127.9.0.10:8000/api/v1', 'backend_url: ftp://x'),
    );
    expect([...errors].sort()).toEqual(
      [
        `backend_url (${file}, line 1): must be an absolute http or https URL with a host (got "ftp://x")`,
        `deployment.proxmox.workers.backtesting.cores (${file}, line 18): must be an integer between 1 and 512 (got 0)`,
        `health_check.failure_treshold (${file}, line 5): unknown key (did you mean health_check.failure_threshold?)`,
        `health_check.interval (${file}, line 3): must be a number between 0.1 and 86400 (got "fast")`,
      ].sort(),
    );
  });

  it('never echoes credentials inside a refused URL', () => {
    const { errors } = errorsOf(
      PROD.replace('backend_url: http://127.9.0.10:8000/api/v1', 'backend_url: ftp://u:s3cr@t@h/x'),
    );
    const text = errors.join('\n');
    expect(text).toMatch(/backend_url .*ftp:\/\/\*\*\*@h\/x/);
    expect(text).not.toContain('s3cr');
  });

  it('requires backend_url and deployment.type; the type decides which section is allowed', () => {
    expect(errorsOf('health_check:\n  interval: 3\n').errors).toEqual([
      expect.stringMatching(/^backend_url \(.*\): is required \(an absolute http or https URL/),
      expect.stringMatching(
        /^deployment\.type \(.*\): is required \(one of docker-compose, proxmox-lxc\)/,
      ),
    ]);
    const { file, errors } = errorsOf(
      'backend_url: http://b:8000/api/v1\ndeployment:\n  type: docker-compose\n  compose:\n    scale:\n      backtesting: 1\n  proxmox:\n    template_id: 9000\n',
    );
    expect(errors).toEqual([
      `deployment.compose.scale.training (${file}, line 6): is required (an integer between 0 and 64)`,
      `deployment.proxmox.template_id (${file}, line 8): only allowed when deployment.type is proxmox-lxc`,
    ]);
    expect(
      errorsOf('backend_url: http://b:8000/api/v1\ndeployment:\n  type: kubernetes\n').errors,
    ).toEqual([
      expect.stringMatching(
        /^deployment\.type \(.*, line 3\): must be one of docker-compose, proxmox-lxc \(got "kubernetes"\)$/,
      ),
    ]);
  });

  it('checks the network layout of a Proxmox fleet', () => {
    const { errors } = errorsOf(
      PROD.replace('gateway: 127.9.0.1', 'gateway: 127.9.0.105')
        .replace('count: 3', 'count: 30')
        .replace('ip_range: 127.9.0.121-127.9.0.130', 'ip_range: 127.9.0.108-127.9.1.130')
        .replace('id_start: 401', 'id_start: 310')
        .replace('template_id: 9000', 'template_id: 302'),
    );
    const problems = errors.map((e) => e.replace(/ \(.*?, line \d+\)/, ''));
    expect(problems).toEqual(
      expect.arrayContaining([
        'deployment.proxmox.workers.backtesting.ip_range: 127.9.0.101-127.9.0.110 contains the gateway 127.9.0.105',
        'deployment.proxmox.workers.backtesting.count: 30 containers do not fit in 127.9.0.101-127.9.0.110 (10 addresses)',
        'deployment.proxmox.workers.backtesting.id_start: VMIDs 301-330 include the template 302',
        'deployment.proxmox.workers.training.ip_range: 127.9.0.108-127.9.1.130 is not inside 127.9.0.0/24',
        'deployment.proxmox.workers.training.ip_range: 127.9.0.108-127.9.1.130 overlaps the backtesting range',
        'deployment.proxmox.workers.training.id_start: VMIDs 310-311 overlap the backtesting VMIDs',
      ]),
    );
    const outside = errorsOf(PROD.replace('gateway: 127.9.0.1', 'gateway: 127.8.0.1')).errors;
    expect(outside).toEqual([
      expect.stringMatching(
        /^deployment\.proxmox\.network\.gateway .*127\.8\.0\.1 is not a host address of 127\.9\.0\.0\/24$/,
      ),
    ]);
    const badCidr = errorsOf(PROD.replace('subnet: 127.9.0.0/24', 'subnet: 127.9.0.7/24')).errors;
    expect(badCidr).toEqual([
      expect.stringMatching(
        /^deployment\.proxmox\.network\.subnet .*: must be an IPv4 network in CIDR notation/,
      ),
    ]);
  });

  it('refuses YAML syntax errors, duplicate keys, a non-mapping root and a non-mapping section', () => {
    expect(errorsOf('backend_url: [unclosed\n').errors[0]).toMatch(/, line \d+: not valid YAML/);
    expect(
      errorsOf('backend_url: http://a:1/api/v1\nbackend_url: http://b:1/api/v1\n').errors[0],
    ).toMatch(/line 2: not valid YAML \(Map keys must be unique/);
    expect(errorsOf('- a\n- b\n').errors[0]).toMatch(/must be a YAML mapping/);
    expect(
      errorsOf(
        'backend_url: http://a:1/api/v1\nhealth_check: 5\ndeployment:\n  type: docker-compose\n  compose: {scale: {backtesting: 1, training: 1}}\n',
      ).errors,
    ).toEqual([expect.stringMatching(/^health_check \(.*, line 2\): must be a mapping$/)]);
  });

  it('checkFleetFile returns only the valid setting values', () => {
    const r = checkFleetFile(PROD.replace('timeout: 5', 'timeout: nope'), 'x.yaml');
    expect(r.values.KTRDR_WORKER_HEALTH_CHECK_INTERVAL).toEqual({
      raw: '10',
      path: 'health_check.interval',
    });
    expect(r.values.KTRDR_WORKER_HEALTH_CHECK_TIMEOUT).toBeUndefined();
    expect(r.data).toBeUndefined();
  });
});

describe('IPv4 helpers', () => {
  it('parse addresses, networks and ranges', () => {
    expect(parseIpv4('127.0.0.1')).toBe(0x7f000001);
    expect(parseIpv4('256.0.0.1')).toBeUndefined();
    expect(parseCidr('127.20.0.0/24')).toEqual({
      network: 0x7f140000,
      prefix: 24,
      text: '127.20.0.0/24',
    });
    expect(parseCidr('127.20.0.0/31')).toBeUndefined();
    expect(parseIpRange('127.0.0.5-127.0.0.9')).toEqual({ first: 0x7f000005, last: 0x7f000009 });
    expect(parseIpRange('127.0.0.9-127.0.0.5')).toBeUndefined();
    expect(parseIpRange('127.0.0.9')).toEqual({ first: 0x7f000009, last: 0x7f000009 });
  });
});

describe('generated docs', () => {
  it('document every key of the fleet files with its overriding variable', () => {
    const md = renderConfigurationMarkdown();
    expect(md).toContain('## Fleet environment files');
    for (const k of FLEET_FILE_KEYS) expect(md).toContain(`| \`${k.path}\` |`);
    expect(md).toMatch(
      /\| `health_check\.interval` \| no \| `10` \| .* \| `KTRDR_WORKER_HEALTH_CHECK_INTERVAL` \|/,
    );
    expect(md).toContain('`KTRDR_FLEET_FILE`');
  });
});
