/**
 * Renders the files of a slot directory: docker-compose.yml (from templates/docker-compose.slot.yml),
 * prometheus.yml, the Grafana datasource and .env.sandbox. YAML is built as objects and written with the
 * yaml library; the template is parsed, never concatenated as text.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { containerPorts } from './container-ports';
import {
  PROFILES,
  ProfileName,
  SlotPorts,
  composeProjectName,
  profileForSlot,
  slotPorts,
} from './slots';

export const COMPOSE_FILE = 'docker-compose.yml';
export const ENV_FILE = '.env.sandbox';
export const PROMETHEUS_FILE = 'prometheus.yml';
export const ALERTS_FILE = 'alerts.yml';
export const GRAFANA_DATASOURCE_FILE = path.join(
  'grafana',
  'provisioning',
  'datasources',
  'prometheus.yml',
);
export const GRAFANA_DASHBOARDS_PROVIDER_FILE = path.join(
  'grafana',
  'provisioning',
  'dashboards',
  'ktrdr.yml',
);
export const GRAFANA_DASHBOARDS_DIR = path.join('grafana', 'dashboards');
export const TEMPLATE_FILE = 'docker-compose.slot.yml';

/** The repository's Grafana dashboards (infra/grafana/dashboards), when kinfra runs from the repo. */
export function repoDashboardsDir(): string {
  return path.resolve(__dirname, '..', '..', '..', 'infra', 'grafana', 'dashboards');
}

/** The repository's Prometheus alert rules (infra/prometheus/alerts.yml), when kinfra runs from the repo. */
export function repoAlertsFile(): string {
  return path.resolve(__dirname, '..', '..', '..', 'infra', 'prometheus', ALERTS_FILE);
}

/** templates/ ships with the package: one level above both src/ (tests) and dist/ (built CLI). */
export function templatesDir(): string {
  return path.resolve(__dirname, '..', 'templates');
}

export type WorkerKind = 'backtest' | 'training';
export const WORKER_KINDS: readonly WorkerKind[] = ['backtest', 'training'];

export function workerServiceName(kind: WorkerKind, index: number): string {
  return `${kind}-worker-${index}`;
}

/** Service names of a profile's workers, in order: backtest-worker-1..N, training-worker-1..M. */
export function workerServices(profile: ProfileName): { kind: WorkerKind; service: string }[] {
  const counts = PROFILES[profile];
  const out: { kind: WorkerKind; service: string }[] = [];
  for (const kind of WORKER_KINDS) {
    for (let i = 1; i <= counts[kind]; i++) out.push({ kind, service: workerServiceName(kind, i) });
  }
  return out;
}

export interface SlotRenderInput {
  slot: number;
  profile: ProfileName;
  ports: SlotPorts;
  /**
   * The slot's operate API key: written to .env.sandbox as KTRDR_API_KEY (the CLI and kinfra use it) and
   * given to the slot's backend as its SHA-256 only. Absent: the backend generates a development key.
   */
  api_key?: string;
}

export function slotRenderInput(slot: number): SlotRenderInput {
  return { slot, profile: profileForSlot(slot), ports: slotPorts(slot) };
}

type Vars = Readonly<Record<string, string>>;

function substitute(value: string, vars: Vars, where: string): string {
  return value.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`template ${where}: unknown placeholder {{${name}}}`);
    return v;
  });
}

/** Deep copy of a parsed YAML value with placeholders replaced in every string (keys included). */
function fill(value: unknown, vars: Vars, where: string): unknown {
  if (typeof value === 'string') return substitute(value, vars, where);
  if (Array.isArray(value)) return value.map((v) => fill(v, vars, where));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[substitute(k, vars, where)] = fill(v, vars, where);
    return out;
  }
  return value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function loadTemplate(
  file = path.join(templatesDir(), TEMPLATE_FILE),
): Record<string, unknown> {
  const doc: unknown = parse(fs.readFileSync(file, 'utf8'));
  if (!isRecord(doc) || !isRecord(doc.services)) {
    throw new Error(`template ${file}: expected a mapping with "services"`);
  }
  for (const kind of WORKER_KINDS) {
    if (!isRecord(doc[`x-${kind}-worker`])) {
      throw new Error(`template ${file}: missing the x-${kind}-worker prototype`);
    }
  }
  return doc;
}

/** The compose document of a slot (a plain object, ready for yaml.stringify). */
export function renderComposeObject(
  input: SlotRenderInput,
  template: Record<string, unknown> = loadTemplate(),
): Record<string, unknown> {
  const container = containerPorts();
  const base: Record<string, string> = {
    slot: String(input.slot),
    project: composeProjectName(input.slot),
    api_port: String(input.ports.api),
    db_port: String(input.ports.db),
    grafana_port: String(input.ports.grafana),
    jaeger_ui_port: String(input.ports.jaeger_ui),
    prometheus_port: String(input.ports.prometheus),
    container_api_port: String(container.api),
    container_db_port: String(container.db),
    container_worker_port: String(container.worker),
    // Empty without a key: the backend then generates a development key in its data volume.
    api_key_digest: input.api_key ? createHash('sha256').update(input.api_key).digest('hex') : '',
  };
  const services: Record<string, unknown> = {};
  const templateServices = template.services as Record<string, unknown>;
  for (const [name, def] of Object.entries(templateServices)) {
    services[name] = fill(def, { ...base, service: name }, `service ${name}`);
  }
  for (const { kind, service } of workerServices(input.profile)) {
    services[service] = fill(
      template[`x-${kind}-worker`],
      { ...base, service },
      `x-${kind}-worker`,
    );
  }
  const doc: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.startsWith('x-')) continue;
    doc[key] = key === 'services' ? services : fill(value, base, key);
  }
  return doc;
}

function header(input: SlotRenderInput, what: string): string {
  return (
    `# ${what} of kinfra sandbox slot ${input.slot} (profile ${input.profile}).\n` +
    `# Generated by "kinfra sandbox provision"; edits are kept until the slot is re-provisioned.\n`
  );
}

export function renderCompose(input: SlotRenderInput, template?: Record<string, unknown>): string {
  // No top-level `name:` (docker-compose v1 rejects it): the project name is passed with -p and is in
  // .env.sandbox as COMPOSE_PROJECT_NAME.
  const doc = renderComposeObject(input, template);
  return header(input, 'docker-compose.yml') + stringify(doc, { lineWidth: 0 });
}

/** Prometheus configuration: the backend and every worker of the slot (container-side ports). */
export function renderPrometheusObject(input: SlotRenderInput): Record<string, unknown> {
  const container = containerPorts();
  return {
    global: { scrape_interval: '5s', evaluation_interval: '15s' },
    // The repository's alert rules, copied into the slot directory (see alertRules()).
    rule_files: [ALERTS_FILE],
    scrape_configs: [
      {
        job_name: 'backend',
        metrics_path: '/metrics',
        static_configs: [
          { targets: [`backend:${container.api}`], labels: { slot: String(input.slot) } },
        ],
      },
      ...WORKER_KINDS.map((kind) => ({
        job_name: `${kind}-workers`,
        metrics_path: '/metrics',
        static_configs: [
          {
            targets: workerServices(input.profile)
              .filter((w) => w.kind === kind)
              .map((w) => `${w.service}:${container.worker}`),
            labels: { slot: String(input.slot) },
          },
        ],
      })),
    ],
  };
}

export function renderPrometheus(input: SlotRenderInput): string {
  return header(input, 'Prometheus configuration') + stringify(renderPrometheusObject(input));
}

export function renderGrafanaDatasource(input: SlotRenderInput): string {
  return (
    header(input, 'Grafana datasource') +
    stringify({
      apiVersion: 1,
      datasources: [
        {
          name: 'Prometheus',
          type: 'prometheus',
          // the uid the repository's dashboards refer to
          uid: 'ktrdr-prometheus',
          access: 'proxy',
          url: 'http://prometheus:9090',
          isDefault: true,
          editable: false,
        },
      ],
    })
  );
}

export function renderGrafanaDashboardsProvider(input: SlotRenderInput): string {
  return (
    header(input, 'Grafana dashboard provider') +
    stringify({
      apiVersion: 1,
      providers: [
        {
          name: 'ktrdr',
          orgId: 1,
          folder: 'KTRDR',
          type: 'file',
          disableDeletion: true,
          options: { path: '/etc/grafana/dashboards' },
        },
      ],
    })
  );
}

/** Dashboard JSON files copied from the repository (none when it is not available). */
export function dashboardFiles(dir = repoDashboardsDir()): Record<string, string> {
  const files: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return files;
  }
  for (const n of names) {
    files[path.join(GRAFANA_DASHBOARDS_DIR, n)] = fs.readFileSync(path.join(dir, n), 'utf8');
  }
  return files;
}

/**
 * The alert rules a slot's Prometheus loads: the repository's infra/prometheus/alerts.yml, or no
 * rules (with a comment saying why) when kinfra runs without the repository.
 */
export function alertRules(file = repoAlertsFile()): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return `# ${file} was not found when this slot was provisioned: no alert rules.\ngroups: []\n`;
  }
}

/** KEY=value pairs of .env.sandbox, in file order. */
export function envEntries(input: SlotRenderInput): [string, string][] {
  const counts = PROFILES[input.profile];
  return [
    ['SLOT_ID', String(input.slot)],
    ['SLOT_PROFILE', input.profile],
    ['COMPOSE_PROJECT_NAME', composeProjectName(input.slot)],
    ['KTRDR_API_PORT', String(input.ports.api)],
    ['KTRDR_DB_PORT', String(input.ports.db)],
    ['KTRDR_GRAFANA_PORT', String(input.ports.grafana)],
    ['KTRDR_JAEGER_UI_PORT', String(input.ports.jaeger_ui)],
    ['KTRDR_PROMETHEUS_PORT', String(input.ports.prometheus)],
    ['BACKTEST_WORKERS', String(counts.backtest)],
    ['TRAINING_WORKERS', String(counts.training)],
    ['KTRDR_API_CLIENT_BASE_URL', `http://127.0.0.1:${input.ports.api}/api/v1`],
    ...(input.api_key ? ([['KTRDR_API_KEY', input.api_key]] as [string, string][]) : []),
  ];
}

export function renderEnvFile(input: SlotRenderInput): string {
  const lines = envEntries(input).map(([k, v]) => `${k}=${v}`);
  return `${header(input, '.env.sandbox')}${lines.join('\n')}\n`;
}

/** Relative path → content of every file a slot directory holds. */
export function renderSlotFiles(input: SlotRenderInput): Record<string, string> {
  return {
    [ENV_FILE]: renderEnvFile(input),
    [COMPOSE_FILE]: renderCompose(input),
    [PROMETHEUS_FILE]: renderPrometheus(input),
    [ALERTS_FILE]: alertRules(),
    [GRAFANA_DATASOURCE_FILE]: renderGrafanaDatasource(input),
    [GRAFANA_DASHBOARDS_PROVIDER_FILE]: renderGrafanaDashboardsProvider(input),
    ...dashboardFiles(),
  };
}
