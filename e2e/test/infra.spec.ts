/**
 * Static checks of infra/: the scripts pass shellcheck, the Prometheus configs (compose and
 * `npm run dev`) pass `promtool check config`, the alert rules pass `promtool check rules` and their
 * unit tests (`promtool test rules`), the compose file validates with docker-compose v1 (and v2 when
 * present) and keeps its invariants (Jaeger wired to every service), the Dockerfile works with the
 * legacy builder and a shell-less base image, and the Grafana dashboard has its variables, rows and
 * panels and queries metrics the backend or the worker runtime define (@ktrdr/system-tests checks
 * the same queries against real scrapes). A check whose tool is not installed is skipped (and
 * reported as skipped), never passed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../src/harness/paths';

const infra = (...p: string[]) => path.join(REPO_ROOT, 'infra', ...p);
const COMPOSE = infra('compose', 'docker-compose.yml');

function has(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function run(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.error) return { code: 127, out: r.error.message };
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

/** Parses a YAML file (the same library kinfra renders its compose files with). */
function yamlFile(file: string): unknown {
  // Merge keys (`<<: *defaults`) as docker-compose reads them.
  return parseYaml(fs.readFileSync(file, 'utf8'), { merge: true });
}

const itIf = (cond: boolean) => (cond ? it : it.skip);

describe('infra scripts', () => {
  const scripts = fs
    .readdirSync(infra('scripts'))
    .filter((f) => f.endsWith('.sh'))
    .map((f) => infra('scripts', f));

  it('are the expected, executable scripts', () => {
    const names = scripts.map((s) => path.basename(s)).sort();
    expect(names).toEqual(
      expect.arrayContaining(['build-images.sh', 'ensure-docker.sh', 'make-node-image.sh']),
    );
    for (const s of scripts) expect(fs.statSync(s).mode & 0o100).toBeTruthy();
  });

  itIf(has('shellcheck'))('pass shellcheck', () => {
    const r = run('shellcheck', scripts);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('infra/prometheus', () => {
  itIf(has('promtool'))(
    'prometheus.yml (compose) and prometheus.dev.yml (npm run dev) pass promtool check config, with the alert rules',
    () => {
      for (const file of ['prometheus.yml', 'prometheus.dev.yml']) {
        const r = run('promtool', ['check', 'config', infra('prometheus', file)]);
        expect({ file, out: r.out }).toEqual({
          file,
          out: expect.stringContaining('SUCCESS: 1 rule files found'),
        });
        expect(r.code).toBe(0);
      }
    },
  );

  itIf(has('promtool'))('alerts.yml passes promtool check rules', () => {
    const r = run('promtool', ['check', 'rules', infra('prometheus', 'alerts.yml')]);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  itIf(has('promtool'))('the alert rules pass their unit tests (promtool test rules)', () => {
    const r = run('promtool', ['test', 'rules', infra('prometheus', 'alerts.test.yml')]);
    expect(r.out).toContain('SUCCESS');
    expect(r.out).not.toContain('FAILED');
    expect(r.code).toBe(0);
  });

  it('defines the alerts the operators rely on, each unit-tested firing', () => {
    const rules = yamlFile(infra('prometheus', 'alerts.yml')) as {
      groups: { rules: { alert?: string; labels?: { severity?: string } }[] }[];
    };
    const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    const names = alerts.map((r) => r.alert ?? '');
    expect(names).toEqual(
      expect.arrayContaining([
        'KtrdrBackendDown',
        'KtrdrQueuedWorkWithoutWorker',
        'KtrdrNoWorkerAvailable',
        'KtrdrQueueWaitHigh',
        'KtrdrOperationFailureRatioHigh',
        'KtrdrWorkerFlapping',
      ]),
    );
    for (const a of alerts) expect(['critical', 'warning']).toContain(a.labels?.severity);
    const tests = yamlFile(infra('prometheus', 'alerts.test.yml')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const fired = new Set(
      tests.tests
        .flatMap((t) => t.alert_rule_test ?? [])
        .filter((t) => t.exp_alerts.length > 0)
        .map((t) => t.alertname),
    );
    for (const n of names)
      expect({ alert: n, testedFiring: fired.has(n) }).toEqual({ alert: n, testedFiring: true });
  });

  it('the dev config scrapes the npm run dev ports (backend 8000, workers 5003 and 5005)', () => {
    const cfg = yamlFile(infra('prometheus', 'prometheus.dev.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    expect(cfg.rule_files).toEqual(['alerts.yml']);
    expect(
      Object.fromEntries(cfg.scrape_configs.map((j) => [j.job_name, j.static_configs[0].targets])),
    ).toEqual({
      backend: ['localhost:8000'],
      'backtest-worker': ['localhost:5003'],
      'training-worker': ['localhost:5005'],
    });
  });

  it('scrapes the backend and every worker replica through DNS on the worker port', () => {
    const cfg = yamlFile(infra('prometheus', 'prometheus.yml')) as {
      scrape_configs: {
        job_name: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; type: string; port: number }[];
      }[];
    };
    const jobs = new Map(cfg.scrape_configs.map((j) => [j.job_name, j]));
    expect(jobs.get('backend')?.static_configs?.[0].targets).toEqual(['backend:8000']);
    for (const svc of ['backtest-worker', 'training-worker']) {
      expect(jobs.get(svc)?.dns_sd_configs).toEqual([
        expect.objectContaining({ names: [svc], type: 'A', port: 5003 }),
      ]);
    }
  });
});

describe('infra/compose/docker-compose.yml', () => {
  itIf(has('docker-compose', ['version']))('validates with docker-compose v1', () => {
    const r = run('docker-compose', ['-f', COMPOSE, 'config', '-q']);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  itIf(has('docker', ['compose', 'version']))('validates with docker compose v2', () => {
    const r = run('docker', ['compose', '-f', COMPOSE, 'config', '-q']);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  type Service = {
    image: string;
    init?: boolean;
    cap_drop?: string[];
    security_opt?: string[];
    healthcheck?: { test: string[] };
    depends_on?: Record<string, { condition: string }>;
    ports?: unknown[];
    environment?: Record<string, string>;
    scale?: number | string;
    profiles?: string[];
  };
  const compose = yamlFile(COMPOSE) as { services: Record<string, Service> };

  it('hardens every service and gives each a health check', () => {
    const names = Object.keys(compose.services);
    expect(names).toEqual(
      expect.arrayContaining([
        'postgres',
        'backend',
        'backtest-worker',
        'training-worker',
        'prometheus',
        'grafana',
      ]),
    );
    for (const [name, s] of Object.entries(compose.services)) {
      expect({ name, init: s.init }).toEqual({ name, init: true });
      expect({ name, cap_drop: s.cap_drop }).toEqual({ name, cap_drop: ['ALL'] });
      expect({ name, security_opt: s.security_opt }).toEqual({
        name,
        security_opt: ['no-new-privileges:true'],
      });
      expect({ name, healthcheck: s.healthcheck?.test?.[0] }).toEqual({ name, healthcheck: 'CMD' });
      for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
        expect({ name, dep, condition: cond.condition }).toEqual({
          name,
          dep,
          condition: 'service_healthy',
        });
      }
    }
  });

  it('runs Jaeger (OTLP in) by default and wires every service to it', () => {
    const j = compose.services.jaeger;
    expect(j.image).toMatch(/jaegertracing\/all-in-one/);
    expect(j.profiles).toBeUndefined();
    expect(j.environment?.COLLECTOR_OTLP_ENABLED).toBe('true');
    for (const svc of ['backend', 'backtest-worker', 'training-worker']) {
      expect({ svc, env: compose.services[svc].environment }).toEqual({
        svc,
        env: expect.objectContaining({
          KTRDR_OTEL_ENABLED: '${KTRDR_OTEL_ENABLED:-true}',
          KTRDR_OTEL_ENDPOINT: 'http://jaeger:4318',
        }),
      });
    }
    // Prometheus gets the alert rules next to its config.
    expect(JSON.stringify(compose.services.prometheus)).toContain(
      '../prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro',
    );
  });

  it('runs the backend on PostgreSQL after the database is healthy', () => {
    const b = compose.services.backend;
    expect(b.image).toMatch(/^ktrdr\/backend:/);
    expect(b.environment?.KTRDR_DB_DRIVER).toBe('postgres');
    expect(b.environment?.KTRDR_DB_HOST).toBe('postgres');
    expect(Object.keys(b.depends_on ?? {})).toEqual(['postgres']);
  });

  it('publishes every host port on 127.0.0.1 unless KTRDR_PUBLISH_ADDRESS says otherwise', () => {
    const published = Object.entries(compose.services).flatMap(([name, s]) =>
      (s.ports ?? []).map((p) => ({ name, port: String(p) })),
    );
    expect(published.map((p) => p.name).sort()).toEqual(
      ['backend', 'grafana', 'jaeger', 'postgres', 'prometheus'].sort(),
    );
    for (const p of published) {
      expect(p).toEqual({
        name: p.name,
        port: expect.stringMatching(
          /^\$\{KTRDR_PUBLISH_ADDRESS:-127\.0\.0\.1\}:\$\{KTRDR_[A-Z_]+_PORT:-\d+\}:\d+$/,
        ),
      });
    }
  });

  it('passes the health-check, removal and orphan settings through to the backend', () => {
    const env = compose.services.backend.environment ?? {};
    for (const name of [
      'KTRDR_WORKER_HEALTH_CHECK_INTERVAL',
      'KTRDR_WORKER_HEALTH_CHECK_TIMEOUT',
      'KTRDR_WORKER_HEALTH_CHECK_FAILURES',
      'KTRDR_WORKER_REMOVAL_THRESHOLD',
      'KTRDR_ORPHAN_TIMEOUT_SECONDS',
      'KTRDR_ORPHAN_CHECK_INTERVAL_SECONDS',
    ]) {
      // Empty when unset in the shell, which @ktrdr/config treats as unset (its default applies).
      expect({ name, value: env[name] }).toEqual({ name, value: `\${${name}:-}` });
    }
  });

  it('runs 2+2 scalable workers on the default port: no published ports, no KTRDR_WORKER_PORT, no fixed URL', () => {
    for (const svc of ['backtest-worker', 'training-worker']) {
      const w = compose.services[svc];
      expect(w.image).toMatch(new RegExp(`^ktrdr/${svc}:`));
      // 2 by default; kinfra slots set BACKTEST_WORKERS / TRAINING_WORKERS in their .env.sandbox.
      const countVar = svc === 'backtest-worker' ? 'BACKTEST_WORKERS' : 'TRAINING_WORKERS';
      expect(w.scale).toBe(`\${${countVar}:-2}`);
      expect(w.ports).toBeUndefined();
      expect(w.environment).not.toHaveProperty('KTRDR_WORKER_PORT');
      expect(w.environment).not.toHaveProperty('KTRDR_WORKER_PUBLIC_BASE_URL');
      expect(w.environment?.KTRDR_API_CLIENT_BASE_URL).toBe('http://backend:8000/api/v1');
      expect(Object.keys(w.depends_on ?? {})).toEqual(['backend']);
      expect(JSON.stringify(w.healthcheck)).toContain(':5003/health');
    }
    // No 5002/5004 anywhere (old per-type defaults).
    expect(fs.readFileSync(COMPOSE, 'utf8')).not.toMatch(/\b500[24]\b/);
  });
});

describe('canonical worker port', () => {
  itIf(has('git'))(
    'no tracked source, config, infra or doc file uses 5002 or 5004 (old per-type worker ports)',
    () => {
      const r = run('git', ['ls-files']);
      expect(r.code).toBe(0);
      const files = r.out
        .split('\n')
        .filter(Boolean)
        .filter((f) => !/(\.spec\.ts|\/test\/|\/__tests__\/|pnpm-lock\.yaml)/.test(f))
        .filter((f) => /\.(ts|js|cjs|mjs|json|ya?ml|md|sh|example)$|Dockerfile$/.test(f));
      expect(files.length).toBeGreaterThan(50);
      const offenders = files.filter((f) => {
        const full = path.join(REPO_ROOT, f);
        return fs.existsSync(full) && /\b500[24]\b/.test(fs.readFileSync(full, 'utf8'));
      });
      expect(offenders).toEqual([]);
    },
  );
});

describe('infra/docker/Dockerfile', () => {
  const text = fs.readFileSync(infra('docker', 'Dockerfile'), 'utf8');
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));

  it('builds with the legacy builder on a base image without a shell', () => {
    expect(text).not.toMatch(/^#\s*syntax=/m);
    expect(text).not.toMatch(/--mount|<<EOF|--link/);
    expect(instructions.filter((l) => /^RUN\b/.test(l))).toEqual([]);
    expect(instructions).toContain('ARG NODE_IMAGE=node:20-bookworm-slim');
    expect(instructions).toContain('FROM ${NODE_IMAGE}');
  });

  it('runs as a non-root user with exec-form CMD and HEALTHCHECK and SIGTERM as stop signal', () => {
    const user = instructions.find((l) => l.startsWith('USER '));
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (0|root)\b/);
    expect(instructions.find((l) => l.startsWith('CMD '))).toMatch(/^CMD \[/);
    expect(instructions.find((l) => l.startsWith('HEALTHCHECK '))).toMatch(/CMD \["node", "-e", /);
    expect(instructions).toContain('STOPSIGNAL SIGTERM');
  });
});

describe('infra/grafana', () => {
  interface Panel {
    type: string;
    title: string;
    targets?: { expr: string }[];
    datasource?: { uid: string };
  }
  const dashboard = JSON.parse(
    fs.readFileSync(infra('grafana', 'dashboards', 'ktrdr-workers.json'), 'utf8'),
  ) as {
    uid: string;
    panels: Panel[];
    templating: { list: { name: string; query: { query: string } | string }[] };
  };
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');

  it('uses the provisioned Prometheus datasource', () => {
    const ds = fs.readFileSync(
      infra('grafana', 'provisioning', 'datasources', 'prometheus.yml'),
      'utf8',
    );
    const uid = /uid:\s*(\S+)/.exec(ds)?.[1];
    expect(uid).toBeDefined();
    for (const p of panels)
      expect({ panel: p.title, uid: p.datasource?.uid }).toEqual({ panel: p.title, uid });
  });

  it('has the worker type and instance variables, and the fleet, queue, operations, worker process and alert rows', () => {
    const vars = dashboard.templating.list.map((v) => v.name);
    expect(vars).toEqual(expect.arrayContaining(['worker_type', 'instance']));
    expect(rows).toEqual([
      'Fleet',
      'Queue',
      'Operations',
      'Worker processes ($worker_type, $instance)',
      'Backend',
      'Alerts',
    ]);
    const titles = panels.map((p) => p.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Workers by status and type',
        'Queued operations by type',
        'Queue wait (p50 / p95)',
        'Operation outcomes (per minute)',
        'Operation duration by type (p50 / p95)',
        'Operations by status (per minute)',
        'Dispatch latency',
        'HTTP latency (backend, p95 by route)',
        'Event-loop lag',
        'Worker resident memory',
        'Firing and pending alerts',
      ]),
    );
    expect(exprs).toContain('nodejs_eventloop_lag_seconds');
    expect(exprs).toContain('ALERTS{');
    // Worker process panels follow both variables and never mix in the backend's process.
    for (const p of panels.filter((x) => x.title.startsWith('Worker '))) {
      for (const t of p.targets ?? []) {
        expect({ panel: p.title, expr: t.expr }).toEqual({
          panel: p.title,
          expr: expect.stringMatching(/worker_type=~"\$worker_type".*instance=~"\$instance"/),
        });
      }
    }
    // The standard metric names, never the old `ktrdr_worker_` prefixed copies.
    expect(exprs).not.toMatch(/ktrdr_worker_(nodejs|process)_/);
  });

  it('queries only metrics the backend or the worker runtime define', () => {
    const sources = ['apps/backend/src', 'packages/worker-runtime/src']
      .map((d) => path.join(REPO_ROOT, d))
      .filter((d) => fs.existsSync(d))
      .flatMap((d) => listTs(d))
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
    const used = new Set(
      [...exprs.matchAll(/\b(ktrdr_[a-z_]+?)(?:_bucket|_sum|_count)?\b(?=[{[)\s])/g)].map(
        (m) => m[1],
      ),
    );
    expect(used.size).toBeGreaterThan(10);
    for (const name of used)
      expect({ name, defined: sources.includes(`'${name}'`) }).toEqual({ name, defined: true });
  });
});

function listTs(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return listTs(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [p] : [];
  });
}
