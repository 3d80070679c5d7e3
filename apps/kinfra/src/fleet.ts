/**
 * `kinfra fleet …`: the provisioning plan of a fleet environment file (config/workers.<env>.yaml, loaded
 * and validated by @ktrdr/config) and the backend calls a rolling deploy needs (drain a worker, wait until
 * it is idle or registered again). The deploy scripts under deploy/ read the fleet file only through
 * `kinfra fleet plan --format tsv`.
 */
import { envelopeMessage } from '@ktrdr/contracts/constants';
import {
  ConfigurationError,
  FLEET_WORKER_TYPES,
  formatIpv4,
  getApiClientSettings,
  getWorkerSettings,
  loadFleetConfig,
  parseCidr,
  parseIpRange,
  type FleetConfig,
  type FleetWorkerType,
} from '@ktrdr/config';
import { KinfraError, type Context } from './commands';
import { formatTable } from './output';
import { backendRequest } from './stack-health';

export interface PlannedContainer {
  vmid: number;
  worker_type: FleetWorkerType;
  worker_id: string;
  hostname: string;
  ip: string;
  prefix: number;
  gateway: string;
  bridge: string;
  cores: number;
  memory_mb: number;
  template_id: number;
  storage: string;
  node: string;
  endpoint_url: string;
}

export interface PlannedComposeService {
  worker_type: FleetWorkerType;
  service: string;
  scale: number;
}

export interface FleetPlan {
  environment: string;
  file: string;
  backend_url: string;
  health_check: FleetConfig['health_check'];
  overridden: FleetConfig['overridden'];
  deployment: 'proxmox-lxc' | 'docker-compose';
  containers: PlannedContainer[];
  compose_services: PlannedComposeService[];
}

const SHORT: Record<FleetWorkerType, string> = { backtesting: 'bt', training: 'tr' };
const COMPOSE_SERVICE: Record<FleetWorkerType, string> = {
  backtesting: 'backtest-worker',
  training: 'training-worker',
};

/** The containers (or compose services) a fleet file describes, in a stable order. */
export function buildFleetPlan(config: FleetConfig, workerPort: number): FleetPlan {
  const base = {
    environment: config.environment,
    file: config.file,
    backend_url: config.backend_url,
    health_check: config.health_check,
    overridden: config.overridden,
  };
  if (config.deployment.type === 'docker-compose') {
    const scale = config.deployment.compose.scale;
    return {
      ...base,
      deployment: 'docker-compose',
      containers: [],
      compose_services: FLEET_WORKER_TYPES.map((t) => ({
        worker_type: t,
        service: COMPOSE_SERVICE[t],
        scale: scale[t],
      })),
    };
  }
  const p = config.deployment.proxmox;
  const subnet = parseCidr(p.network.subnet);
  if (!subnet) throw new KinfraError(`invalid subnet ${p.network.subnet}`);
  const containers: PlannedContainer[] = [];
  for (const t of FLEET_WORKER_TYPES) {
    const g = p.workers[t];
    const range = parseIpRange(g.ip_range);
    if (!range) throw new KinfraError(`invalid ip_range ${g.ip_range}`);
    for (let i = 0; i < g.count; i++) {
      const vmid = g.id_start + i;
      const ip = formatIpv4(range.first + i);
      containers.push({
        vmid,
        worker_type: t,
        worker_id: `${t}-${vmid}`,
        hostname: `ktrdr-${SHORT[t]}-${vmid}`,
        ip,
        prefix: subnet.prefix,
        gateway: p.network.gateway,
        bridge: p.bridge,
        cores: g.cores,
        memory_mb: g.memory_mb,
        template_id: p.template_id,
        storage: p.storage,
        node: p.node,
        endpoint_url: `http://${ip}:${workerPort}`,
      });
    }
  }
  return { ...base, deployment: 'proxmox-lxc', containers, compose_services: [] };
}

/** Columns of `--format tsv` (one container per line, after a `#` header). */
export const PLAN_TSV_COLUMNS = [
  'vmid',
  'worker_type',
  'worker_id',
  'hostname',
  'ip',
  'prefix',
  'gateway',
  'bridge',
  'cores',
  'memory_mb',
  'template_id',
  'storage',
  'node',
  'backend_url',
  'endpoint_url',
] as const;

export const COMPOSE_TSV_COLUMNS = ['worker_type', 'service', 'scale'] as const;

export type PlanFormat = 'table' | 'tsv' | 'json';

function loadConfig(opts: { env?: string; file?: string }): FleetConfig {
  try {
    return loadFleetConfig({ environment: opts.env, file: opts.file });
  } catch (err) {
    if (err instanceof ConfigurationError)
      throw new KinfraError(
        `the fleet environment file is invalid:\n${err.details.errors.map((e) => `  - ${e}`).join('\n')}`,
      );
    throw err;
  }
}

export function fleetPlan(
  ctx: Context,
  opts: { env?: string; file?: string; format: PlanFormat },
): FleetPlan {
  const config = loadConfig(opts);
  // Every worker listens on the canonical worker port inside its own container.
  const plan = buildFleetPlan(config, getWorkerSettings().port);
  const { out } = ctx;
  if (opts.format === 'json') {
    out.json(plan);
    return plan;
  }
  if (opts.format === 'tsv') {
    if (plan.deployment === 'proxmox-lxc') {
      out.line(`# ${PLAN_TSV_COLUMNS.join('\t')}`);
      for (const c of plan.containers) {
        const row: Record<string, unknown> = { ...c, backend_url: plan.backend_url };
        out.line(PLAN_TSV_COLUMNS.map((k) => String(row[k])).join('\t'));
      }
    } else {
      out.line(`# ${COMPOSE_TSV_COLUMNS.join('\t')}`);
      for (const s of plan.compose_services) out.line(`${s.worker_type}\t${s.service}\t${s.scale}`);
    }
    return plan;
  }
  out.line(`Fleet plan: ${plan.environment} (${plan.file})`);
  out.line(`Backend:      ${plan.backend_url}`);
  const h = plan.health_check;
  out.line(
    `Health check: every ${h.interval}s, timeout ${h.timeout}s, unavailable after ${h.failure_threshold} failures, removed after ${h.removal_threshold}s`,
  );
  for (const o of plan.overridden) out.line(`Override:     ${o.path} from ${o.variable}`);
  if (plan.deployment === 'docker-compose') {
    out.line('Deployment:   docker-compose (infra/compose/docker-compose.yml)');
    out.line('');
    for (const l of formatTable(
      ['SERVICE', 'TYPE', 'SCALE'],
      plan.compose_services.map((s) => [s.service, s.worker_type, String(s.scale)]),
    ))
      out.line(l);
    out.line('');
    out.line(
      `Command: docker compose -f infra/compose/docker-compose.yml up -d ${plan.compose_services.map((s) => `--scale ${s.service}=${s.scale}`).join(' ')}`,
    );
    return plan;
  }
  const first = plan.containers[0];
  out.line(
    `Deployment:   proxmox-lxc${first ? `, template ${first.template_id} on node ${first.node}, storage ${first.storage}, bridge ${first.bridge}, gateway ${first.gateway}` : ''}`,
  );
  out.line('');
  for (const l of formatTable(
    ['VMID', 'TYPE', 'WORKER ID', 'HOSTNAME', 'IP', 'CORES', 'MEMORY'],
    plan.containers.map((c) => [
      String(c.vmid),
      c.worker_type,
      c.worker_id,
      c.hostname,
      `${c.ip}/${c.prefix}`,
      String(c.cores),
      `${c.memory_mb} MiB`,
    ]),
  ))
    out.line(l);
  out.line('');
  const count = (t: FleetWorkerType) => plan.containers.filter((c) => c.worker_type === t).length;
  out.line(
    `${plan.containers.length} container(s): ${FLEET_WORKER_TYPES.map((t) => `${count(t)} ${t}`).join(', ')}. Provision with deploy/proxmox/provision-fleet.sh.`,
  );
  return plan;
}

// ── backend calls of a rolling deploy ───────────────────────────────────────────────────────────

interface WorkerView {
  worker_id: string;
  status: string;
  current_operation_id: string | null;
  registered_at: string;
  draining?: boolean;
  metadata?: Record<string, unknown>;
}

const REQUEST_TIMEOUT_MS = 5_000;

/** `Authorization: Bearer <KTRDR_API_KEY>` when an API key is configured (backends that require one). */
function authHeaders(): Record<string, string> {
  const key = getApiClientSettings().api_key;
  return key ? { authorization: `Bearer ${key}` } : {};
}

function backendOf(opts: { backend?: string; env?: string; file?: string }): string {
  const url = opts.backend ?? loadConfig(opts).backend_url;
  return url.replace(/\/+$/, '');
}

async function getWorker(
  ctx: Context,
  backend: string,
  id: string,
): Promise<{ status: number; worker?: WorkerView; error?: string }> {
  const url = `${backend}/workers/${encodeURIComponent(id)}`;
  const res = await backendRequest(ctx.http, url, 'GET', authHeaders(), REQUEST_TIMEOUT_MS);
  if (res.kind === 'unreachable') return { status: 0, error: res.detail };
  if (res.status !== 200) return { status: res.status };
  return { status: 200, worker: res.json as WorkerView };
}

function summary(w: WorkerView): string {
  return `status ${w.status}${w.current_operation_id ? `, running ${w.current_operation_id}` : ''}${w.draining ? ', draining' : ''}, registered ${w.registered_at}${typeof w.metadata?.release === 'string' ? `, release ${w.metadata.release}` : ''}`;
}

export interface DrainOptions {
  backend?: string;
  env?: string;
  file?: string;
  missingOk: boolean;
  print?: string;
  json: boolean;
}

/** POST /workers/{id}/drain: no new dispatches to the worker; its running operation finishes. */
export function fleetDrain(
  ctx: Context,
  workerId: string,
  opts: DrainOptions,
): Promise<WorkerView | null> {
  return drainCall(ctx, workerId, opts, 'drain');
}

/** DELETE /workers/{id}/drain: the worker takes operations again (undoes a drain). */
export function fleetUndrain(
  ctx: Context,
  workerId: string,
  opts: DrainOptions,
): Promise<WorkerView | null> {
  return drainCall(ctx, workerId, opts, 'undrain');
}

async function drainCall(
  ctx: Context,
  workerId: string,
  opts: DrainOptions,
  action: 'drain' | 'undrain',
): Promise<WorkerView | null> {
  const backend = backendOf(opts);
  const method = action === 'drain' ? 'POST' : 'DELETE';
  const url = `${backend}/workers/${encodeURIComponent(workerId)}/drain`;
  const res = await backendRequest(ctx.http, url, method, authHeaders(), REQUEST_TIMEOUT_MS);
  if (res.kind === 'unreachable') throw new KinfraError(`${method} ${url} failed: ${res.detail}`);
  if (res.status === 404 && opts.missingOk) {
    ctx.out.note(`Worker ${workerId} is not registered: nothing to ${action}`);
    if (opts.json) ctx.out.json(null);
    else if (opts.print) ctx.out.line('');
    return null;
  }
  if (res.status !== 200) {
    const message = envelopeMessage(res.json, '');
    throw new KinfraError(
      `${method} ${url} answered ${res.status}${message ? `: ${message}` : ''}`,
    );
  }
  const w = res.json as WorkerView;
  const said =
    action === 'drain'
      ? `Draining ${workerId}: ${summary(w)}`
      : `Undrained ${workerId} (takes operations again): ${summary(w)}`;
  if (opts.json) ctx.out.json(w);
  else if (opts.print)
    ctx.out.line(String((w as unknown as Record<string, unknown>)[opts.print] ?? ''));
  else ctx.out.line(said);
  if (opts.print || opts.json) ctx.out.note(said);
  return w;
}

export type WaitCondition = 'idle' | 'ready';

export async function fleetWait(
  ctx: Context,
  workerId: string,
  opts: {
    for: WaitCondition;
    backend?: string;
    env?: string;
    file?: string;
    timeoutSeconds: number;
    intervalSeconds: number;
    registeredAfter?: string;
    release?: string;
    json: boolean;
  },
): Promise<WorkerView | null> {
  const backend = backendOf(opts);
  const deadline = ctx.http.now() + opts.timeoutSeconds * 1000;
  let last = 'no answer yet';
  for (;;) {
    const r = await getWorker(ctx, backend, workerId);
    let done: WorkerView | null | undefined;
    if (r.worker) {
      const w = r.worker;
      last = summary(w);
      if (opts.for === 'idle') {
        if (!w.current_operation_id && w.status !== 'busy') done = w;
      } else {
        const fresh =
          opts.registeredAfter === undefined ||
          opts.registeredAfter === '' ||
          Date.parse(w.registered_at) > Date.parse(opts.registeredAfter);
        const release =
          opts.release === undefined || opts.release === '' || w.metadata?.release === opts.release;
        // Available, or already busy with new work (a queue hands it an operation at once).
        const up = w.status === 'available' || w.status === 'busy';
        if (up && !w.draining && fresh && release) done = w;
      }
    } else if (r.status === 404) {
      last = 'not registered';
      // A worker the backend does not know runs nothing for it.
      if (opts.for === 'idle') done = null;
    } else {
      last = r.error ? `backend unreachable (${r.error})` : `GET answered ${r.status}`;
    }
    if (done !== undefined) {
      if (opts.json) ctx.out.json(done);
      else
        ctx.out.line(
          `Worker ${workerId} is ${opts.for}${done ? `: ${summary(done)}` : ' (not registered)'}`,
        );
      return done;
    }
    if (ctx.http.now() >= deadline) {
      const want =
        opts.for === 'idle'
          ? 'idle'
          : `registered${opts.registeredAfter ? ` after ${opts.registeredAfter}` : ''}, available or busy${opts.release ? ` and running release ${opts.release}` : ''}`;
      throw new KinfraError(
        `worker ${workerId} was not ${want} within ${opts.timeoutSeconds}s (last seen: ${last})`,
      );
    }
    await ctx.http.sleep(opts.intervalSeconds * 1000);
  }
}
