/**
 * registry.json: the state of the slot pool (profiles, ports, claims, status). Every change goes through
 * updateRegistry(): lock file → read → change → atomic write → unlock, so concurrent kinfra processes never
 * lose each other's updates. A file that cannot be understood is never reset: the caller gets an error
 * naming the file and a backup copy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '@ktrdr/config';
import { errorText } from '@ktrdr/contracts/constants';
import writeFileAtomic from 'write-file-atomic';
import { LockOptions, withLock } from './file-lock';
import {
  PORT_BASES,
  PortName,
  PROFILES,
  ProfileName,
  SlotPorts,
  WorkerCounts,
  isProfileName,
  profileForSlot,
  slotPorts,
} from './slots';

export const REGISTRY_VERSION = 2;
export const REGISTRY_FILE = 'registry.json';

export const SLOT_STATUSES = ['stopped', 'starting', 'running', 'failed'] as const;
export type SlotStatus = (typeof SLOT_STATUSES)[number];

export interface SlotEntry {
  slot_id: number;
  profile: ProfileName;
  workers: WorkerCounts;
  ports: SlotPorts;
  claimed_by: string | null;
  claimed_at: string | null;
  status: SlotStatus;
  infrastructure_path: string;
}

export interface Registry {
  version: typeof REGISTRY_VERSION;
  slots: Record<string, SlotEntry>;
}

export class RegistryCorruptError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly backup: string | undefined,
  ) {
    super(
      `Registry file ${file} is corrupt: ${problem}. ` +
        (backup ? `A copy was saved as ${backup}. ` : '') +
        `kinfra did not change it. Repair the file, or move it away and run ` +
        `"kinfra sandbox provision" to recreate it (existing claims would then be forgotten).`,
    );
    this.name = 'RegistryCorruptError';
  }
}

export function registryPath(sandboxesDir: string): string {
  return path.join(sandboxesDir, REGISTRY_FILE);
}

export function slotDirectory(sandboxesDir: string, slot: number): string {
  return path.join(sandboxesDir, `slot-${slot}`);
}

export function emptyRegistry(): Registry {
  return { version: REGISTRY_VERSION, slots: {} };
}

export function newSlotEntry(sandboxesDir: string, slot: number): SlotEntry {
  const profile = profileForSlot(slot);
  return {
    slot_id: slot,
    profile,
    workers: { ...PROFILES[profile] },
    ports: { ...slotPorts(slot) },
    claimed_by: null,
    claimed_at: null,
    status: 'stopped',
    infrastructure_path: slotDirectory(sandboxesDir, slot),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** Problems of one slot entry, each naming the field (empty when valid). */
function entryProblems(key: string, e: unknown): string[] {
  const at = `slots.${key}`;
  if (!isRecord(e)) return [`${at} must be an object`];
  const problems: string[] = [];
  if (e.slot_id !== Number(key)) problems.push(`${at}.slot_id must be ${key}`);
  if (typeof e.profile !== 'string' || !isProfileName(e.profile)) {
    problems.push(`${at}.profile must be light, standard or heavy`);
  }
  if (!isRecord(e.workers) || !isCount(e.workers.backtest) || !isCount(e.workers.training)) {
    problems.push(`${at}.workers must be {"backtest": n, "training": n}`);
  }
  if (!isRecord(e.ports)) {
    problems.push(`${at}.ports must be an object`);
  } else {
    for (const name of Object.keys(PORT_BASES) as PortName[]) {
      if (!isPort(e.ports[name])) problems.push(`${at}.ports.${name} must be a port number`);
    }
  }
  if (e.claimed_by !== null && typeof e.claimed_by !== 'string') {
    problems.push(`${at}.claimed_by must be a path or null`);
  }
  if (e.claimed_at !== null && typeof e.claimed_at !== 'string') {
    problems.push(`${at}.claimed_at must be a timestamp or null`);
  }
  if (typeof e.status !== 'string' || !(SLOT_STATUSES as readonly string[]).includes(e.status)) {
    problems.push(`${at}.status must be one of ${SLOT_STATUSES.join(', ')}`);
  }
  if (typeof e.infrastructure_path !== 'string' || e.infrastructure_path === '') {
    problems.push(`${at}.infrastructure_path must be a path`);
  }
  return problems;
}

/** Parses and validates registry text; returns the registry or a description of the first problems. */
export function parseRegistry(text: string): { registry: Registry } | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { problem: `not valid JSON (${errorText(err)})` };
  }
  if (!isRecord(parsed)) return { problem: 'the top level must be a JSON object' };
  if (parsed.version !== REGISTRY_VERSION) {
    return {
      problem: `unsupported version ${JSON.stringify(parsed.version)} (expected ${REGISTRY_VERSION})`,
    };
  }
  if (!isRecord(parsed.slots)) return { problem: '"slots" must be an object' };
  const problems: string[] = [];
  for (const [key, entry] of Object.entries(parsed.slots)) {
    if (!/^[1-9]\d*$/.test(key)) {
      problems.push(`slots key "${key}" is not a slot number`);
      continue;
    }
    problems.push(...entryProblems(key, entry));
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join('; ');
    return { problem: problems.length > 5 ? `${shown}; and ${problems.length - 5} more` : shown };
  }
  return { registry: parsed as unknown as Registry };
}

/** Keeps one copy per distinct corrupt content next to the file; returns its path. */
function backupCorrupt(file: string, text: string): string | undefined {
  const digest = sha256Hex(text).slice(0, 12);
  const backup = `${file}.corrupt-${digest}`;
  try {
    if (!fs.existsSync(backup)) fs.writeFileSync(backup, text, { flag: 'wx' });
    return backup;
  } catch {
    return undefined;
  }
}

/** Reads the registry; a missing file is an empty registry, a corrupt one an error (with a backup). */
export function readRegistry(sandboxesDir: string): Registry {
  const file = registryPath(sandboxesDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyRegistry();
    throw err;
  }
  const result = parseRegistry(text);
  if ('problem' in result) {
    throw new RegistryCorruptError(file, result.problem, backupCorrupt(file, text));
  }
  return result.registry;
}

export function serializeRegistry(registry: Registry): string {
  const slots: Record<string, SlotEntry> = {};
  for (const key of Object.keys(registry.slots).sort((a, b) => Number(a) - Number(b))) {
    slots[key] = registry.slots[key] as SlotEntry;
  }
  return `${JSON.stringify({ ...registry, version: REGISTRY_VERSION, slots }, null, 2)}\n`;
}

/**
 * Runs `change` on the current registry under the registry lock and writes the result atomically if
 * it changed. Returns what `change` returns. Errors thrown by `change` leave the file untouched.
 */
export async function updateRegistry<T>(
  sandboxesDir: string,
  change: (registry: Registry) => T,
  lockOptions?: LockOptions,
): Promise<T> {
  fs.mkdirSync(sandboxesDir, { recursive: true });
  const file = registryPath(sandboxesDir);
  return withLock(
    `${file}.lock`,
    () => {
      const registry = readRegistry(sandboxesDir);
      const before = fs.existsSync(file) ? serializeRegistry(registry) : undefined;
      const result = change(registry);
      const after = serializeRegistry(registry);
      if (after !== before) writeFileAtomic.sync(file, after, { mode: 0o644 });
      return result;
    },
    lockOptions,
  );
}
