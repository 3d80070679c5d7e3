/** The sandbox commands. Each takes a Context (paths, output, process runner, clocks) and throws
 * KinfraError for expected failures (printed as "Error: …", exit code 1). */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComposeCommand, composeCommandLine, detectCompose, runCompose } from './compose';
import { Exec } from './exec';
import { LockOptions } from './file-lock';
import { Output, formatTable } from './output';
import { PortChecker } from './ports';
import {
  Registry,
  SlotEntry,
  newSlotEntry,
  readRegistry,
  slotDirectory,
  updateRegistry,
} from './registry';
import {
  COMPOSE_FILE,
  ENV_FILE,
  GRAFANA_DASHBOARDS_DIR,
  renderSlotFiles,
  slotRenderInput,
  type SlotRenderInput,
} from './render';
import {
  PORT_LABELS,
  PortName,
  ProfileName,
  SlotPorts,
  allSlots,
  composeProjectName,
  profileForSlot,
  profileRank,
  slotPorts,
  totalWorkers,
} from './slots';
import { HttpDeps, StackProbe, apiBaseUrl, probeStack, waitForStack } from './stack-health';

export class KinfraError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'KinfraError';
  }
}

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
}

/** Builds the service images (ktrdr/*:local); `up --build` runs it before starting compose. */
export const BUILD_IMAGES_SCRIPT = path.join('infra', 'scripts', 'build-images.sh');

/** The repository root when this package sits in apps/kinfra of a checkout holding the build script. */
export function findRepoRoot(packageDir = path.resolve(__dirname, '..')): string | undefined {
  const root = path.resolve(packageDir, '..', '..');
  return fs.existsSync(path.join(root, BUILD_IMAGES_SCRIPT)) ? root : undefined;
}

function slotKey(slot: number): string {
  return String(slot);
}

function entryOf(registry: Registry, slot: number): SlotEntry | undefined {
  return registry.slots[slotKey(slot)];
}

/** The directory a claim is made for: the real path of the working directory. */
export function claimantPath(cwd: string): string {
  try {
    return fs.realpathSync(cwd);
  } catch {
    return path.resolve(cwd);
  }
}

function claimIsStale(entry: SlotEntry): boolean {
  return entry.claimed_by !== null && !fs.existsSync(entry.claimed_by);
}

function isInside(dir: string, parent: string): boolean {
  const rel = path.relative(parent, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function releaseEntry(entry: SlotEntry): void {
  entry.claimed_by = null;
  entry.claimed_at = null;
}

// ---------------------------------------------------------------------------------------------------
// provision

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
  // Mounted into Grafana even when the repository's dashboards are not available.
  fs.mkdirSync(path.join(dir, GRAFANA_DASHBOARDS_DIR), { recursive: true });
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
  try {
    const m = /^KTRDR_API_KEY=(\S+)$/m.exec(fs.readFileSync(path.join(dir, ENV_FILE), 'utf8'));
    return m ? m[1] : undefined;
  } catch {
    return undefined;
  }
}

/** The slot's render input with its API key (kept when the slot has one, else a new one). */
function slotInputWithKey(slot: number, dir: string): SlotRenderInput {
  return {
    ...slotRenderInput(slot),
    api_key: readSlotApiKey(dir) ?? randomBytes(32).toString('base64url'),
  };
}

/** .env.sandbox holds the slot's API key: owner-only. */
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
    writeSlotFiles(tmp, renderSlotFiles(slotInputWithKey(slot, tmp)), false);
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
        : writeSlotFiles(dir, renderSlotFiles(slotInputWithKey(slot, dir)), true);
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
    out.json({
      dry_run: opts.dryRun,
      sandboxes_dir: ctx.sandboxesDir,
      slots: results,
    });
    return results;
  }
  for (const r of results) {
    if (r.action === 'would_create') {
      out.line(
        `Would create slot ${r.slot_id} (${r.profile}): API=${r.ports.api}, DB=${r.ports.db}`,
      );
    } else if (r.action === 'created') {
      out.line(`${out.paint('green', 'Created')} slot ${r.slot_id} (${r.profile})`);
    } else {
      out.line(`Slot ${r.slot_id} already exists, skipping`);
      if (r.restored_files.length > 0) {
        out.line(`Restored missing file(s) of slot ${r.slot_id}: ${r.restored_files.join(', ')}`);
      }
      if (r.registry_entry_restored) out.line(`Restored registry entry of slot ${r.slot_id}`);
    }
  }
  const count = (a: ProvisionResult['action']): number =>
    results.filter((r) => r.action === a).length;
  if (count('created') > 0) out.line(`Created ${count('created')} slot(s)`);
  if (count('skipped') > 0) out.line(`Skipped ${count('skipped')} existing slot(s)`);
  // Context on stderr: stdout carries exactly the lines the issue specifies.
  if (opts.dryRun) {
    out.note(
      `Dry run: nothing was created (would create ${count('would_create')} slot(s) in ${ctx.sandboxesDir})`,
    );
  } else {
    out.note(out.paint('dim', `Sandboxes: ${ctx.sandboxesDir}`));
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
  const released = new Map<number, string>();
  if (Object.values(registry.slots).some(claimIsStale)) {
    registry = await updateRegistry(
      ctx.sandboxesDir,
      (r) => {
        for (const entry of Object.values(r.slots)) {
          if (claimIsStale(entry)) {
            released.set(entry.slot_id, entry.claimed_by as string);
            releaseEntry(entry);
          }
        }
        return r;
      },
      ctx.lockOptions,
    );
  }
  const rows: SlotRow[] = allSlots().map((slot) => {
    const entry = entryOf(registry, slot);
    const fresh = newSlotEntry(ctx.sandboxesDir, slot);
    const e = entry ?? fresh;
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
  const { out } = ctx;
  if (opts.json) {
    out.json({ sandboxes_dir: ctx.sandboxesDir, slots: rows });
    return rows;
  }
  const statusCell = (s: SlotRow['status']): string =>
    s === 'running'
      ? out.paint('green', s)
      : s === 'failed'
        ? out.paint('red', s)
        : s === 'not provisioned'
          ? out.paint('dim', s)
          : s;
  const table = formatTable(
    ['Slot', 'Profile', 'API Port', 'Claimed By', 'Status'],
    rows.map((r) => [
      String(r.slot_id),
      r.profile,
      String(r.ports.api),
      r.stale_claim_released
        ? out.paint('yellow', `${r.stale_claim_released} (stale, released)`)
        : (r.claimed_by ?? '-'),
      statusCell(r.status),
    ]),
  );
  for (const l of table) out.line(l);
  if (rows.every((r) => !r.provisioned)) {
    out.line('No slots are provisioned yet: run "kinfra sandbox provision".');
  }
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

const URL_LABELS: Record<string, string> = {
  api: 'API',
  swagger: 'Swagger UI',
  grafana: 'Grafana',
  prometheus: 'Prometheus',
  jaeger_ui: 'Jaeger UI',
  postgres: 'PostgreSQL',
};

function printUrls(out: Output, ports: SlotPorts): void {
  const urls = slotUrls(ports);
  const width = Math.max(...Object.values(URL_LABELS).map((l) => l.length)) + 1;
  for (const [key, url] of Object.entries(urls)) {
    out.line(`  ${`${URL_LABELS[key]}:`.padEnd(width)} ${out.paint('cyan', url)}`);
  }
}

function notProvisioned(slot: number): KinfraError {
  return new KinfraError(`Slot ${slot} is not provisioned. Run "kinfra sandbox provision" first.`);
}

export interface ClaimOutcome {
  slot_id: number;
  profile: ProfileName;
  claimed_by: string;
  claimed_at: string;
  already_claimed: boolean;
  took_over_stale_claim_of: string | null;
  ports: SlotPorts;
  env_file: string;
}

export async function claim(
  ctx: Context,
  opts: { profile?: ProfileName; slot?: number; json: boolean },
): Promise<ClaimOutcome> {
  const claimant = claimantPath(ctx.cwd);
  const wanted = opts.profile ?? 'light';
  const outcome = await updateRegistry(
    ctx.sandboxesDir,
    (registry): ClaimOutcome => {
      const entries = allSlots()
        .map((s) => entryOf(registry, s))
        .filter((e): e is SlotEntry => e !== undefined);
      if (entries.length === 0) {
        throw new KinfraError('No slots are provisioned. Run "kinfra sandbox provision" first.');
      }
      const result = (e: SlotEntry, already: boolean, stale: string | null): ClaimOutcome => ({
        slot_id: e.slot_id,
        profile: e.profile,
        claimed_by: e.claimed_by as string,
        claimed_at: e.claimed_at as string,
        already_claimed: already,
        took_over_stale_claim_of: stale,
        ports: e.ports,
        env_file: path.join(e.infrastructure_path, ENV_FILE),
      });

      // This directory, or a directory containing it (a worktree's subdirectory), already holds one.
      const mine = entries
        .filter(
          (e) => e.claimed_by !== null && isInside(claimant, e.claimed_by) && !claimIsStale(e),
        )
        .sort((a, b) => (b.claimed_by as string).length - (a.claimed_by as string).length)[0];
      if (mine) {
        if (opts.slot !== undefined && opts.slot !== mine.slot_id) {
          throw new KinfraError(
            `This directory (${claimant}) already holds slot ${mine.slot_id}; ` +
              `release it first with "kinfra sandbox release ${mine.slot_id}".`,
          );
        }
        if (profileRank(mine.profile) < profileRank(wanted)) {
          throw new KinfraError(
            `This directory (${claimant}) already holds slot ${mine.slot_id} (${mine.profile}), ` +
              `below the requested profile ${wanted}; release it first.`,
          );
        }
        return result(mine, true, null);
      }

      const take = (e: SlotEntry): ClaimOutcome => {
        const stale = claimIsStale(e) ? e.claimed_by : null;
        e.claimed_by = claimant;
        e.claimed_at = ctx.now().toISOString();
        return result(e, false, stale);
      };

      if (opts.slot !== undefined) {
        const e = entryOf(registry, opts.slot);
        if (!e) throw notProvisioned(opts.slot);
        if (profileRank(e.profile) < profileRank(wanted)) {
          throw new KinfraError(
            `Slot ${e.slot_id} has profile ${e.profile}, below the requested profile ${wanted}.`,
          );
        }
        if (e.claimed_by !== null && !claimIsStale(e)) {
          throw new KinfraError(
            `Slot ${e.slot_id} is already claimed by ${e.claimed_by} (since ${e.claimed_at ?? '?'}).`,
          );
        }
        return take(e);
      }

      const free = entries.find(
        (e) =>
          profileRank(e.profile) >= profileRank(wanted) &&
          (e.claimed_by === null || claimIsStale(e)),
      );
      if (!free) {
        const eligible = entries.filter((e) => profileRank(e.profile) >= profileRank(wanted));
        throw new KinfraError(
          `No free slot with profile ${wanted} or above: ` +
            (eligible.length === 0
              ? 'none is provisioned.'
              : eligible.map((e) => `slot ${e.slot_id} is claimed by ${e.claimed_by}`).join(', ') +
                '.') +
            ' See "kinfra sandbox slots".',
        );
      }
      return take(free);
    },
    ctx.lockOptions,
  );

  const { out } = ctx;
  if (opts.json) {
    out.json(outcome);
    return outcome;
  }
  if (outcome.already_claimed) {
    out.line(
      `Slot ${outcome.slot_id} (${outcome.profile}) is already claimed by ${outcome.claimed_by}`,
    );
  } else {
    out.line(
      `${out.paint('green', 'Claimed')} slot ${outcome.slot_id} (${outcome.profile}) for ${outcome.claimed_by}`,
    );
    if (outcome.took_over_stale_claim_of) {
      out.line(
        `(took over the stale claim of ${outcome.took_over_stale_claim_of}, which no longer exists)`,
      );
    }
  }
  out.line(`  API:      ${apiBaseUrl(outcome.ports.api)}`);
  out.line(`  Env file: ${outcome.env_file}`);
  out.line(`Start it with: kinfra sandbox up ${outcome.slot_id}`);
  return outcome;
}

export interface ReleaseOutcome {
  slot_id: number;
  released: boolean;
  previous_claimant: string | null;
  status: SlotEntry['status'];
}

export async function release(
  ctx: Context,
  opts: { slot?: number; force: boolean; json: boolean },
): Promise<ReleaseOutcome> {
  const claimant = claimantPath(ctx.cwd);
  const outcome = await updateRegistry(
    ctx.sandboxesDir,
    (registry): ReleaseOutcome => {
      const slot = opts.slot ?? findOwnSlot(registry, claimant);
      const e = entryOf(registry, slot);
      if (!e) throw notProvisioned(slot);
      const previous = e.claimed_by;
      if (previous === null)
        return { slot_id: slot, released: false, previous_claimant: null, status: e.status };
      if (!opts.force && !isInside(claimant, previous) && !claimIsStale(e)) {
        throw new KinfraError(
          `Slot ${slot} is claimed by ${previous} (since ${e.claimed_at ?? '?'}), not by this directory ` +
            `(${claimant}). Use --force to release it anyway.`,
        );
      }
      releaseEntry(e);
      return { slot_id: slot, released: true, previous_claimant: previous, status: e.status };
    },
    ctx.lockOptions,
  );
  const { out } = ctx;
  if (opts.json) {
    out.json(outcome);
    return outcome;
  }
  if (!outcome.released) {
    out.line(`Slot ${outcome.slot_id} is not claimed`);
  } else {
    out.line(`Released slot ${outcome.slot_id} (was claimed by ${outcome.previous_claimant})`);
  }
  if (outcome.status === 'running' || outcome.status === 'starting') {
    out.warn(
      `slot ${outcome.slot_id} is still ${outcome.status}; stop it with "kinfra sandbox down ${outcome.slot_id}"`,
    );
  }
  return outcome;
}

/** The slot claimed by `dir` (or a directory containing it). */
function findOwnSlot(registry: Registry, dir: string): number {
  const own = Object.values(registry.slots)
    .filter((e) => e.claimed_by !== null && isInside(dir, e.claimed_by))
    .sort((a, b) => (b.claimed_by as string).length - (a.claimed_by as string).length)[0];
  if (!own) {
    throw new KinfraError(
      `No slot given and none is claimed by this directory (${dir}). ` +
        'Pass a slot number or run "kinfra sandbox claim" first.',
    );
  }
  return own.slot_id;
}

// ---------------------------------------------------------------------------------------------------
// up / down / status

interface ResolvedSlot {
  entry: SlotEntry;
  dir: string;
}

function resolveSlot(ctx: Context, slot: number | undefined, force: boolean): ResolvedSlot {
  const registry = readRegistry(ctx.sandboxesDir);
  const claimant = claimantPath(ctx.cwd);
  const n = slot ?? findOwnSlot(registry, claimant);
  const entry = entryOf(registry, n);
  if (!entry) throw notProvisioned(n);
  const dir = entry.infrastructure_path;
  for (const f of [COMPOSE_FILE, ENV_FILE]) {
    if (!fs.existsSync(path.join(dir, f))) {
      throw new KinfraError(
        `Slot ${n} is missing ${path.join(dir, f)}. Run "kinfra sandbox provision" to restore it.`,
      );
    }
  }
  if (
    !force &&
    entry.claimed_by !== null &&
    !isInside(claimant, entry.claimed_by) &&
    !claimIsStale(entry)
  ) {
    throw new KinfraError(
      `Slot ${n} is claimed by ${entry.claimed_by}, not by this directory (${claimant}). ` +
        'Use --force to act on it anyway.',
    );
  }
  return { entry, dir };
}

async function setStatus(ctx: Context, slot: number, status: SlotEntry['status']): Promise<void> {
  await updateRegistry(
    ctx.sandboxesDir,
    (r) => {
      const e = entryOf(r, slot);
      if (e) e.status = status;
    },
    ctx.lockOptions,
  );
}

async function composeFor(ctx: Context): Promise<ComposeCommand> {
  try {
    return await detectCompose(ctx.exec);
  } catch (err) {
    throw new KinfraError((err as Error).message);
  }
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
  const { entry, dir } = resolveSlot(ctx, opts.slot, opts.force);
  const slot = entry.slot_id;
  const compose = await composeFor(ctx);
  out.note(`Using ${compose.label}: ${compose.version}`);

  const ps = await runCompose(ctx.exec, compose, slot, dir, ['ps', '-q']);
  const alreadyRunning = ps.code === 0 && ps.stdout.trim() !== '';
  if (alreadyRunning) {
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
    // The slot's compose file refers to images by name (ktrdr/*:local); they are built by the
    // repository's script, which is idempotent (source-hash labels).
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

  await setStatus(ctx, slot, 'starting');
  const upArgs = ['up', '-d', '--remove-orphans'];
  const result = await runCompose(ctx.exec, compose, slot, dir, upArgs, {
    onStdout: forward,
    onStderr: forward,
  });
  if (result.code !== 0) {
    await setStatus(ctx, slot, 'failed');
    throw new KinfraError(
      `${composeCommandLine(compose, slot, dir, upArgs)} failed with exit code ${result.code}`,
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
    await setStatus(ctx, slot, 'failed');
    throw new KinfraError(
      `Slot ${slot} did not become ready: ${waited.reason}. ` +
        `Logs: ${composeCommandLine(compose, slot, dir, ['logs', '--tail', '100'])}`,
    );
  }
  await setStatus(ctx, slot, 'running');
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
  printUrls(out, entry.ports);
  return outcome;
}

export async function down(
  ctx: Context,
  opts: { slot?: number; volumes: boolean; force: boolean; json: boolean },
): Promise<{ slot_id: number; volumes_removed: boolean }> {
  const { out } = ctx;
  const { entry, dir } = resolveSlot(ctx, opts.slot, opts.force);
  const slot = entry.slot_id;
  const compose = await composeFor(ctx);
  const args = ['down', '--remove-orphans', ...(opts.volumes ? ['--volumes'] : [])];
  const forward = (chunk: string): void => {
    ctx.out.stderr.write(chunk);
  };
  const result = await runCompose(ctx.exec, compose, slot, dir, args, {
    onStdout: forward,
    onStderr: forward,
  });
  if (result.code !== 0) {
    throw new KinfraError(
      `${composeCommandLine(compose, slot, dir, args)} failed with exit code ${result.code}`,
    );
  }
  await setStatus(ctx, slot, 'stopped');
  const outcome = { slot_id: slot, volumes_removed: opts.volumes };
  if (opts.json) out.json(outcome);
  else out.line(`Stopped slot ${slot}${opts.volumes ? ' and removed its volumes' : ''}`);
  return outcome;
}

export interface StatusOutcome {
  slot_id: number;
  profile: ProfileName;
  registry_status: SlotEntry['status'];
  claimed_by: string | null;
  compose_project: string;
  containers: string[];
  backend_healthy: boolean;
  workers_registered: number | undefined;
  expected_workers: number;
  urls: Record<string, string>;
  error?: string;
}

export async function status(
  ctx: Context,
  opts: { slot?: number; json: boolean },
): Promise<StatusOutcome> {
  const { out } = ctx;
  const { entry, dir } = resolveSlot(ctx, opts.slot, true);
  const slot = entry.slot_id;
  const compose = await composeFor(ctx);
  const ps = await runCompose(ctx.exec, compose, slot, dir, ['ps']);
  const ids = await runCompose(ctx.exec, compose, slot, dir, ['ps', '-q']);
  const containers =
    ids.code === 0
      ? ids.stdout
          .split('\n')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  const probe: StackProbe =
    containers.length > 0
      ? await probeStack(
          entry.ports.api,
          ctx.http,
          readSlotApiKey(slotDirectory(ctx.sandboxesDir, slot)),
        )
      : { backend_healthy: false, workers_registered: undefined, error: 'no containers' };
  const expected = totalWorkers(entry.workers);
  const outcome: StatusOutcome = {
    slot_id: slot,
    profile: entry.profile,
    registry_status: entry.status,
    claimed_by: entry.claimed_by,
    compose_project: composeProjectName(slot),
    containers,
    backend_healthy: probe.backend_healthy,
    workers_registered: probe.workers_registered,
    expected_workers: expected,
    urls: slotUrls(entry.ports),
    ...(probe.error ? { error: probe.error } : {}),
  };
  if (opts.json) {
    out.json(outcome);
    return outcome;
  }
  out.line(
    `Slot ${slot} (${entry.profile}), project ${outcome.compose_project}, claimed by ${entry.claimed_by ?? '-'}`,
  );
  if (ps.code === 0 && ps.stdout.trim())
    for (const l of ps.stdout.trimEnd().split('\n')) out.line(l);
  if (containers.length === 0) {
    out.line('No containers are running');
  } else {
    out.line(
      `Backend: ${probe.backend_healthy ? out.paint('green', 'healthy') : out.paint('red', 'not healthy')}` +
        `, workers registered: ${probe.workers_registered ?? '?'}/${expected}` +
        (probe.error ? ` (${probe.error})` : ''),
    );
    printUrls(out, entry.ports);
  }
  return outcome;
}
