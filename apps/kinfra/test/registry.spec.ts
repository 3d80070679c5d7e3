import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LockTimeoutError, acquireLock, ownerPathOf } from '../src/file-lock';
import {
  RegistryCorruptError,
  emptyRegistry,
  newSlotEntry,
  readRegistry,
  registryPath,
  serializeRegistry,
  updateRegistry,
} from '../src/registry';
import { tempDir } from './support/helpers';

describe('registry', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a missing file reads as an empty version-2 registry', () => {
    expect(readRegistry(dir)).toEqual({ version: 2, slots: {} });
    expect(fs.existsSync(registryPath(dir))).toBe(false);
  });

  it('writes the issue shape and reads it back', async () => {
    await updateRegistry(dir, (r) => {
      r.slots['1'] = newSlotEntry(dir, 1);
      r.slots['6'] = newSlotEntry(dir, 6);
    });
    const raw = JSON.parse(fs.readFileSync(registryPath(dir), 'utf8'));
    expect(raw).toEqual({
      version: 2,
      slots: {
        '1': {
          slot_id: 1,
          profile: 'light',
          workers: { backtest: 1, training: 1 },
          ports: { api: 8001, db: 5433, grafana: 3001, jaeger_ui: 16687, prometheus: 9091 },
          claimed_by: null,
          claimed_at: null,
          status: 'stopped',
          infrastructure_path: path.join(dir, 'slot-1'),
        },
        '6': expect.objectContaining({
          slot_id: 6,
          profile: 'heavy',
          workers: { backtest: 4, training: 4 },
        }),
      },
    });
    expect(readRegistry(dir)).toEqual(raw);
    // no temp files or lock left behind
    expect(fs.readdirSync(dir).sort()).toEqual(['registry.json']);
  });

  it('does not rewrite the file when nothing changed', async () => {
    await updateRegistry(dir, (r) => {
      r.slots['2'] = newSlotEntry(dir, 2);
    });
    const before = fs.statSync(registryPath(dir)).ino;
    await updateRegistry(dir, () => undefined);
    expect(fs.statSync(registryPath(dir)).ino).toBe(before);
  });

  it('an error inside the change leaves the file untouched and releases the lock', async () => {
    await updateRegistry(dir, (r) => {
      r.slots['3'] = newSlotEntry(dir, 3);
    });
    const text = fs.readFileSync(registryPath(dir), 'utf8');
    await expect(
      updateRegistry(dir, (r) => {
        (r.slots['3'] as { claimed_by: string | null }).claimed_by = '/x';
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(fs.readFileSync(registryPath(dir), 'utf8')).toBe(text);
    expect(fs.existsSync(`${registryPath(dir)}.lock`)).toBe(false);
  });

  it('a corrupt file is an error naming the file and a backup, never a silent reset', async () => {
    const file = registryPath(dir);
    fs.writeFileSync(file, '{"version": 2, "slots": {"1": ');
    let error: unknown;
    try {
      readRegistry(dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RegistryCorruptError);
    const e = error as RegistryCorruptError;
    expect(e.message).toContain(`Registry file ${file} is corrupt: not valid JSON`);
    expect(e.backup).toMatch(/registry\.json\.corrupt-[0-9a-f]{12}$/);
    expect(e.message).toContain(`A copy was saved as ${e.backup}`);
    expect(fs.readFileSync(e.backup as string, 'utf8')).toBe('{"version": 2, "slots": {"1": ');

    // updates refuse too, and leave the corrupt file as it was
    await expect(updateRegistry(dir, () => undefined)).rejects.toBeInstanceOf(RegistryCorruptError);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"version": 2, "slots": {"1": ');
    // one backup per distinct content, not one per attempt
    expect(fs.readdirSync(dir).filter((f) => f.includes('.corrupt-'))).toHaveLength(1);
  });

  it.each([
    [{ version: 1, slots: {} }, 'unsupported version 1 (expected 2)'],
    [[], 'the top level must be a JSON object'],
    [{ version: 2, slots: [] }, '"slots" must be an object'],
    [{ version: 2, slots: { x: {} } }, 'slots key "x" is not a slot number'],
  ])('rejects %j: %s', (content, problem) => {
    fs.writeFileSync(registryPath(dir), JSON.stringify(content));
    expect(() => readRegistry(dir)).toThrow(problem);
  });

  it('names the bad field of a slot entry', () => {
    const reg = emptyRegistry();
    reg.slots['2'] = newSlotEntry(dir, 2);
    const text = serializeRegistry(reg)
      .replace('"profile": "light"', '"profile": "huge"')
      .replace('"api": 8002', '"api": "8002"');
    fs.writeFileSync(registryPath(dir), text);
    expect(() => readRegistry(dir)).toThrow(
      /slots\.2\.profile must be light, standard or heavy; slots\.2\.ports\.api must be a port number/,
    );
  });
});

/** The holder record of a lock. */
function ownerOf(lockPath: string): { pid: number; token: string } {
  return JSON.parse(fs.readFileSync(ownerPathOf(lockPath), 'utf8'));
}

/**
 * A lock directory as another process leaves it: its holder record, and an mtime `ageMs` in the past
 * (a holder refreshes the mtime while it lives; a dead one stops).
 */
function placeLock(lockPath: string, owner: object, ageMs: number): void {
  fs.mkdirSync(lockPath);
  fs.writeFileSync(ownerPathOf(lockPath), JSON.stringify(owner));
  const mtime = new Date(Date.now() - ageMs);
  fs.utimesSync(lockPath, mtime, mtime);
}

describe('lock file', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is exclusive: a second acquirer waits until the first releases', async () => {
    const lockPath = path.join(dir, 'x.lock');
    const first = await acquireLock(lockPath);
    const info = ownerOf(lockPath);
    expect(info.pid).toBe(process.pid);
    let second = false;
    const pending = acquireLock(lockPath, { retryMs: 5 }).then((l) => {
      second = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 60));
    expect(second).toBe(false);
    first.release();
    const l2 = await pending;
    expect(second).toBe(true);
    l2.release();
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('gives up after the timeout with a message naming the lock and its holder', async () => {
    const lockPath = path.join(dir, 'x.lock');
    const held = await acquireLock(lockPath);
    let now = 0;
    const attempt = acquireLock(lockPath, {
      timeoutMs: 1_000,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    await expect(attempt).rejects.toBeInstanceOf(LockTimeoutError);
    await expect(attempt).rejects.toThrow(
      new RegExp(`waiting for the lock ${lockPath} \\(held by pid ${process.pid} on `),
    );
    held.release();
  });

  it('breaks a lock whose process is gone (it stopped refreshing the lock)', async () => {
    const lockPath = path.join(dir, 'x.lock');
    // a pid that cannot exist (above pid_max on Linux), last refreshed longer ago than the stale age
    placeLock(
      lockPath,
      { pid: 2 ** 30, host: os.hostname(), created_at: Date.now() - 3_000, token: 'dead' },
      3_000,
    );
    const lock = await acquireLock(lockPath, { timeoutMs: 500, staleMs: 2_000 });
    expect(ownerOf(lockPath).pid).toBe(process.pid);
    lock.release();
  });

  it('breaks a lock older than the stale age even if its pid is alive', async () => {
    const lockPath = path.join(dir, 'x.lock');
    placeLock(
      lockPath,
      { pid: process.pid, host: os.hostname(), created_at: Date.now() - 20_000, token: 'old' },
      20_000,
    );
    const lock = await acquireLock(lockPath, { staleMs: 10_000, timeoutMs: 500 });
    expect(ownerOf(lockPath).token).not.toBe('old');
    lock.release();
  });

  it('does not break a young lock of a live process', async () => {
    const lockPath = path.join(dir, 'x.lock');
    placeLock(
      lockPath,
      { pid: process.pid, host: os.hostname(), created_at: Date.now(), token: 'live' },
      0,
    );
    let now = 5_000;
    await expect(
      acquireLock(lockPath, {
        timeoutMs: 200,
        staleMs: 60_000,
        now: () => now,
        sleep: async (ms) => {
          now += ms;
        },
      }),
    ).rejects.toBeInstanceOf(LockTimeoutError);
    expect(ownerOf(lockPath).token).toBe('live');
  });
});
