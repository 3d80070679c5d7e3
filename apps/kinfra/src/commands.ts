/**
 * The sandbox commands. Each takes a Context (paths, output, process runner, clocks) and throws
 * KinfraError for expected failures (printed as "Error: …", exit code 1). The decisions are in
 * slot-policy.ts, compose and docker invocation in compose.ts, printing in output.ts; a command here
 * wires them together.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorText } from '@ktrdr/contracts/constants';
import {
  ComposeCommand,
  SlotStack,
  composeCommandLine,
  detectCompose,
  inspectContainers,
  projectContainers,
  runCompose,
} from './compose';
import { SlotHealth, assessContainers, parseInspect } from './container-health';
import { Exec } from './exec';
import { LockOptions } from './file-lock';
import {
  Output,
  StatusView,
  printClaim,
  printProvision,
  printRelease,
  printSlotTable,
  printStatus,
  printUrls,
} from './output';
import { PortChecker } from './ports';
import { SlotEntry, newSlotEntry, readRegistry, slotDirectory, updateRegistry } from './registry';
import {
  ENV_FILE,
  STACK_FILE,
  SlotRenderInput,
  newSecret,
  readSlotEnv,
  renderSlotFiles,
  slotRenderInput,
} from './slot-env';
import {
  ClaimOutcome,
  KinfraError,
  ReleaseOutcome,
  claimIsStale,
  claimantPath,
  decideClaim,
  decideRelease,
  entryOf,
  releaseStaleClaims,
  resolveSlot,
  setStatus,
  slotKey,
} from './slot-policy';
import {
  PORT_LABELS,
  PortName,
  ProfileName,
  SlotPorts,
  allSlots,
  composeProjectName,
  profileForSlot,
  slotPorts,
  totalWorkers,
} from './slots';
import { HttpDeps, StackProbe, apiBaseUrl, probeStack, waitForStack } from './stack-health';

export { KinfraError, claimantPath };
export type { ClaimOutcome, ReleaseOutcome };

export interface Context {
  sandboxesDir: string;
  cwd: string;
  out: Output;
  exec: Exec;
  checkPort: PortChecker;
  http: HttpDeps;
  now: () => Date;
  lockOptions?: LockOptions;
  /** The repository kinfra runs from (for `up --build`); undefined when not run from a checkout. */
  repoRoot?: string;
  /**
   * The stack definition (infra/compose/docker-compose.yml) that up/down/status run; undefined when
   * kinfra does not run from a checkout.
   */
  stackFile?: string;
}

/** Builds the service images (ktrdr/*:local); `up --build` runs it before starting compose. */
export const BUILD_IMAGES_SCRIPT = path.join('infra', 'scripts', 'build-images.sh');

/** The repository root when this package sits in apps/kinfra of a checkout holding the build script. */
export function findRepoRoot(packageDir = path.resolve(__dirname, '..')): string | undefined {
  const root = path.resolve(packageDir, '..', '..');
  return fs.existsSync(path.join(root, BUILD_IMAGES_SCRIPT)) ? root : undefined;
}

/** infra/compose/docker-compose.yml of the checkout this package sits in, if there is one. */
export function findStackFile(packageDir = path.resolve(__dirname, '..')): string | undefined {
  const file = path.resolve(packageDir, '..', '..', STACK_FILE);
  return fs.existsSync(file) ? file : undefined;
}

// ---------------------------------------------------------------------------------------------------
// provision (slot directories hold .env.sandbox only)

export interface ProvisionResult {
  slot_id: number;
  profile: ProfileName;
  ports: SlotPorts;
  action: 'created' | 'would_create' | 'skipped';
  infrastructure_path: string;
  /** Files written into an existing slot directory because they were missing. */
  restored_files: string[];
  registry_entry_restored: boolean;
}

function writeSlotFiles(
  dir: string,
  files: Record<string, string>,
  onlyMissing: boolean,
): string[] {
  const written: string[] = [];
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    if (onlyMissing && fs.existsSync(file)) continue;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    written.push(rel);
  }
  return written;
}

/** The KTRDR_API_KEY of a slot's .env.sandbox, if it has one. */
export function readSlotApiKey(dir: string): string | undefined {
  return readSlotEnv(dir).KTRDR_API_KEY || undefined;
}

/** The slot's render input with its secrets (kept when the slot has them, else new ones). */
function slotInputWithSecrets(slot: number, dir: string): SlotRenderInput {
  const env = readSlotEnv(dir);
  return {
    ...slotRenderInput(slot),
    api_key: env.KTRDR_API_KEY || newSecret(),
    worker_token: env.KTRDR_WORKER_REGISTRATION_TOKEN || newSecret(),
  };
}

/** .env.sandbox holds the slot's API key and registration token: owner-only. */
function protectEnvFile(dir: string): void {
  const file = path.join(dir, ENV_FILE);
  if (fs.existsSync(file)) fs.chmodSync(file, 0o600);
}

/** Creates slot-N by filling a private temp directory and renaming it into place. */
function createSlotDirectory(sandboxesDir: string, slot: number): boolean {
  const dir = slotDirectory(sandboxesDir, slot);
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  fs.mkdirSync(sandboxesDir, { recursive: true });
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    writeSlotFiles(tmp, renderSlotFiles(slotInputWithSecrets(slot, tmp)), false);
    protectEnvFile(tmp);
    fs.renameSync(tmp, dir);
    return true;
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false; // created concurrently
    throw err;
  }
}

export async function provision(
  ctx: Context,
  opts: { dryRun: boolean; json: boolean },
): Promise<ProvisionResult[]> {
  const { out } = ctx;
  const results: ProvisionResult[] = [];
  for (const slot of allSlots()) {
    const dir = slotDirectory(ctx.sandboxesDir, slot);
    const base = {
      slot_id: slot,
      profile: profileForSlot(slot),
      ports: slotPorts(slot),
      infrastructure_path: dir,
      restored_files: [] as string[],
      registry_entry_restored: false,
    };
    if (fs.existsSync(dir)) {
      const restored = opts.dryRun
        ? []
        : writeSlotFiles(dir, renderSlotFiles(slotInputWithSecrets(slot, dir)), true);
      if (!opts.dryRun) protectEnvFile(dir);
      results.push({ ...base, action: 'skipped', restored_files: restored });
    } else if (opts.dryRun) {
      results.push({ ...base, action: 'would_create' });
    } else {
      const created = createSlotDirectory(ctx.sandboxesDir, slot);
      results.push({ ...base, action: created ? 'created' : 'skipped' });
    }
  }
  if (!opts.dryRun) {
    await updateRegistry(
      ctx.sandboxesDir,
      (registry) => {
        for (const r of results) {
          if (!entryOf(registry, r.slot_id)) {
            registry.slots[slotKey(r.slot_id)] = newSlotEntry(ctx.sandboxesDir, r.slot_id);
            r.registry_entry_restored = r.action === 'skipped';
          }
        }
      },
      ctx.lockOptions,
    );
  }

  if (opts.json) {
    out.json({ dry_run: opts.dryRun, sandboxes_dir: ctx.sandboxesDir, slots: results });
  } else {
    printProvision(out, results, opts.dryRun, ctx.sandboxesDir);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------
// slots

export interface SlotRow {
  slot_id: number;
  profile: ProfileName;
  workers: { backtest: number; training: number };
  ports: SlotPorts;
  provisioned: boolean;
  claimed_by: string | null;
  claimed_at: string | null;
  status: SlotEntry['status'] | 'not provisioned';
  /** The claimant directory no longer existed; the claim was released by this command. */
  stale_claim_released: string | null;
  infrastructure_path: string;
}

export async function listSlots(ctx: Context, opts: { json: boolean }): Promise<SlotRow[]> {
  let registry = readRegistry(ctx.sandboxesDir);
  let released = new Map<number, string>();
  if (Object.values(registry.slots).some(claimIsStale)) {
    registry = await updateRegistry(
      ctx.sandboxesDir,
      (r) => {
        released = releaseStaleClaims(r);
        return r;
      },
      ctx.lockOptions,
    );
  }
  const rows: SlotRow[] = allSlots().map((slot) => {
    const entry = entryOf(registry, slot);
    const e = entry ?? newSlotEntry(ctx.sandboxesDir, slot);
    return {
      slot_id: slot,
      profile: e.profile,
      workers: e.workers,
      ports: e.ports,
      provisioned: entry !== undefined,
      claimed_by: e.claimed_by,
      claimed_at: e.claimed_at,
      status: entry ? entry.status : 'not provisioned',
      stale_claim_released: released.get(slot) ?? null,
      infrastructure_path: e.infrastructure_path,
    };
  });
  if (opts.json) ctx.out.json({ sandboxes_dir: ctx.sandboxesDir, slots: rows });
  else printSlotTable(ctx.out, rows);
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// claim / release

function slotUrls(ports: SlotPorts): Record<string, string> {
  return {
    api: apiBaseUrl(ports.api),
    swagger: `http://127.0.0.1:${ports.api}/api/docs`,
    grafana: `http://127.0.0.1:${ports.grafana}`,
    prometheus: `http://127.0.0.1:${ports.prometheus}`,
    jaeger_ui: `http://127.0.0.1:${ports.jaeger_ui}`,
    postgres: `postgresql://ktrdr@127.0.0.1:${ports.db}/ktrdr`,
  };
}

export async function claim(
  ctx: Context,
  opts: { profile?: ProfileName; slot?: number; json: boolean },
): Promise<ClaimOutcome> {
  const claimant = claimantPath(ctx.cwd);
  const outcome = await updateRegistry(
    ctx.sandboxesDir,
    (registry) => decideClaim(registry, claimant, opts, ctx.now()),
    ctx.lockOptions,
  );
  if (opts.json) ctx.out.json(outcome);
  else printClaim(ctx.out, outcome, apiBaseUrl(outcome.ports.api));
  return outcome;
}

export async function release(
  ctx: Context,
  opts: { slot?: number; force: boolean; json: boolean },
): Promise<ReleaseOutcome> {
  const claimant = claimantPath(ctx.cwd);
  const outcome = await updateRegistry(
    ctx.sandboxesDir,
    (registry) => decideRelease(registry, claimant, opts),
    ctx.lockOptions,
  );
  if (opts.json) ctx.out.json(outcome);
  else printRelease(ctx.out, outcome);
  return outcome;
}

// ---------------------------------------------------------------------------------------------------
// up / down / status: infra/compose/docker-compose.yml with the slot's .env.sandbox

async function composeFor(ctx: Context): Promise<ComposeCommand> {
  try {
    return await detectCompose(ctx.exec);
  } catch (err) {
    throw new KinfraError(errorText(err));
  }
}

function stackOf(ctx: Context, slot: number, dir: string): SlotStack {
  if (!ctx.stackFile) {
    throw new KinfraError(
      `kinfra runs the repository's stack definition ${STACK_FILE}, which was not found: ` +
        'run kinfra from a checkout of the repository.',
    );
  }
  return { slot, slotDir: dir, stackFile: ctx.stackFile };
}

export interface UpOutcome {
  slot_id: number;
  profile: ProfileName;
  compose: string;
  expected_workers: number;
  workers_registered: number | undefined;
  backend_healthy: boolean;
  urls: Record<string, string>;
}

export async function up(
  ctx: Context,
  opts: { slot?: number; build: boolean; timeoutSeconds: number; force: boolean; json: boolean },
): Promise<UpOutcome> {
  const { out } = ctx;
  const { entry, dir } = resolveSlot(ctx.sandboxesDir, ctx.cwd, opts.slot, opts.force);
  const slot = entry.slot_id;
  const stack = stackOf(ctx, slot, dir);
  const compose = await composeFor(ctx);
  out.note(`Using ${compose.label}: ${compose.version}`);

  const existing = await projectContainers(ctx.exec, compose, stack);
  if (existing.length > 0) {
    out.note(`Slot ${slot} already has containers; skipping the port check`);
  } else {
    const busy: string[] = [];
    for (const name of Object.keys(entry.ports) as PortName[]) {
      const port = entry.ports[name];
      const check = await ctx.checkPort(port);
      if (!check.free) {
        busy.push(
          `port ${port} (${PORT_LABELS[name]}) is ${check.reason} on ${check.address}` +
            (check.holder ? `, held by ${check.holder}` : ' (holder unknown)'),
        );
      }
    }
    if (busy.length > 0) {
      throw new KinfraError(
        `Refusing to start slot ${slot}: ${busy.join('; ')}. ` +
          'Stop whatever holds it, or use another slot.',
      );
    }
  }

  const forward = (chunk: string): void => {
    ctx.out.stderr.write(chunk);
  };
  if (opts.build) {
    // The stack refers to images by name (ktrdr/*:${IMAGE_TAG}); they are built by the repository's
    // script, which is idempotent (source-hash labels).
    if (!ctx.repoRoot) {
      throw new KinfraError(
        `--build needs the repository's ${BUILD_IMAGES_SCRIPT} (run kinfra from a checkout), ` +
          'or build the ktrdr/*:local images yourself and run up without --build.',
      );
    }
    const script = path.join(ctx.repoRoot, BUILD_IMAGES_SCRIPT);
    out.note(`Building images: bash ${script}`);
    const built = await ctx.exec('bash', [script], {
      cwd: ctx.repoRoot,
      onStdout: forward,
      onStderr: forward,
    });
    if (built.code !== 0) {
      throw new KinfraError(`bash ${script} failed with exit code ${built.code}`);
    }
  }

  await setStatus(ctx.sandboxesDir, slot, 'starting', ctx.lockOptions);
  // Worker counts come from BACKTEST_WORKERS / TRAINING_WORKERS of .env.sandbox (`scale:`).
  const upArgs = ['up', '-d', '--remove-orphans'];
  const result = await runCompose(ctx.exec, compose, stack, upArgs, {
    onStdout: forward,
    onStderr: forward,
  });
  if (result.code !== 0) {
    await setStatus(ctx.sandboxesDir, slot, 'failed', ctx.lockOptions);
    throw new KinfraError(
      `${composeCommandLine(compose, stack, upArgs)} failed with exit code ${result.code}`,
    );
  }

  const expected = totalWorkers(entry.workers);
  out.note(
    `Waiting up to ${opts.timeoutSeconds}s for the backend on port ${entry.ports.api} and ${expected} worker(s)...`,
  );
  const waited = await waitForStack(
    entry.ports.api,
    expected,
    opts.timeoutSeconds * 1000,
    ctx.http,
    undefined,
    readSlotApiKey(dir),
  );
  if (!waited.ok) {
    await setStatus(ctx.sandboxesDir, slot, 'failed', ctx.lockOptions);
    throw new KinfraError(
      `Slot ${slot} did not become ready: ${waited.reason}. ` +
        `Logs: ${composeCommandLine(compose, stack, ['logs', '--tail', '100'])}`,
    );
  }
  await setStatus(ctx.sandboxesDir, slot, 'running', ctx.lockOptions);
  const outcome: UpOutcome = {
    slot_id: slot,
    profile: entry.profile,
    compose: compose.label,
    expected_workers: expected,
    workers_registered: waited.probe.workers_registered,
    backend_healthy: true,
    urls: slotUrls(entry.ports),
  };
  if (opts.json) {
    out.json(outcome);
    return outcome;
  }
  out.line(
    `${out.paint('green', 'Slot')} ${out.paint('green', `${slot} (${entry.profile}) is up`)}: ` +
      `backend healthy, ${waited.probe.workers_registered ?? 0}/${expected} workers registered`,
  );
  printUrls(out, outcome.urls);
  return outcome;
}

export async function down(
  ctx: Context,
  opts: { slot?: number; volumes: boolean; force: boolean; json: boolean },
): Promise<{ slot_id: number; volumes_removed: boolean }> {
  const { out } = ctx;
  const { entry, dir } = resolveSlot(ctx.sandboxesDir, ctx.cwd, opts.slot, opts.force);
  const slot = entry.slot_id;
  const stack = stackOf(ctx, slot, dir);
  const compose = await composeFor(ctx);
  const args = ['down', '--remove-orphans', ...(opts.volumes ? ['--volumes'] : [])];
  const forward = (chunk: string): void => {
    ctx.out.stderr.write(chunk);
  };
  const result = await runCompose(ctx.exec, compose, stack, args, {
    onStdout: forward,
    onStderr: forward,
  });
  if (result.code !== 0) {
    throw new KinfraError(
      `${composeCommandLine(compose, stack, args)} failed with exit code ${result.code}`,
    );
  }
  await setStatus(ctx.sandboxesDir, slot, 'stopped', ctx.lockOptions);
  const outcome = { slot_id: slot, volumes_removed: opts.volumes };
  if (opts.json) out.json(outcome);
  else out.line(`Stopped slot ${slot}${opts.volumes ? ' and removed its volumes' : ''}`);
  return outcome;
}

export interface StatusOutcome extends StatusView {
  registry_status: SlotEntry['status'];
  problems: SlotHealth['problems'];
}

export async function status(
  ctx: Context,
  opts: { slot?: number; json: boolean },
): Promise<StatusOutcome> {
  const { out } = ctx;
  const { entry, dir } = resolveSlot(ctx.sandboxesDir, ctx.cwd, opts.slot, true);
  const slot = entry.slot_id;
  const stack = stackOf(ctx, slot, dir);
  const compose = await composeFor(ctx);
  const containers = await projectContainers(ctx.exec, compose, stack);
  // Every container's state, health and restart count: a restarting Prometheus is not "up".
  let health: SlotHealth = assessContainers([]);
  let inspectError: string | undefined;
  const inspected = await inspectContainers(ctx.exec, containers);
  if (inspected.ok) {
    try {
      health = assessContainers(parseInspect(inspected.json));
    } catch (err) {
      inspectError = errorText(err);
    }
  } else {
    inspectError = inspected.error;
  }
  if (inspectError !== undefined && containers.length > 0) {
    health = {
      state: 'degraded',
      containers: [],
      problems: [],
      summary: `degraded: container states unknown (${inspectError})`,
    };
  }
  const probe: StackProbe =
    containers.length > 0
      ? await probeStack(entry.ports.api, ctx.http, readSlotApiKey(dir))
      : { backend_healthy: false, workers_registered: undefined, error: 'no containers' };
  if (health.state === 'up' && !probe.backend_healthy) {
    health = {
      ...health,
      state: 'degraded',
      summary: `degraded: ${probe.error ?? 'backend not healthy'}`,
    };
  }
  const expected = totalWorkers(entry.workers);
  const outcome: StatusOutcome = {
    slot_id: slot,
    profile: entry.profile,
    registry_status: entry.status,
    claimed_by: entry.claimed_by,
    compose_project: composeProjectName(slot),
    state: health.state,
    summary: health.summary,
    problems: health.problems,
    services: health.containers.map((c) => ({
      service: c.service,
      container: c.name,
      status: c.status,
      health: c.health,
      restart_count: c.restart_count,
    })),
    containers,
    backend_healthy: probe.backend_healthy,
    workers_registered: probe.workers_registered,
    expected_workers: expected,
    urls: slotUrls(entry.ports),
    ...(probe.error ? { error: probe.error } : {}),
  };
  if (opts.json) out.json(outcome);
  else printStatus(out, outcome);
  return outcome;
}
