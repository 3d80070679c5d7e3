import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withEnv } from '@ktrdr/config';
import { parse } from 'yaml';
import {
  alertRules,
  envEntries,
  renderCompose,
  renderComposeObject,
  renderEnvFile,
  renderPrometheusObject,
  renderSlotFiles,
  slotRenderInput,
} from '../src/render';
import { PROFILES, ProfileName, allSlots, profileForSlot } from '../src/slots';

interface Service {
  image: string;
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: unknown;
}
interface ComposeDoc {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

function composeOf(slot: number): ComposeDoc {
  return parse(renderCompose(slotRenderInput(slot))) as ComposeDoc;
}

function hostPorts(doc: ComposeDoc): number[] {
  return Object.values(doc.services).flatMap((s) =>
    (s.ports ?? []).map((p) => {
      const parts = String(p).split(':');
      return Number(parts[parts.length - 2]);
    }),
  );
}

describe('docker-compose.yml rendering', () => {
  const SLOT_OF_PROFILE: Record<ProfileName, number> = { light: 1, standard: 5, heavy: 6 };

  it.each(Object.entries(SLOT_OF_PROFILE))(
    '%s profile (slot %d): backend, db, observability and one service per worker',
    (profile, slot) => {
      const doc = composeOf(slot);
      const counts = PROFILES[profile as ProfileName];
      const workers = (kind: string): string[] =>
        Object.keys(doc.services).filter((n) => n.startsWith(`${kind}-worker-`));
      expect(workers('backtest')).toEqual(
        Array.from({ length: counts.backtest }, (_, i) => `backtest-worker-${i + 1}`),
      );
      expect(workers('training')).toEqual(
        Array.from({ length: counts.training }, (_, i) => `training-worker-${i + 1}`),
      );
      expect(
        Object.keys(doc.services)
          .filter((n) => !n.includes('-worker-'))
          .sort(),
      ).toEqual(['backend', 'db', 'grafana', 'jaeger', 'prometheus']);
      // no prototypes or placeholders left
      const text = renderCompose(slotRenderInput(slot));
      expect(text).not.toMatch(/\{\{|x-backtest-worker|x-training-worker/);

      expect(doc.services.backend?.ports).toEqual([`127.0.0.1:${8000 + slot}:8000`]);
      expect(doc.services.db?.ports).toEqual([`127.0.0.1:${5432 + slot}:5432`]);
      expect(doc.services.grafana?.ports).toEqual([`127.0.0.1:${3000 + slot}:3000`]);
      expect(doc.services.jaeger?.ports).toEqual([`127.0.0.1:${16686 + slot}:16686`]);
      expect(doc.services.prometheus?.ports).toEqual([`127.0.0.1:${9090 + slot}:9090`]);
      expect(doc.services.db?.image).toBe('${POSTGRES_IMAGE:-postgres:16-bookworm}');
      expect(doc.services.prometheus?.image).toBe('${PROMETHEUS_IMAGE:-prom/prometheus:v2.53.2}');
      expect(doc.services.grafana?.image).toBe('${GRAFANA_IMAGE:-grafana/grafana:11.2.0}');
      expect(doc.services.jaeger?.image).toBe('${JAEGER_IMAGE:-jaegertracing/all-in-one:1.60}');
      expect(Object.keys(doc.volumes).sort()).toEqual(['data', 'db-data']);
    },
  );

  it('backend talks to its own database with the config variable names', () => {
    const env = composeOf(2).services.backend?.environment;
    expect(env).toMatchObject({
      KTRDR_DB_DRIVER: 'postgres',
      KTRDR_DB_HOST: 'db',
      KTRDR_DB_PORT: '5432',
      KTRDR_DB_NAME: 'ktrdr',
      KTRDR_DB_USER: 'ktrdr',
      KTRDR_DB_PASSWORD: 'ktrdr-sandbox-2',
      KTRDR_API_PORT: '8000',
    });
    expect(composeOf(2).services.backend?.image).toBe('ktrdr/backend:local');
  });

  it('every worker has its own hostname, no host port and no KTRDR_WORKER_PORT', () => {
    const doc = composeOf(6);
    const urls = new Set<string>();
    for (const [name, svc] of Object.entries(doc.services)) {
      if (!name.includes('-worker-')) continue;
      expect(svc.image).toBe(
        name.startsWith('backtest') ? 'ktrdr/backtest-worker:local' : 'ktrdr/training-worker:local',
      );
      expect(svc.ports).toBeUndefined();
      expect(svc.environment).not.toHaveProperty('KTRDR_WORKER_PORT');
      expect(svc.environment?.KTRDR_API_CLIENT_BASE_URL).toBe('http://backend:8000/api/v1');
      expect(svc.environment?.KTRDR_WORKER_PUBLIC_BASE_URL).toBe(`http://${name}:5003`);
      expect(svc.depends_on).toEqual({ backend: { condition: 'service_healthy' } });
      urls.add(svc.environment?.KTRDR_WORKER_PUBLIC_BASE_URL as string);
    }
    expect(urls.size).toBe(8);
  });

  it("container ports come from the config defaults, not from the caller's environment", () => {
    const text = withEnv(
      { KTRDR_WORKER_PORT: '7777', KTRDR_API_PORT: '9999', KTRDR_DB_PORT: '1' },
      () => renderCompose(slotRenderInput(1)),
    );
    expect(text).not.toMatch(/7777|9999/);
    expect(text).toContain('http://backtest-worker-1:5003');
  });

  it('no two slots publish the same host port', () => {
    const seen = new Map<number, number>();
    for (const slot of allSlots()) {
      for (const port of hostPorts(composeOf(slot))) {
        expect(seen.get(port)).toBeUndefined();
        seen.set(port, slot);
      }
    }
    expect(seen.size).toBe(6 * 5);
  });

  it('prometheus scrapes the backend and exactly the slot workers', () => {
    const cfg = renderPrometheusObject(slotRenderInput(5)) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = Object.fromEntries(
      cfg.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]),
    );
    expect(targets).toEqual({
      backend: ['backend:8000'],
      'backtest-workers': ['backtest-worker-1:5003', 'backtest-worker-2:5003'],
      'training-workers': ['training-worker-1:5003', 'training-worker-2:5003'],
    });
  });
});

describe('.env.sandbox', () => {
  it.each(allSlots())('slot %d holds its id, ports, project name and worker counts', (slot) => {
    const text = renderEnvFile(slotRenderInput(slot));
    const vars = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const counts = PROFILES[profileForSlot(slot)];
    expect(vars).toMatchObject({
      SLOT_ID: String(slot),
      KTRDR_API_PORT: String(8000 + slot),
      KTRDR_DB_PORT: String(5432 + slot),
      KTRDR_GRAFANA_PORT: String(3000 + slot),
      KTRDR_JAEGER_UI_PORT: String(16686 + slot),
      KTRDR_PROMETHEUS_PORT: String(9090 + slot),
      COMPOSE_PROJECT_NAME: `ktrdr-slot-${slot}`,
      BACKTEST_WORKERS: String(counts.backtest),
      TRAINING_WORKERS: String(counts.training),
    });
    expect(Object.keys(vars)).toEqual(envEntries(slotRenderInput(slot)).map(([k]) => k));
  });

  it('a slot directory holds .env.sandbox, docker-compose.yml and the observability config', () => {
    const files = Object.keys(renderSlotFiles(slotRenderInput(3)));
    expect(files).toEqual(
      expect.arrayContaining([
        '.env.sandbox',
        'docker-compose.yml',
        'prometheus.yml',
        'alerts.yml',
        'grafana/provisioning/datasources/prometheus.yml',
      ]),
    );
  });

  it("the slot's Prometheus loads the repository's alert rules, mounted next to its config", () => {
    const files = renderSlotFiles(slotRenderInput(2));
    expect(files['alerts.yml']).toBe(
      fs.readFileSync(
        path.join(__dirname, '..', '..', '..', 'infra', 'prometheus', 'alerts.yml'),
        'utf8',
      ),
    );
    expect(
      (renderPrometheusObject(slotRenderInput(2)) as { rule_files: string[] }).rule_files,
    ).toEqual(['alerts.yml']);
    const doc = renderComposeObject(slotRenderInput(2)) as {
      services: Record<string, { volumes?: string[]; environment?: Record<string, string> }>;
    };
    expect(doc.services.prometheus.volumes).toContain('./alerts.yml:/etc/prometheus/alerts.yml:ro');
    expect(alertRules('/nonexistent/alerts.yml')).toMatch(/^# .*no alert rules\.\ngroups: \[\]\n$/);
  });

  it('every service exports its traces to the slot Jaeger (OTLP/HTTP), each under its own name', () => {
    const doc = renderComposeObject(slotRenderInput(5)) as {
      services: Record<string, { environment?: Record<string, string> }>;
    };
    const traced = Object.entries(doc.services).filter(
      ([name]) => name === 'backend' || name.includes('-worker-'),
    );
    expect(traced.length).toBe(5);
    for (const [name, svc] of traced) {
      expect(svc.environment).toMatchObject({
        KTRDR_OTEL_ENABLED: 'true',
        KTRDR_OTEL_ENDPOINT: 'http://jaeger:4318',
        KTRDR_OTEL_SERVICE_NAME: name,
      });
    }
    expect(doc.services.jaeger.environment?.COLLECTOR_OTLP_ENABLED).toBe('true');
  });
});

describe('the slot API key', () => {
  it('goes to .env.sandbox as KTRDR_API_KEY and to the backend as its SHA-256 only', () => {
    const input = { ...slotRenderInput(2), api_key: 'k'.repeat(43) };
    expect(envEntries(input)).toContainEqual(['KTRDR_API_KEY', 'k'.repeat(43)]);
    const compose = renderCompose(input);
    expect(compose).not.toContain('k'.repeat(43));
    expect(compose).toContain(createHash('sha256').update('k'.repeat(43)).digest('hex'));
    // Without a key the backend generates a development one (empty counts as unset).
    expect(envEntries(slotRenderInput(2)).map(([k]) => k)).not.toContain('KTRDR_API_KEY');
  });
});
