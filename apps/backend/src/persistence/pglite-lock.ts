import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Name of the lock file inside a PGlite data directory. */
export const PGLITE_LOCK_FILE = 'ktrdr-backend.lock';

/** Directories locked by this process (a second repository here must not open them either). */
const heldHere = new Set<string>();

interface LockOwner {
  pid: number;
  host: string;
}

/**
 * PGlite does not stop two processes from opening one data directory, and that corrupts it. This
 * lock file (pid and host) makes a second backend fail fast with a clear message. A lock left by a
 * process that no longer runs on this host, or written on another host (e.g. a recreated
 * container), is taken over.
 */
export function acquirePgliteLock(dir: string, warn?: (message: string) => void): () => void {
  const file = join(dir, PGLITE_LOCK_FILE);
  if (heldHere.has(dir)) throw inUse(dir, { pid: process.pid, host: hostname() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() }));
      } finally {
        closeSync(fd);
      }
      heldHere.add(dir);
      return () => release(dir, file);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    }
    const owner = readOwner(file);
    if (owner && owner.host === hostname() && owner.pid !== process.pid && isAlive(owner.pid)) {
      throw inUse(dir, owner);
    }
    if (owner && owner.host !== hostname()) {
      warn?.(
        `Taking over the PGlite data directory ${dir} from host ${owner.host} (pid ${owner.pid}); ` +
          'make sure no other backend uses it.',
      );
    }
    try {
      unlinkSync(file); // stale: its process is gone
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
  }
  throw new Error(`Cannot lock the PGlite data directory ${dir}: another process keeps taking it`);
}

function release(dir: string, file: string): void {
  if (!heldHere.delete(dir)) return;
  try {
    const owner = readOwner(file);
    if (owner?.pid === process.pid) unlinkSync(file);
  } catch {
    // Best effort: a leftover lock of a dead process is taken over at the next start.
  }
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string'
      ? { pid: parsed.pid, host: parsed.host }
      : undefined;
  } catch {
    return undefined; // unreadable or half-written: treated as stale
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

function inUse(dir: string, owner: LockOwner): Error {
  const who =
    owner.pid === process.pid ? 'another repository in this process' : `process ${owner.pid}`;
  return new Error(
    `The PGlite data directory ${dir} (KTRDR_DB_DIR) is in use by ${who}. PGlite allows one ` +
      'process per directory: stop the other backend, set another KTRDR_DB_DIR, or use ' +
      'KTRDR_DB_DRIVER=postgres to run several backends on one database.',
  );
}
