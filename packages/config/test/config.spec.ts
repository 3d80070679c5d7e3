import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ALL_SETTINGS,
  ApiClientSettings,
  ConfigurationError,
  DEPRECATED_NAMES,
  DatabaseSettings,
  WorkerSettings,
  childProcessEnv,
  clearSettingsCache,
  describeSettings,
  envNameOf,
  findUnknownEnvVars,
  getApiClientSettings,
  getEventsSettings,
  getCheckpointSettings,
  getCliSettings,
  getDataSettings,
  getDatabaseSettings,
  getOperationsSettings,
  getWorkerSettings,
  loadSettings,
  loadSettingsOrExit,
  parseDotenv,
  renderConfigurationMarkdown,
  renderEnvExample,
  setConfigLogger,
  validateAll,
  warnDeprecatedEnvVars,
  warnInsecureDefaults,
  warnUnknownEnvVars,
  withEnv,
  readOrCreateSecretFile,
  redactUrlCredentials,
  resolveRegistrationToken,
  devApiKeyPath,
  devWorkerTokenPath,
  type AnyField,
  type AnySettingsClass,
} from '../src/index';

let warnings: string[] = [];
beforeEach(() => {
  warnings = [];
  setConfigLogger({ warn: (m) => warnings.push(m), error: (m) => warnings.push(m) });
  clearSettingsCache();
});
afterAll(() => setConfigLogger(undefined));

/** A valid raw value for a field, different from its default where possible. */
function sampleValue(f: AnyField): { raw: string; expected: unknown } {
  switch (f.kind) {
    case 'integer': {
      const v = f.max !== undefined ? Math.min(f.max, 4321) : 4321;
      return { raw: String(v), expected: v };
    }
    case 'number':
      return { raw: '7.5', expected: 7.5 };
    case 'boolean':
      return f.default === true ? { raw: 'no', expected: false } : { raw: 'yes', expected: true };
    case 'enum': {
      const c = (f.choices ?? []).find((x) => x !== f.default) ?? (f.choices ?? [])[0];
      return { raw: String(c).toUpperCase(), expected: c };
    }
    case 'list':
      if (f.itemPattern) {
        const a = 'a'.repeat(64);
        const b = 'B'.repeat(64);
        return { raw: ` ${a}, ${b} ,, `, expected: [a, b] };
      }
      return { raw: ' a, b ,,c ', expected: ['a', 'b', 'c'] };
    case 'url': {
      const scheme = (f.protocols ?? ['http'])[0];
      return {
        raw: `${scheme}://example.test:1234/x/`,
        expected: `${scheme}://example.test:1234/x`,
      };
    }
    case 'path':
      return { raw: '/tmp/ktrdr-sample', expected: '/tmp/ktrdr-sample' };
    default:
      return { raw: 'sample-value', expected: 'sample-value' };
  }
}

function fieldsOf(cls: AnySettingsClass): [string, AnyField][] {
  return Object.entries(cls.fields);
}

describe('defaults', () => {
  it('loads every class with an empty environment, with the documented defaults', () => {
    withEnv({}, () => {
      const w = getWorkerSettings();
      expect(w.port).toBe(5003);
      expect(w.worker_id).toBeUndefined();
      expect(w.public_base_url).toBeUndefined();
      expect(w.heartbeat_interval).toBe(5);
      expect(w.health_check_interval).toBe(10);
      expect(w.health_check_timeout).toBe(5);
      expect(w.health_check_failures).toBe(3);
      expect(w.removal_threshold).toBe(300);
      expect(getOperationsSettings()).toMatchObject({
        cleanup_interval_seconds: 3600,
        retention_days: 7,
        max_attempts: 3,
      });
      expect(getApiClientSettings().base_url).toBe('http://localhost:8000/api/v1');
      expect(getDatabaseSettings().driver).toBe('sqlite');
      expect(getDatabaseSettings().port).toBe(5432);
      for (const cls of ALL_SETTINGS) expect(() => loadSettings(cls)).not.toThrow();
    });
  });

  it('derives the checkpoint, models and database directories from the data directory', () => {
    withEnv({ KTRDR_DATA_DIR: '/srv/ktrdr' }, () => {
      expect(getDataSettings()).toEqual({
        dir: '/srv/ktrdr',
        models_dir: '/srv/ktrdr/models',
        bars_cache_mb: 512,
      });
      expect(getCheckpointSettings().dir).toBe('/srv/ktrdr/checkpoints');
      expect(getDatabaseSettings().dir).toBe('/srv/ktrdr/db');
    });
  });

  it('has the event stream defaults and reads the CLI API key from KTRDR_API_KEY', () => {
    withEnv({}, () => {
      expect(getEventsSettings()).toEqual({
        heartbeat_interval: 15,
        replay_buffer_size: 1000,
        client_buffer_size: 500,
        client_stall_timeout: 30,
        max_clients: 1000,
      });
      expect(getApiClientSettings().api_key).toBeUndefined();
    });
    withEnv({ KTRDR_API_KEY: 'k-123' }, () => expect(getApiClientSettings().api_key).toBe('k-123'));
    const key = describeSettings(ApiClientSettings).find((d) => d.field === 'api_key');
    expect(key).toMatchObject({ env: 'KTRDR_API_KEY', secret: true });
  });

  it('validates the CLI component: the API client, data dir and terminal settings', () => {
    expect(() => validateAll('cli', {})).not.toThrow();
    expect(() => validateAll('cli', { KTRDR_API_CLIENT_RETRIES: '-1' })).toThrow(
      /KTRDR_API_CLIENT_RETRIES/,
    );
    // The backend's own settings are not the CLI's concern.
    expect(() => validateAll('cli', { KTRDR_EVENTS_HEARTBEAT_INTERVAL: '0' })).not.toThrow();
    expect(() => validateAll('backend', { KTRDR_EVENTS_HEARTBEAT_INTERVAL: '0' })).toThrow(
      /KTRDR_EVENTS_HEARTBEAT_INTERVAL/,
    );
  });

  it('describes the worker port as the canonical default 5003', () => {
    const port = describeSettings(WorkerSettings).find((d) => d.field === 'port');
    expect(port).toMatchObject({ env: 'KTRDR_WORKER_PORT', default: '5003', type: 'integer' });
    expect(port?.description).toMatch(/canonical default/);
  });
});

describe('every variable name', () => {
  for (const cls of ALL_SETTINGS) {
    for (const [name, f] of fieldsOf(cls)) {
      const env = envNameOf(cls, name);
      it(`${env} sets ${cls.name}.${name}`, () => {
        const { raw, expected } = sampleValue(f);
        const loaded = loadSettings(cls, { env: { [env]: raw } }) as Record<string, unknown>;
        expect(loaded[name]).toEqual(expected);
      });
      for (const old of f.deprecated ?? []) {
        it(`deprecated ${old} still sets ${cls.name}.${name} and warns once, naming ${env}`, () => {
          const { raw, expected } = sampleValue(f);
          const a = loadSettings(cls, { env: { [old]: raw } }) as Record<string, unknown>;
          loadSettings(cls, { env: { [old]: raw } });
          expect(a[name]).toEqual(expected);
          const mine = warnings.filter((w) => w.includes(old));
          expect(mine).toHaveLength(1);
          expect(mine[0]).toContain(env);
        });
      }
    }
  }

  it('DEPRECATED_NAMES is derived from the declarations', () => {
    expect(DEPRECATED_NAMES).toMatchObject({
      WORKER_PORT: 'KTRDR_WORKER_PORT',
      WORKER_ID: 'KTRDR_WORKER_ID',
      KTRDR_WORKER_ENDPOINT_URL: 'KTRDR_WORKER_PUBLIC_BASE_URL',
      WORKER_ENDPOINT_URL: 'KTRDR_WORKER_PUBLIC_BASE_URL',
      WORKER_PUBLIC_BASE_URL: 'KTRDR_WORKER_PUBLIC_BASE_URL',
      WORKER_REMOVAL_THRESHOLD: 'KTRDR_WORKER_REMOVAL_THRESHOLD',
      KTRDR_API_URL: 'KTRDR_API_CLIENT_BASE_URL',
      DATA_DIR: 'KTRDR_DATA_DIR',
      MODELS_DIR: 'KTRDR_DATA_MODELS_DIR',
      DB_PASSWORD: 'KTRDR_DB_PASSWORD',
      ORPHAN_TIMEOUT_SECONDS: 'KTRDR_ORPHAN_TIMEOUT_SECONDS',
      CHECKPOINT_DIR: 'KTRDR_CHECKPOINT_DIR',
    });
    let count = 0;
    for (const cls of ALL_SETTINGS)
      for (const [name, f] of fieldsOf(cls))
        for (const old of f.deprecated ?? []) {
          expect(DEPRECATED_NAMES[old]).toBe(envNameOf(cls, name));
          count++;
        }
    expect(Object.keys(DEPRECATED_NAMES)).toHaveLength(count);
  });
});

describe('precedence and conflicts', () => {
  it('explicit override > new name > old name > .env.local > default', () => {
    const all = { KTRDR_WORKER_PORT: '6001', WORKER_PORT: '6002' };
    expect(loadSettings(WorkerSettings, { env: all, overrides: { port: 6000 } }).port).toBe(6000);
    expect(loadSettings(WorkerSettings, { env: all }).port).toBe(6001);
    expect(loadSettings(WorkerSettings, { env: { WORKER_PORT: '6002' } }).port).toBe(6002);
    withEnv({}, () => expect(getWorkerSettings().port).toBe(6003), { KTRDR_WORKER_PORT: '6003' });
    withEnv({ WORKER_PORT: '6002' }, () => expect(getWorkerSettings().port).toBe(6002), {
      KTRDR_WORKER_PORT: '6003',
    });
    withEnv({}, () => expect(getWorkerSettings().port).toBe(5003));
  });

  it('warns loudly when an old and a new name disagree, and the new one wins', () => {
    withEnv({ KTRDR_WORKER_PORT: '6001', WORKER_PORT: '5050' }, () => {
      expect(getWorkerSettings().port).toBe(6001);
    });
    expect(
      warnings.some((w) =>
        /Both KTRDR_WORKER_PORT and .*WORKER_PORT.*KTRDR_WORKER_PORT wins/.test(w),
      ),
    ).toBe(true);
  });

  it('does not warn about a conflict when both names carry the same value', () => {
    loadSettings(WorkerSettings, { env: { KTRDR_WORKER_PORT: '6001', WORKER_PORT: '6001' } });
    expect(warnings.filter((w) => w.startsWith('Both'))).toHaveLength(0);
  });

  it('a removed value (KTRDR_DB_DRIVER=pglite) loads as its replacement and warns once, with why', () => {
    for (let i = 0; i < 2; i++) {
      expect(loadSettings(DatabaseSettings, { env: { KTRDR_DB_DRIVER: 'PGlite' } }).driver).toBe(
        'sqlite',
      );
    }
    expect(warnings.filter((w) => w.includes('KTRDR_DB_DRIVER=pglite'))).toEqual([
      'KTRDR_DB_DRIVER=pglite is deprecated (the PGlite driver was removed in 0.2.0; the embedded store is SQLite, and a PGlite directory of 0.1 is not read); using sqlite.',
    ]);
    expect(() => loadSettings(DatabaseSettings, { env: { KTRDR_DB_DRIVER: 'mysql' } })).toThrow(
      /KTRDR_DB_DRIVER: must be one of sqlite, postgres/,
    );
  });

  it('old names are tried in the declared order', () => {
    const s = loadSettings(WorkerSettings, {
      env: { WORKER_ENDPOINT_URL: 'http://b:1', KTRDR_WORKER_ENDPOINT_URL: 'http://a:1' },
    });
    expect(s.public_base_url).toBe('http://a:1');
  });

  it('warnDeprecatedEnvVars returns the old names found and warns once per name', () => {
    const env = { WORKER_PORT: '5050', DB_HOST: 'db', KTRDR_WORKER_PORT: '5051' };
    expect(warnDeprecatedEnvVars(env).sort()).toEqual(['DB_HOST', 'WORKER_PORT']);
    warnDeprecatedEnvVars(env);
    expect(warnings.filter((w) => w.startsWith('WORKER_PORT is deprecated'))).toHaveLength(1);
    expect(warnings.filter((w) => w.startsWith('DB_HOST is deprecated'))).toHaveLength(1);
    expect(warnings.filter((w) => w.startsWith('Both KTRDR_WORKER_PORT'))).toHaveLength(1);
  });
});

describe('constraints and errors', () => {
  it.each(['abc', '-1', '0', '99999', '50.5', ''])('KTRDR_WORKER_PORT=%j', (raw) => {
    const env = { KTRDR_WORKER_PORT: raw };
    if (raw === '') {
      // An empty value counts as unset.
      expect(loadSettings(WorkerSettings, { env }).port).toBe(5003);
      return;
    }
    expect(() => validateAll('worker', env)).toThrow(ConfigurationError);
    try {
      validateAll('worker', env);
    } catch (e) {
      const err = e as ConfigurationError;
      expect(err.code).toBe('CONFIG-ValidationFailed');
      expect(err.details.errors).toEqual([
        `KTRDR_WORKER_PORT: must be an integer between 1 and 65535 (got "${raw}")`,
      ]);
    }
  });

  it('accepts the port bounds 1 and 65535', () => {
    expect(loadSettings(WorkerSettings, { env: { KTRDR_WORKER_PORT: '1' } }).port).toBe(1);
    expect(loadSettings(WorkerSettings, { env: { KTRDR_WORKER_PORT: '65535' } }).port).toBe(65535);
  });

  it('names the deprecated variable a bad value came from', () => {
    expect(() => validateAll('worker', { WORKER_PORT: 'x' })).toThrow(
      /WORKER_PORT \(deprecated name of KTRDR_WORKER_PORT\): must be an integer/,
    );
  });

  it('bounds the backtest checkpoint interval and the bars cache', () => {
    expect(getCheckpointSettings().backtest_interval_seconds).toBe(2);
    withEnv(
      { KTRDR_CHECKPOINT_BACKTEST_INTERVAL_SECONDS: '0.25', KTRDR_DATA_BARS_CACHE_MB: '0' },
      () => {
        expect(getCheckpointSettings().backtest_interval_seconds).toBe(0.25);
        expect(getDataSettings().bars_cache_mb).toBe(0);
      },
    );
    withEnv({ KTRDR_CHECKPOINT_BACKTEST_INTERVAL_SECONDS: '0' }, () => {
      expect(() => getCheckpointSettings()).toThrow(/KTRDR_CHECKPOINT_BACKTEST_INTERVAL_SECONDS/);
    });
    withEnv({ KTRDR_DATA_BARS_CACHE_MB: '-1' }, () => {
      expect(() => getDataSettings()).toThrow(/KTRDR_DATA_BARS_CACHE_MB/);
    });
  });

  it('reports every problem of a component at once, each line starting with the variable', () => {
    const env = {
      KTRDR_WORKER_PORT: 'abc',
      KTRDR_WORKER_HEARTBEAT_INTERVAL: '0',
      KTRDR_API_CLIENT_BASE_URL: 'ftp://x',
      KTRDR_CHECKPOINT_EPOCH_INTERVAL: '-3',
      KTRDR_LOG_LEVEL: 'loud',
      KTRDR_LOG_JSON: 'maybe',
    };
    let errors: readonly string[] = [];
    try {
      validateAll('worker', env);
    } catch (e) {
      errors = (e as ConfigurationError).details.errors;
    }
    expect(errors.map((l) => l.split(':')[0]).sort()).toEqual(
      [
        'KTRDR_API_CLIENT_BASE_URL',
        'KTRDR_CHECKPOINT_EPOCH_INTERVAL',
        'KTRDR_LOG_JSON',
        'KTRDR_LOG_LEVEL',
        'KTRDR_WORKER_HEARTBEAT_INTERVAL',
        'KTRDR_WORKER_PORT',
      ].sort(),
    );
    expect(errors.find((l) => l.startsWith('KTRDR_LOG_LEVEL'))).toContain(
      'one of error, warn, log, debug, verbose',
    );
  });

  it('a worker validates every class it uses: logging, observability, worker, checkpoint, orphan detector, operations, database', () => {
    const env = {
      KTRDR_LOG_JSON: 'maybe',
      KTRDR_OTEL_ENDPOINT: 'nope',
      KTRDR_WORKER_HEARTBEAT_INTERVAL: '0',
      KTRDR_CHECKPOINT_MAX_AGE_DAYS: '0',
      KTRDR_ORPHAN_TIMEOUT_SECONDS: '0',
      KTRDR_OPS_CLEANUP_INTERVAL_SECONDS: '0',
      KTRDR_DB_PORT: '0',
    };
    let errors: readonly string[] = [];
    try {
      validateAll('worker', env);
    } catch (e) {
      errors = (e as ConfigurationError).details.errors;
    }
    expect(errors.map((l) => l.split(':')[0]).sort()).toEqual(Object.keys(env).sort());
    expect(() => validateAll('worker', { KTRDR_OPS_RETENTION_DAYS: '-1' })).toThrow(
      /KTRDR_OPS_RETENTION_DAYS: must be a number between 0.001 and 3650 \(got "-1"\)/,
    );
  });

  it('validates only what a component needs', () => {
    const env = { KTRDR_API_PORT: 'nope' };
    expect(() => validateAll('worker', env)).not.toThrow();
    expect(() => validateAll('backend', env)).toThrow(/KTRDR_API_PORT/);
    expect(() => validateAll('all', env)).toThrow(/KTRDR_API_PORT/);
  });

  it('a cached getter throws a ConfigurationError naming the variable', () => {
    withEnv({ KTRDR_WORKER_PORT: '99999' }, () => {
      expect(() => getWorkerSettings()).toThrow(/KTRDR_WORKER_PORT: must be an integer/);
    });
  });

  it('rejects URLs without a host or with another scheme', () => {
    for (const raw of ['localhost:8000', 'http://', 'ftp://host/x', 'not a url'])
      expect(() =>
        loadSettings(ApiClientSettings, { env: { KTRDR_API_CLIENT_BASE_URL: raw } }),
      ).toThrow(/KTRDR_API_CLIENT_BASE_URL: must be an absolute http or https URL with a host/);
  });

  it('checks explicit overrides against the constraints too', () => {
    expect(() => loadSettings(WorkerSettings, { overrides: { port: 70000 } })).toThrow(
      /KTRDR_WORKER_PORT \(explicit override\)/,
    );
  });
});

describe('secrets', () => {
  const secretValue = 'S3cr3t-do-not-print';

  it('never echoes a secret in an error', () => {
    try {
      validateAll('all', { KTRDR_TEST_POSTGRES_URL: `nonsense-${secretValue}` });
      throw new Error('expected a ConfigurationError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigurationError);
      const err = e as ConfigurationError;
      expect(err.message).toContain('KTRDR_TEST_POSTGRES_URL');
      expect(err.message).toContain('value hidden');
      expect(err.message).not.toContain(secretValue);
    }
  });

  it('never echoes a secret in warnings', () => {
    loadSettings(DatabaseSettings, {
      env: { KTRDR_DB_PASSWORD: secretValue, DB_PASSWORD: `${secretValue}2` },
    });
    expect(warnings.length).toBeGreaterThan(0);
    for (const w of warnings) expect(w).not.toContain(secretValue);
  });

  it('marks secrets in describeSettings and leaves them empty in .env.example', () => {
    const token = describeSettings(WorkerSettings).find((d) => d.field === 'registration_token');
    expect(token?.secret).toBe(true);
    expect(renderEnvExample()).toContain('# KTRDR_WORKER_REGISTRATION_TOKEN=\n');
    expect(renderEnvExample()).toContain('# KTRDR_DB_PASSWORD=\n');
  });
});

describe('insecure defaults', () => {
  it('KTRDR_ENV=production refuses the default database password and a missing token', () => {
    const env = { KTRDR_ENV: 'production', KTRDR_DB_DRIVER: 'postgres' };
    let errors: readonly string[] = [];
    try {
      validateAll('backend', env);
    } catch (e) {
      errors = (e as ConfigurationError).details.errors;
    }
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/^KTRDR_API_KEYS_FILE: must be set explicitly.*no API key/);
    expect(errors[1]).toMatch(/^KTRDR_WORKER_REGISTRATION_TOKEN: must be set explicitly/);
    expect(errors[2]).toMatch(
      /^KTRDR_DB_PASSWORD: must be set explicitly when KTRDR_ENV=production/,
    );
  });

  it('production refuses a registration token shorter than 32 characters, without echoing it', () => {
    const short = 'short-token-31-characters-long!';
    expect(short).toHaveLength(31);
    let errors: readonly string[] = [];
    try {
      validateAll('worker', { KTRDR_ENV: 'production', KTRDR_WORKER_REGISTRATION_TOKEN: short });
    } catch (e) {
      errors = (e as ConfigurationError).details.errors;
    }
    expect(errors).toEqual([
      'KTRDR_WORKER_REGISTRATION_TOKEN: must be at least 32 characters when KTRDR_ENV=production (got 31, value hidden)',
    ]);
    expect(() =>
      validateAll('worker', {
        KTRDR_ENV: 'production',
        KTRDR_WORKER_REGISTRATION_TOKEN: `${short}x`,
      }),
    ).not.toThrow();
    // Outside production a short token is accepted.
    expect(() => validateAll('worker', { KTRDR_WORKER_REGISTRATION_TOKEN: 't' })).not.toThrow();
  });

  it('production accepts API keys given as digests, in settings or a keys file', () => {
    const token = 't'.repeat(32);
    expect(() =>
      validateAll('backend', {
        KTRDR_ENV: 'production',
        KTRDR_WORKER_REGISTRATION_TOKEN: token,
        KTRDR_API_READ_KEY_SHA256: 'f'.repeat(64),
      }),
    ).not.toThrow();
    expect(() =>
      validateAll('backend', {
        KTRDR_ENV: 'production',
        KTRDR_WORKER_REGISTRATION_TOKEN: token,
        KTRDR_API_KEYS_FILE: '/etc/ktrdr/keys.json',
      }),
    ).not.toThrow();
  });

  it('production accepts explicitly set values; the embedded driver has no password to protect', () => {
    expect(() =>
      validateAll('backend', {
        KTRDR_ENV: 'production',
        KTRDR_DB_DRIVER: 'postgres',
        KTRDR_DB_PASSWORD: 'x',
        KTRDR_WORKER_REGISTRATION_TOKEN: 't'.repeat(32),
        KTRDR_API_OPERATE_KEY_SHA256: '0'.repeat(64),
      }),
    ).not.toThrow();
    expect(() =>
      validateAll('backend', {
        KTRDR_ENV: 'production',
        KTRDR_WORKER_REGISTRATION_TOKEN: 't'.repeat(32),
        KTRDR_API_OPERATE_KEY_SHA256: '0'.repeat(64),
      }),
    ).not.toThrow();
  });

  it('other environments warn, unless acknowledged; not about what a development secret covers', () => {
    // The API key and the registration token are generated outside production, and the backend says
    // where (once); every service repeating it was noise.
    expect(warnInsecureDefaults('backend', { KTRDR_DB_DRIVER: 'postgres' })).toEqual([
      'KTRDR_DB_PASSWORD',
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnInsecureDefaults('worker', {})).toEqual([]);
    expect(
      warnInsecureDefaults('backend', {
        KTRDR_DB_DRIVER: 'postgres',
        KTRDR_ACKNOWLEDGE_INSECURE_DEFAULTS: 'true',
      }),
    ).toEqual([]);
  });
});

describe('unknown names', () => {
  it('suggests the closest known name', () => {
    expect(
      findUnknownEnvVars({
        KTRDR_WORKR_PORT: '1',
        KTRDR_TOTALLY_DIFFERENT_THING: '1',
        PATH: '/bin',
      }),
    ).toEqual([
      { name: 'KTRDR_TOTALLY_DIFFERENT_THING' },
      { name: 'KTRDR_WORKR_PORT', suggestion: 'KTRDR_WORKER_PORT' },
    ]);
    expect(warnUnknownEnvVars({ KTRDR_ORPHAN_TIMEOUT: '5' })).toEqual(['KTRDR_ORPHAN_TIMEOUT']);
    expect(warnings[0]).toMatch(/did you mean KTRDR_ORPHAN_TIMEOUT_SECONDS\?/);
  });

  it('says why a removed setting is ignored instead of guessing a near name', () => {
    expect(
      warnUnknownEnvVars({
        KTRDR_OPS_CACHE_TTL: '1',
        OPERATIONS_CACHE_TTL: '1',
        KTRDR_OPS_MAX_OPERATIONS: '5',
      }),
    ).toEqual(['KTRDR_OPS_CACHE_TTL', 'OPERATIONS_CACHE_TTL', 'KTRDR_OPS_MAX_OPERATIONS']);
    expect(warnings).toEqual([
      expect.stringMatching(/^KTRDR_OPS_CACHE_TTL is ignored: removed in 0\.2\.0/),
      expect.stringMatching(/^OPERATIONS_CACHE_TTL is ignored: removed in 0\.2\.0/),
      expect.stringMatching(
        /^KTRDR_OPS_MAX_OPERATIONS is ignored: removed in 0\.2\.0.*KTRDR_OPS_RETENTION_DAYS/,
      ),
    ]);
    expect(() => validateAll('all', { KTRDR_OPS_CACHE_TTL: '-1' })).not.toThrow();
  });

  it('knows every declared and deprecated KTRDR_ name', () => {
    const env: Record<string, string> = {};
    for (const cls of ALL_SETTINGS)
      for (const [name, f] of fieldsOf(cls)) {
        env[envNameOf(cls, name)] = '1';
        for (const old of f.deprecated ?? []) env[old] = '1';
      }
    expect(findUnknownEnvVars(env)).toEqual([]);
  });
});

describe('caching', () => {
  it('returns the same frozen object until the cache is cleared', () => {
    withEnv({ KTRDR_WORKER_PORT: '6100' }, () => {
      const a = getWorkerSettings();
      expect(getWorkerSettings()).toBe(a);
      expect(Object.isFrozen(a)).toBe(true);
      clearSettingsCache();
      const b = getWorkerSettings();
      expect(b).not.toBe(a);
      expect(b).toEqual(a);
    });
  });

  it('withEnv restores the previous environment, also after an async function', async () => {
    await withEnv({ KTRDR_WORKER_PORT: '6200' }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      expect(getWorkerSettings().port).toBe(6200);
    });
    withEnv({}, () => expect(getWorkerSettings().port).toBe(5003));
    expect(() =>
      withEnv({}, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
  });

  it('childProcessEnv copies the active environment and applies overrides', () => {
    withEnv({ A: '1', B: '2' }, () => {
      expect(childProcessEnv({ B: undefined, C: '3' })).toEqual({ A: '1', C: '3' });
    });
  });

  it('CLI colours follow NO_COLOR and FORCE_COLOR', () => {
    withEnv({ NO_COLOR: '1' }, () => expect(getCliSettings().no_color).toBe(true));
    withEnv({ NO_COLOR: '' }, () => expect(getCliSettings().no_color).toBe(false));
    withEnv({ FORCE_COLOR: '0' }, () => expect(getCliSettings().force_color).toBe(false));
    withEnv({ FORCE_COLOR: '1' }, () => expect(getCliSettings().force_color).toBe(true));
  });
});

describe('loadSettingsOrExit', () => {
  class Exit extends Error {
    constructor(readonly code: number) {
      super(`exit ${code}`);
    }
  }
  const exit = (code: number): never => {
    throw new Exit(code);
  };

  it('prints a readable block naming the variable and exits with 1', () => {
    const err = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      withEnv({ KTRDR_WORKER_PORT: 'abc' }, () =>
        loadSettingsOrExit('worker', 'backtest-worker', exit),
      );
      throw new Error('expected exit');
    } catch (e) {
      expect(e).toBeInstanceOf(Exit);
      expect((e as Exit).code).toBe(1);
    }
    const printed = err.mock.calls.map((c) => String(c[0])).join('\n');
    err.mockRestore();
    expect(printed).toContain('backtest-worker: invalid configuration');
    expect(printed).toContain(
      'KTRDR_WORKER_PORT: must be an integer between 1 and 65535 (got "abc")',
    );
  });

  it('returns on valid configuration after warning about old and unknown names', () => {
    withEnv({ WORKER_PORT: '5050', KTRDR_WORKR_ID: 'x' }, () => {
      loadSettingsOrExit('worker', 'w', exit);
      expect(getWorkerSettings().port).toBe(5050);
    });
    expect(
      warnings.some((w) => w.startsWith('WORKER_PORT is deprecated; use KTRDR_WORKER_PORT')),
    ).toBe(true);
    expect(warnings.some((w) => w.includes('did you mean KTRDR_WORKER_ID?'))).toBe(true);
  });
});

describe('generated docs', () => {
  it('lists every variable and deprecated name', () => {
    const md = renderConfigurationMarkdown();
    const example = renderEnvExample();
    for (const cls of ALL_SETTINGS)
      for (const [name, f] of fieldsOf(cls)) {
        expect(md).toContain(`\`${envNameOf(cls, name)}\``);
        expect(example).toContain(`# ${envNameOf(cls, name)}=`);
        for (const old of f.deprecated ?? []) expect(md).toContain(`\`${old}\``);
      }
    expect(example).toContain('# KTRDR_WORKER_PORT=5003\n');
  });
});

describe('parseDotenv', () => {
  it('reads KEY=VALUE lines with comments, export and quotes', () => {
    expect(
      parseDotenv('# c\nexport A=1\nB = "two words"\nC=\'x#y\'\nD=v # trailing\n\nnot a line\n'),
    ).toEqual({ A: '1', B: 'two words', C: 'x#y', D: 'v' });
  });
});

describe('bounds of intervals and timeouts', () => {
  /** setTimeout fires at once for delays above 2^31-1 ms (and warns): no setting may reach it. */
  const TIMER_LIMIT_MS = 2 ** 31 - 1;
  const TIMED = /interval|timeout|threshold|grace|ttl|deadline|window|_seconds$|_ms$|_days$/;

  const timed = ALL_SETTINGS.flatMap((cls) =>
    fieldsOf(cls)
      .filter(
        ([name, f]) =>
          TIMED.test(name) &&
          name !== 'epoch_interval' && // a count of units, not a time
          (f.kind === 'number' || f.kind === 'integer'),
      )
      .map(([name, f]) => [envNameOf(cls, name), name, f] as const),
  );

  it('finds the timed settings', () => {
    expect(timed.length).toBeGreaterThanOrEqual(18);
  });

  it.each(timed)(
    '%s has a lower bound and an upper bound below the timer limit',
    (env, name, f) => {
      const unitMs = name.endsWith('_ms') ? 1 : name.endsWith('_days') ? 86_400_000 : 1000;
      expect(f.max).toBeDefined();
      // Ages in days are compared with timestamps, never given to a timer; they still have bounds.
      if (!name.endsWith('_days')) expect(f.max! * unitMs).toBeLessThan(TIMER_LIMIT_MS);
      const lower = f.min ?? f.gt;
      expect(lower).toBeDefined();
      // A zero lower bound only for throttles and caches where 0 means "off", never for a loop period.
      if (lower === 0) expect(name).toMatch(/progress_interval_ms/);
      // The values of the attack report are refused: a timer overflow and a busy loop.
      if (unitMs === 1000) {
        expect(() => validateAll('all', { [env]: '3000000' })).toThrow(env);
        if (lower !== 0) expect(() => validateAll('all', { [env]: '0.000001' })).toThrow(env);
      }
    },
  );
});

describe('credentials inside URLs', () => {
  it('are never echoed in configuration errors', () => {
    for (const raw of [
      'http://admin:hunter2@backend:bad-port/api/v1',
      'ftp://admin:hunter2@backend/api/v1',
      'http://admin:hunter2@',
    ]) {
      try {
        validateAll('worker', { KTRDR_API_CLIENT_BASE_URL: raw });
        throw new Error(`expected ${raw} to be refused`);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigurationError);
        expect((e as Error).message).toContain('KTRDR_API_CLIENT_BASE_URL');
        expect((e as Error).message).not.toContain('hunter2');
        expect((e as Error).message).toContain('***@');
      }
    }
  });

  it('redactUrlCredentials hides user and password of every URL in a text', () => {
    expect(redactUrlCredentials('a http://u:p@h:1/x and postgres://only-user@db/k')).toBe(
      'a http://***@h:1/x and postgres://***@db/k',
    );
    expect(redactUrlCredentials('http://host/path?q=a@b')).toBe('http://host/path?q=a@b');
    // A password that contains `@` is hidden whole.
    expect(redactUrlCredentials('postgres://u:p@ss@db:5432/k')).toBe('postgres://***@db:5432/k');
  });
});

describe('API key digests', () => {
  it('must be 64 hex characters each; the value is never echoed', () => {
    try {
      validateAll('backend', { KTRDR_API_OPERATE_KEY_SHA256: `${'a'.repeat(64)},my-plain-key` });
      throw new Error('expected a ConfigurationError');
    } catch (e) {
      const errors = (e as ConfigurationError).details.errors;
      expect(errors).toEqual([
        'KTRDR_API_OPERATE_KEY_SHA256: must be a comma-separated list of SHA-256 hex digests (64 hex characters) (value hidden)',
      ]);
    }
  });
});

describe('development secrets', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ktrdr-devsecret-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates an owner-only file once and reads the same secret afterwards', () => {
    const file = path.join(dir, 'sub', 'dev-worker-token');
    const first = readOrCreateSecretFile(file);
    expect(first.created).toBe(true);
    expect(first.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${first.value}\n`);
    const second = readOrCreateSecretFile(file);
    expect(second).toEqual({ value: first.value, file, created: false });
    // No temporary files are left behind.
    expect(fs.readdirSync(path.dirname(file))).toEqual(['dev-worker-token']);
  });

  it('tightens a file readable by others and refuses one without a usable secret', () => {
    const file = path.join(dir, 'dev-api-key');
    fs.writeFileSync(file, `${'k'.repeat(40)}\n`, { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    expect(readOrCreateSecretFile(file).value).toBe('k'.repeat(40));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.writeFileSync(file, 'short\n');
    expect(() => readOrCreateSecretFile(file)).toThrow(/does not hold a usable secret/);
  });

  it('resolveRegistrationToken: the configured token, else the shared development file, never in production', () => {
    withEnv({ KTRDR_DATA_DIR: dir, KTRDR_WORKER_REGISTRATION_TOKEN: 'configured' }, () => {
      expect(resolveRegistrationToken()).toEqual({ token: 'configured', source: 'configured' });
    });
    const a = withEnv({ KTRDR_DATA_DIR: dir }, () => resolveRegistrationToken());
    const b = withEnv({ KTRDR_DATA_DIR: dir, KTRDR_ENV: 'test' }, () => resolveRegistrationToken());
    expect(a.source).toBe('generated');
    expect(a.file).toBe(devWorkerTokenPath(dir));
    expect(b.token).toBe(a.token);
    expect(
      withEnv({ KTRDR_DATA_DIR: dir, KTRDR_ENV: 'production' }, () => resolveRegistrationToken()),
    ).toEqual({
      token: undefined,
      source: 'none',
    });
    expect(devApiKeyPath(dir)).toBe(path.join(dir, 'dev-api-key'));
  });
});
