/**
 * The fleet environment files, `config/workers.dev.yaml` and `config/workers.prod.yaml`: backend URL,
 * worker health checks and the deployment (docker-compose with a scale per worker type, or Proxmox LXC
 * containers with a template, a network and per-type counts, sizes and IP ranges).
 *
 * One declarative table (FLEET_FILE_KEYS) drives validation, the typed result and the generated docs.
 * Keys that stand for a setting (backend_url, health_check.*) are parsed with that setting's own field,
 * and the setting's variable overrides the file. Every problem names the YAML path, the file and the line.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { LineCounter, isMap, isNode, parseDocument, type Document } from 'yaml';
import type { EnvMap, EnvSources, FileSource, FileValue } from './env';
import { constraintText, editDistance, loadClass, parseRaw, redactUrlCredentials } from './loader';
import { envNameOf, type AnyField, type AnySettingsClass } from './schema';
import { ApiClientSettings, FleetSettings, RuntimeSettings, WorkerSettings } from './settings';

// ── IPv4 helpers ────────────────────────────────────────────────────────────────────────────────

/** `a.b.c.d` → 32-bit number, or undefined when it is not a dotted-quad IPv4 address. */
export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (
    (((parts[0] as number) << 24) >>> 0) +
    ((parts[1] as number) << 16) +
    ((parts[2] as number) << 8) +
    (parts[3] as number)
  );
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  readonly network: number;
  readonly prefix: number;
  readonly text: string;
}

/** `10.0.0.0/24` → network and prefix (the address must be the network address). */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const ip = parseIpv4(m[1] as string);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix < 8 || prefix > 30) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((ip & mask) >>> 0 !== ip) return undefined;
  return { network: ip, prefix, text: `${formatIpv4(ip)}/${prefix}` };
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  const mask = (0xffffffff << (32 - cidr.prefix)) >>> 0;
  const broadcast = (cidr.network | (~mask >>> 0)) >>> 0;
  return ip > cidr.network && ip < broadcast && (ip & mask) >>> 0 === cidr.network;
}

export interface IpRange {
  readonly first: number;
  readonly last: number;
}

/** `10.0.0.101-10.0.0.120` (or a single address) → first and last address. */
export function parseIpRange(text: string): IpRange | undefined {
  const [a, b, ...rest] = text.split('-');
  if (a === undefined || rest.length > 0) return undefined;
  const first = parseIpv4(a);
  const last = b === undefined ? first : parseIpv4(b);
  if (first === undefined || last === undefined || last < first) return undefined;
  return { first, last };
}

// ── the declared keys ───────────────────────────────────────────────────────────────────────────

export const FLEET_WORKER_TYPES = ['backtesting', 'training'] as const;
export type FleetWorkerType = (typeof FLEET_WORKER_TYPES)[number];

export const DEPLOYMENT_TYPES = ['docker-compose', 'proxmox-lxc'] as const;
export type DeploymentType = (typeof DEPLOYMENT_TYPES)[number];

type KeyKind = 'integer' | 'string' | 'enum' | 'cidr' | 'ipv4' | 'ip_range' | 'setting';

/** One key of the fleet file. `<type>` in a path stands for each worker type. */
export interface FleetKey {
  readonly path: string;
  readonly kind: KeyKind;
  readonly description: string;
  readonly required: boolean;
  /** Only allowed (and required when `required`) for this deployment type. */
  readonly when?: DeploymentType;
  readonly default?: string | number;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** The setting the key feeds; its variable overrides the file. */
  readonly setting?: { readonly cls: AnySettingsClass; readonly field: string };
}

function settingKey(
  path: string,
  cls: AnySettingsClass,
  field: string,
  required: boolean,
  description: string,
): FleetKey {
  return { path, kind: 'setting', description, required, setting: { cls, field } };
}

export const FLEET_FILE_KEYS: readonly FleetKey[] = [
  settingKey(
    'backend_url',
    ApiClientSettings,
    'base_url',
    true,
    'Backend REST API base (with `/api/v1`) the workers register with.',
  ),
  settingKey(
    'health_check.interval',
    WorkerSettings,
    'health_check_interval',
    false,
    'Seconds between the backend’s health checks of each worker.',
  ),
  settingKey(
    'health_check.timeout',
    WorkerSettings,
    'health_check_timeout',
    false,
    'Seconds before one health check counts as failed.',
  ),
  settingKey(
    'health_check.failure_threshold',
    WorkerSettings,
    'health_check_failures',
    false,
    'Consecutive failed checks after which a worker is `temporarily_unavailable`.',
  ),
  settingKey(
    'health_check.removal_threshold',
    WorkerSettings,
    'removal_threshold',
    false,
    'Seconds after its last good check at which an unresponsive worker is removed.',
  ),
  {
    path: 'deployment.type',
    kind: 'enum',
    required: true,
    choices: DEPLOYMENT_TYPES,
    description:
      '`docker-compose` (one machine, `infra/compose`) or `proxmox-lxc` (one LXC container per worker, cloned from a template).',
  },
  {
    path: 'deployment.compose.scale.<type>',
    kind: 'integer',
    when: 'docker-compose',
    required: true,
    min: 0,
    max: 64,
    description: 'Replicas of the `<type>` worker service (`--scale`).',
  },
  {
    path: 'deployment.proxmox.template_id',
    kind: 'integer',
    when: 'proxmox-lxc',
    required: true,
    min: 100,
    max: 999999999,
    description: 'VMID of the base template made by `deploy/proxmox/create-base-template.sh`.',
  },
  {
    path: 'deployment.proxmox.node',
    kind: 'string',
    when: 'proxmox-lxc',
    required: false,
    default: 'pve',
    description: 'Proxmox node the containers are created on.',
  },
  {
    path: 'deployment.proxmox.storage',
    kind: 'string',
    when: 'proxmox-lxc',
    required: false,
    default: 'local-lvm',
    description: 'Storage of the cloned root filesystems.',
  },
  {
    path: 'deployment.proxmox.bridge',
    kind: 'string',
    when: 'proxmox-lxc',
    required: false,
    default: 'vmbr0',
    description: 'Bridge the containers’ `eth0` is attached to.',
  },
  {
    path: 'deployment.proxmox.network.subnet',
    kind: 'cidr',
    when: 'proxmox-lxc',
    required: true,
    description: 'IPv4 network of the workers, e.g. `10.20.0.0/24` (prefix 8–30).',
  },
  {
    path: 'deployment.proxmox.network.gateway',
    kind: 'ipv4',
    when: 'proxmox-lxc',
    required: true,
    description: 'Default gateway of the containers (inside the subnet, outside every IP range).',
  },
  {
    path: 'deployment.proxmox.workers.<type>.count',
    kind: 'integer',
    when: 'proxmox-lxc',
    required: true,
    min: 0,
    max: 1000,
    description: 'Containers running a `<type>` worker.',
  },
  {
    path: 'deployment.proxmox.workers.<type>.id_start',
    kind: 'integer',
    when: 'proxmox-lxc',
    required: true,
    min: 100,
    max: 999999999,
    description: 'VMID of the first `<type>` container; the others follow (id_start + n).',
  },
  {
    path: 'deployment.proxmox.workers.<type>.cores',
    kind: 'integer',
    when: 'proxmox-lxc',
    required: true,
    min: 1,
    max: 512,
    description: 'CPU cores of each `<type>` container.',
  },
  {
    path: 'deployment.proxmox.workers.<type>.memory_mb',
    kind: 'integer',
    when: 'proxmox-lxc',
    required: true,
    min: 256,
    max: 4194304,
    description: 'Memory of each `<type>` container, MiB.',
  },
  {
    path: 'deployment.proxmox.workers.<type>.ip_range',
    kind: 'ip_range',
    when: 'proxmox-lxc',
    required: true,
    description:
      'Addresses of the `<type>` containers, `first-last` inside the subnet, at least `count` of them.',
  },
];

/** A key of the table with `<type>` expanded. */
interface ConcreteKey extends FleetKey {
  readonly concretePath: string;
  readonly workerType?: FleetWorkerType;
}

function concreteKeys(): ConcreteKey[] {
  return FLEET_FILE_KEYS.flatMap((k) =>
    k.path.includes('<type>')
      ? FLEET_WORKER_TYPES.map((t) => ({
          ...k,
          concretePath: k.path.replace('<type>', t),
          workerType: t,
        }))
      : [{ ...k, concretePath: k.path }],
  );
}

// ── the typed result ────────────────────────────────────────────────────────────────────────────

export interface ProxmoxWorkerGroup {
  readonly count: number;
  readonly id_start: number;
  readonly cores: number;
  readonly memory_mb: number;
  readonly ip_range: string;
}

export interface ComposeDeployment {
  readonly type: 'docker-compose';
  readonly compose: { readonly scale: Readonly<Record<FleetWorkerType, number>> };
}

export interface ProxmoxDeployment {
  readonly type: 'proxmox-lxc';
  readonly proxmox: {
    readonly template_id: number;
    readonly node: string;
    readonly storage: string;
    readonly bridge: string;
    readonly network: { readonly subnet: string; readonly gateway: string };
    readonly workers: Readonly<Record<FleetWorkerType, ProxmoxWorkerGroup>>;
  };
}

export type FleetDeployment = ComposeDeployment | ProxmoxDeployment;

export interface FleetConfig {
  readonly environment: 'development' | 'test' | 'production';
  readonly file: string;
  /** Effective values: the variable when set, else the file, else the setting's default. */
  readonly backend_url: string;
  readonly health_check: {
    readonly interval: number;
    readonly timeout: number;
    readonly failure_threshold: number;
    readonly removal_threshold: number;
  };
  readonly deployment: FleetDeployment;
  /** YAML paths whose value a variable overrode, with the variable. */
  readonly overridden: readonly { readonly path: string; readonly variable: string }[];
}

// ── parsing and validation ──────────────────────────────────────────────────────────────────────

export interface FleetFileCheck {
  /** Setting values from the file (valid ones only), by variable name. */
  readonly values: Record<string, FileValue>;
  /** Every problem, each `<yaml path> (<file>, line N): <problem>`. */
  readonly errors: string[];
  /** The validated plain data (only when there are no errors). */
  readonly data?: Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(cur[part])) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1] as string] = value;
}

/** A value for an error message: quoted, URL credentials hidden, shortened. */
function shown(v: unknown): string {
  const s = redactUrlCredentials(
    typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v)),
  );
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function keyConstraint(k: FleetKey, f?: AnyField): string {
  switch (k.kind) {
    case 'setting':
      return f ? constraintText(f) : 'a value';
    case 'integer':
      return `an integer between ${k.min} and ${k.max}`;
    case 'enum':
      return `one of ${(k.choices ?? []).join(', ')}`;
    case 'cidr':
      return 'an IPv4 network in CIDR notation with a prefix from 8 to 30 (e.g. 10.20.0.0/24)';
    case 'ipv4':
      return 'an IPv4 address';
    case 'ip_range':
      return 'an IPv4 range `first-last` (e.g. 10.20.0.101-10.20.0.120)';
    case 'string':
      return 'a non-empty string';
  }
}

/** Checks one value; returns the typed value or a problem text. */
function checkValue(
  k: FleetKey,
  raw: unknown,
): { ok: true; value: unknown; settingRaw?: string } | { ok: false; problem: string } {
  const fail = (f?: AnyField) => ({
    ok: false as const,
    problem: `must be ${keyConstraint(k, f)} (got ${shown(raw)})`,
  });
  if (isPlainObject(raw) || Array.isArray(raw)) return fail();
  switch (k.kind) {
    case 'setting': {
      const f = k.setting!.cls.fields[k.setting!.field] as AnyField;
      if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean')
        return fail(f);
      const text = String(raw);
      const parsed = parseRaw(text, f);
      return parsed.ok ? { ok: true, value: parsed.value, settingRaw: text } : fail(f);
    }
    case 'integer':
      return typeof raw === 'number' &&
        Number.isSafeInteger(raw) &&
        raw >= (k.min ?? -Infinity) &&
        raw <= (k.max ?? Infinity)
        ? { ok: true, value: raw }
        : fail();
    case 'enum':
      return typeof raw === 'string' && (k.choices ?? []).includes(raw)
        ? { ok: true, value: raw }
        : fail();
    case 'string':
      return typeof raw === 'string' && raw.trim() !== '' ? { ok: true, value: raw } : fail();
    case 'cidr': {
      const c = typeof raw === 'string' ? parseCidr(raw) : undefined;
      return c ? { ok: true, value: c.text } : fail();
    }
    case 'ipv4': {
      const ip = typeof raw === 'string' ? parseIpv4(raw) : undefined;
      return ip !== undefined ? { ok: true, value: formatIpv4(ip) } : fail();
    }
    case 'ip_range': {
      const r = typeof raw === 'string' ? parseIpRange(raw) : undefined;
      return r ? { ok: true, value: raw } : fail();
    }
  }
}

/**
 * Validates the text of a fleet file. Never throws; every problem is in `errors` as
 * `<yaml path> (<file>, line N): <problem>`.
 */
export function checkFleetFile(text: string, file: string): FleetFileCheck {
  const errors: string[] = [];
  const values: Record<string, FileValue> = {};
  const lines = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    return { values, errors: [`${file}: not valid YAML (${(err as Error).message})`] };
  }
  for (const e of doc.errors) {
    const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
    errors.push(
      `${file}${line ? `, line ${line}` : ''}: not valid YAML (${e.message.split('\n')[0]})`,
    );
  }
  if (errors.length > 0) return { values, errors };

  const lineOf = (path: string): string => {
    const node = doc.getIn(path.split('.'), true);
    const offset = isNode(node) && node.range ? node.range[0] : undefined;
    if (offset !== undefined) return `, line ${lines.linePos(offset).line}`;
    // A missing key: the line of its closest existing parent mapping.
    const parts = path.split('.');
    for (let i = parts.length - 1; i > 0; i--) {
      const parent = doc.getIn(parts.slice(0, i), true);
      if (isMap(parent) && parent.range) return `, line ${lines.linePos(parent.range[0]).line}`;
    }
    return '';
  };
  const problem = (path: string, text: string) =>
    errors.push(`${path} (${file}${lineOf(path)}): ${text}`);

  const root: unknown = doc.toJS();
  if (!isPlainObject(root)) {
    return {
      values,
      errors: [`${file}: must be a YAML mapping with backend_url, health_check and deployment`],
    };
  }

  const keys = concreteKeys();
  const leafPaths = new Set(keys.map((k) => k.concretePath));
  const sectionPaths = new Set<string>();
  for (const p of leafPaths) {
    const parts = p.split('.');
    for (let i = 1; i < parts.length; i++) sectionPaths.add(parts.slice(0, i).join('.'));
  }

  // Unknown keys (typos) and sections that are not mappings.
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(obj)) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (leafPaths.has(path)) continue;
      if (sectionPaths.has(path)) {
        if (isPlainObject(value)) walk(value, path);
        else if (value !== null && value !== undefined) problem(path, 'must be a mapping');
        continue;
      }
      const siblings = [...leafPaths, ...sectionPaths]
        .filter((p) => p.split('.').length === path.split('.').length && p.startsWith(prefix))
        .map((p) => p.split('.').pop() as string);
      let best: string | undefined;
      let bestD = Infinity;
      for (const s of siblings) {
        const d = editDistance(key, s);
        if (d < bestD) {
          bestD = d;
          best = s;
        }
      }
      problem(
        path,
        `unknown key${best && bestD <= Math.max(2, Math.floor(key.length / 4)) ? ` (did you mean ${prefix ? `${prefix}.` : ''}${best}?)` : ''}`,
      );
    }
  };
  walk(root, '');

  const data: Record<string, unknown> = {};
  const typeValue = getPath(root, 'deployment.type');
  const deploymentType = (DEPLOYMENT_TYPES as readonly unknown[]).includes(typeValue)
    ? (typeValue as DeploymentType)
    : undefined;

  for (const k of keys) {
    const raw = getPath(root, k.concretePath);
    const present = raw !== undefined && raw !== null;
    if (k.when !== undefined) {
      if (deploymentType === undefined) continue; // deployment.type is reported itself
      if (k.when !== deploymentType) {
        if (present) problem(k.concretePath, `only allowed when deployment.type is ${k.when}`);
        continue;
      }
    }
    if (!present) {
      if (k.required) problem(k.concretePath, `is required (${keyConstraint(k, settingField(k))})`);
      else if (k.default !== undefined) setPath(data, k.concretePath, k.default);
      continue;
    }
    const r = checkValue(k, raw);
    if (!r.ok) {
      problem(k.concretePath, r.problem);
      continue;
    }
    setPath(data, k.concretePath, r.value);
    if (k.setting && r.settingRaw !== undefined) {
      values[envNameOf(k.setting.cls, k.setting.field)] = {
        raw: r.settingRaw,
        path: k.concretePath,
      };
    }
  }

  if (deploymentType === 'proxmox-lxc' && errors.length === 0) checkProxmox(data, problem);
  return errors.length > 0 ? { values, errors } : { values, errors, data };
}

function settingField(k: FleetKey): AnyField | undefined {
  return k.setting ? (k.setting.cls.fields[k.setting.field] as AnyField) : undefined;
}

/** Cross-field rules of a Proxmox deployment: addresses in the subnet, no overlaps, enough IPs. */
function checkProxmox(
  data: Record<string, unknown>,
  problem: (path: string, text: string) => void,
) {
  const base = 'deployment.proxmox';
  const subnet = parseCidr(String(getPath(data, `${base}.network.subnet`))) as Cidr;
  const gatewayText = String(getPath(data, `${base}.network.gateway`));
  const gateway = parseIpv4(gatewayText) as number;
  if (!cidrContains(subnet, gateway))
    problem(`${base}.network.gateway`, `${gatewayText} is not a host address of ${subnet.text}`);
  const taken: { type: string; range: IpRange }[] = [];
  const ids: { type: string; first: number; last: number }[] = [];
  const template = Number(getPath(data, `${base}.template_id`));
  for (const t of FLEET_WORKER_TYPES) {
    const g = getPath(data, `${base}.workers.${t}`) as ProxmoxWorkerGroup;
    const path = `${base}.workers.${t}`;
    const range = parseIpRange(g.ip_range) as IpRange;
    if (!cidrContains(subnet, range.first) || !cidrContains(subnet, range.last))
      problem(`${path}.ip_range`, `${g.ip_range} is not inside ${subnet.text}`);
    if (gateway >= range.first && gateway <= range.last)
      problem(`${path}.ip_range`, `${g.ip_range} contains the gateway ${gatewayText}`);
    const size = range.last - range.first + 1;
    if (g.count > size)
      problem(
        `${path}.count`,
        `${g.count} containers do not fit in ${g.ip_range} (${size} addresses)`,
      );
    for (const other of taken)
      if (range.first <= other.range.last && other.range.first <= range.last)
        problem(`${path}.ip_range`, `${g.ip_range} overlaps the ${other.type} range`);
    taken.push({ type: t, range });
    if (g.count > 0) {
      const last = g.id_start + g.count - 1;
      if (template >= g.id_start && template <= last)
        problem(`${path}.id_start`, `VMIDs ${g.id_start}-${last} include the template ${template}`);
      for (const other of ids)
        if (g.id_start <= other.last && other.first <= last)
          problem(
            `${path}.id_start`,
            `VMIDs ${g.id_start}-${last} overlap the ${other.type} VMIDs`,
          );
      ids.push({ type: t, first: g.id_start, last });
    }
  }
}

// ── which file, and loading ─────────────────────────────────────────────────────────────────────

/** The file name of an environment's fleet file, or undefined for `test`. */
export function fleetFileName(environment: string): string | undefined {
  if (environment === 'development') return 'workers.dev.yaml';
  if (environment === 'production') return 'workers.prod.yaml';
  return undefined;
}

const fileCache = new Map<string, { mtimeMs: number; size: number; check: FleetFileCheck }>();

export function forgetFleetFiles(): void {
  fileCache.clear();
}

function readChecked(file: string): FleetFileCheck | 'missing' {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return 'missing';
  }
  const hit = fileCache.get(file);
  if (hit && hit.mtimeMs === stat.mtimeMs && hit.size === stat.size) return hit.check;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { values: {}, errors: [`${file}: cannot be read (${(err as Error).message})`] };
  }
  const check = checkFleetFile(text, file);
  fileCache.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, check });
  return check;
}

function environmentOf(sources: EnvSources): string {
  return String(loadClass(RuntimeSettings, sources).values.environment ?? 'development');
}

/**
 * Adds the fleet file to the sources of the settings. `implicit`: whether the default file of the
 * environment applies (a real process); with an explicit environment map (tests) only a
 * KTRDR_FLEET_FILE or KTRDR_FLEET_DIR named in that map is read, so tests stay hermetic.
 */
export function withFleetFile(sources: EnvSources, implicit: boolean): EnvSources {
  const base: EnvSources = { env: sources.env, dotenv: sources.dotenv };
  const fleet = loadClass(FleetSettings, base).values;
  const explicitFile = fleet.file as string | undefined;
  const named =
    explicitFile !== undefined || loadClass(FleetSettings, base).sources.dir?.kind !== 'default';
  if (!implicit && !named) return base;
  let file = explicitFile;
  if (file === undefined) {
    const name = fleetFileName(environmentOf(base));
    if (name === undefined) return base;
    file = nodePath.join(String(fleet.dir), name);
  }
  const check = readChecked(file);
  if (check === 'missing') {
    if (explicitFile === undefined) return base; // no file for this environment: nothing to add
    return {
      ...base,
      file: {
        file,
        values: {},
        errors: [`KTRDR_FLEET_FILE: ${file} does not exist`],
      },
    };
  }
  const source: FileSource = { file, values: check.values, errors: check.errors };
  return { ...base, file: source };
}

/** Resolves `--env` style names (dev, prod, development, …) to an environment. */
export function resolveEnvironmentName(
  name: string,
): 'development' | 'test' | 'production' | undefined {
  const f = RuntimeSettings.fields.environment as AnyField;
  const r = parseRaw(name, f);
  return r.ok ? (r.value as 'development' | 'test' | 'production') : undefined;
}

export interface LoadFleetOptions {
  /** `dev`, `prod`, `development`, `production` (default: KTRDR_ENV). */
  readonly environment?: string;
  /** A file to read instead of the environment's (default: KTRDR_FLEET_FILE, else the fleet dir). */
  readonly file?: string;
  /** The environment map (default: the current sources). */
  readonly env?: EnvMap;
}

export interface LoadedFleet {
  readonly config?: FleetConfig;
  readonly errors: readonly string[];
}

/** Loads and validates a fleet file (errors instead of throwing; config.ts wraps it). */
export function loadFleet(sources: EnvSources, options: LoadFleetOptions = {}): LoadedFleet {
  const base: EnvSources = { env: sources.env, dotenv: sources.dotenv };
  let environment: 'development' | 'test' | 'production';
  if (options.environment !== undefined) {
    const e = resolveEnvironmentName(options.environment);
    if (!e)
      return {
        errors: [
          `--env: must be ${constraintText(RuntimeSettings.fields.environment as AnyField)} (got ${JSON.stringify(options.environment)})`,
        ],
      };
    environment = e;
  } else {
    const r = loadClass(RuntimeSettings, base);
    if (r.errors.length > 0) return { errors: r.errors };
    environment = r.values.environment as typeof environment;
  }
  const fleet = loadClass(FleetSettings, base);
  if (fleet.errors.length > 0) return { errors: fleet.errors };
  let file = options.file ?? (fleet.values.file as string | undefined);
  if (file === undefined) {
    const name = fleetFileName(environment);
    if (name === undefined)
      return {
        errors: [
          `KTRDR_ENV=${environment} has no fleet environment file; set KTRDR_FLEET_FILE (or use --env dev|prod)`,
        ],
      };
    file = nodePath.join(String(fleet.values.dir), name);
  }
  file = nodePath.resolve(file);
  const check = readChecked(file);
  if (check === 'missing') return { errors: [`${file}: no such fleet environment file`] };
  if (check.errors.length > 0 || !check.data) return { errors: check.errors };

  // Effective values: the variables (and .env.local) override the file.
  const withFile: EnvSources = { ...base, file: { file, values: check.values, errors: [] } };
  const api = loadClass(ApiClientSettings, withFile);
  const worker = loadClass(WorkerSettings, withFile);
  const errors = [...api.errors, ...worker.errors];
  if (errors.length > 0) return { errors };
  const overridden: { path: string; variable: string }[] = [];
  for (const k of FLEET_FILE_KEYS) {
    if (!k.setting) continue;
    const r = k.setting.cls === ApiClientSettings ? api : worker;
    const src = r.sources[k.setting.field];
    if (src && (src.kind === 'env' || src.kind === 'deprecated' || src.kind === 'dotenv'))
      overridden.push({
        path: k.path,
        variable: src.variable ?? envNameOf(k.setting.cls, k.setting.field),
      });
  }
  const d = check.data.deployment as Record<string, unknown>;
  const config: FleetConfig = {
    environment,
    file,
    backend_url: String(api.values.base_url),
    health_check: {
      interval: worker.values.health_check_interval as number,
      timeout: worker.values.health_check_timeout as number,
      failure_threshold: worker.values.health_check_failures as number,
      removal_threshold: worker.values.removal_threshold as number,
    },
    deployment: d as unknown as FleetDeployment,
    overridden,
  };
  return { config: deepFreeze(config), errors: [] };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
