/**
 * Slot policy: who holds which slot (claims, stale claims, release), which slot a command acts on, and
 * the registry status transitions. Decisions are made on a Registry value inside updateRegistry's
 * lock; nothing here prints or runs a program.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockOptions } from './file-lock';
import { Registry, SlotEntry, SlotStatus, readRegistry, updateRegistry } from './registry';
import { ENV_FILE } from './slot-env';
import { ProfileName, SlotPorts, allSlots, profileRank } from './slots';

export class KinfraError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'KinfraError';
  }
}

export function slotKey(slot: number): string {
  return String(slot);
}

export function entryOf(registry: Registry, slot: number): SlotEntry | undefined {
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

/** A claim whose claimant directory no longer exists. */
export function claimIsStale(entry: SlotEntry): boolean {
  return entry.claimed_by !== null && !fs.existsSync(entry.claimed_by);
}

export function isInside(dir: string, parent: string): boolean {
  const rel = path.relative(parent, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export function releaseEntry(entry: SlotEntry): void {
  entry.claimed_by = null;
  entry.claimed_at = null;
}

export function notProvisioned(slot: number): KinfraError {
  return new KinfraError(`Slot ${slot} is not provisioned. Run "kinfra sandbox provision" first.`);
}

/** Releases every stale claim; returns slot → the released claimant. */
export function releaseStaleClaims(registry: Registry): Map<number, string> {
  const released = new Map<number, string>();
  for (const entry of Object.values(registry.slots)) {
    if (claimIsStale(entry)) {
      released.set(entry.slot_id, entry.claimed_by as string);
      releaseEntry(entry);
    }
  }
  return released;
}

/** The slot claimed by `dir` (or a directory containing it). */
export function findOwnSlot(registry: Registry, dir: string): number {
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
// claim

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

/**
 * Claims a slot for `claimant` in `registry` (mutated): the one this directory already holds, the
 * requested one, or the first free slot at or above the wanted profile.
 */
export function decideClaim(
  registry: Registry,
  claimant: string,
  opts: { profile?: ProfileName; slot?: number },
  now: Date,
): ClaimOutcome {
  const wanted = opts.profile ?? 'light';
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
    .filter((e) => e.claimed_by !== null && isInside(claimant, e.claimed_by) && !claimIsStale(e))
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
    e.claimed_at = now.toISOString();
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
      profileRank(e.profile) >= profileRank(wanted) && (e.claimed_by === null || claimIsStale(e)),
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
}

// ---------------------------------------------------------------------------------------------------
// release

export interface ReleaseOutcome {
  slot_id: number;
  released: boolean;
  previous_claimant: string | null;
  status: SlotEntry['status'];
}

/** Releases the given slot (or the one `claimant` holds) in `registry` (mutated). */
export function decideRelease(
  registry: Registry,
  claimant: string,
  opts: { slot?: number; force: boolean },
): ReleaseOutcome {
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
}

// ---------------------------------------------------------------------------------------------------
// the slot a command acts on; status transitions

export interface ResolvedSlot {
  entry: SlotEntry;
  dir: string;
}

/**
 * The slot `up`/`down`/`status` act on: the given one or the one this directory holds. It must be
 * provisioned (its .env.sandbox present) and, unless `force`, not claimed by another directory.
 */
export function resolveSlot(
  sandboxesDir: string,
  cwd: string,
  slot: number | undefined,
  force: boolean,
): ResolvedSlot {
  const registry = readRegistry(sandboxesDir);
  const claimant = claimantPath(cwd);
  const n = slot ?? findOwnSlot(registry, claimant);
  const entry = entryOf(registry, n);
  if (!entry) throw notProvisioned(n);
  const dir = entry.infrastructure_path;
  if (!fs.existsSync(path.join(dir, ENV_FILE))) {
    throw new KinfraError(
      `Slot ${n} is missing ${path.join(dir, ENV_FILE)}. Run "kinfra sandbox provision" to restore it.`,
    );
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

/** Records a slot's status: stopped → starting → running | failed; down → stopped. */
export async function setStatus(
  sandboxesDir: string,
  slot: number,
  status: SlotStatus,
  lockOptions?: LockOptions,
): Promise<void> {
  await updateRegistry(
    sandboxesDir,
    (r) => {
      const e = entryOf(r, slot);
      if (e) e.status = status;
    },
    lockOptions,
  );
}
