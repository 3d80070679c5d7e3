/**
 * The lock next to the data it protects (kinfra: `registry.json.lock`), held with proper-lockfile.
 *
 * proper-lockfile does the locking: the lock is a directory (mkdir is atomic), its holder touches the
 * directory's mtime every `update` ms while it holds it, and an acquirer removes a lock whose mtime is
 * older than `stale` ms (its holder crashed or hangs). It also notices when a held lock was removed or
 * taken over (onCompromised) and removes held locks when the process exits.
 *
 * This wrapper adds what kinfra's commands rely on: bounded waiting (`timeoutMs`, then a
 * LockTimeoutError naming the lock, the wait and the holder), a holder record next to the lock
 * (`<lock>.owner.json`: pid, host, start time, token; information for that message only, the lock
 * itself is the directory), and a LockCompromisedError instead of the library's default of throwing
 * from a timer (which would crash the process).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lock as acquireDirLock, unlockSync } from 'proper-lockfile';
import { errorText } from '@ktrdr/contracts/constants';

export interface LockOptions {
  /** How long to wait for a busy lock before giving up (ms). */
  timeoutMs?: number;
  /**
   * A lock whose mtime has not been refreshed for this long is abandoned and taken over (ms, at least
   * 2000: proper-lockfile raises smaller values to 2000).
   */
  staleMs?: number;
  /** Delay between attempts (ms); a little jitter is added. */
  retryMs?: number;
  /** Clock and sleep of the waiting loop (tests). Staleness is always judged by the real clock. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 15_000;
/**
 * 10 s: a holder refreshes its lock every 2 s (see updateIntervalMs), so a live holder is five missed
 * refreshes away from looking abandoned; the commands hold the lock for milliseconds (read, change and
 * write the registry) and never block the event loop for seconds. A crashed holder therefore keeps the
 * others waiting for at most 10 s, which is below the 15 s timeout: the next command takes the lock
 * over by itself instead of failing.
 */
export const DEFAULT_LOCK_STALE_MS = 10_000;
/** proper-lockfile's lower bound for `stale`. */
export const MIN_LOCK_STALE_MS = 2_000;
const DEFAULT_RETRY_MS = 15;
/** The holder record of a lock: next to it, not in it (a write in the directory would change the
 * mtime proper-lockfile watches). */
export function ownerPathOf(lockPath: string): string {
  return `${lockPath}.owner.json`;
}

/** Refresh interval: a fifth of `stale` (2 s for 10 s), within proper-lockfile's [1 s, stale/2]. */
function updateIntervalMs(staleMs: number): number {
  return Math.max(1_000, Math.floor(staleMs / 5));
}

interface LockOwner {
  pid: number;
  host: string;
  created_at: number;
  token: string;
}

/** The lock errors the command line reports as they are (message, exit code 1). */
export class LockError extends Error {
  constructor(
    readonly lockPath: string,
    message: string,
  ) {
    super(message);
    this.name = 'LockError';
  }
}

function seconds(ms: number): string {
  return `${Number((Math.max(0, ms) / 1000).toFixed(1))}s`;
}

export class LockTimeoutError extends LockError {
  constructor(
    lockPath: string,
    readonly waitedMs: number,
    holder: string,
    staleMs: number,
  ) {
    super(
      lockPath,
      `Timed out after ${seconds(waitedMs)} waiting for the lock ${lockPath} (${holder}). ` +
        `Another kinfra command is using it. If none is running, its holder died and the lock is ` +
        `taken over once it has gone ${seconds(staleMs)} without a refresh: run the command again, ` +
        `or remove the lock first (rm -r ${lockPath}).`,
    );
    this.name = 'LockTimeoutError';
  }
}

/** The lock was removed or taken over by another process while this one held it. */
export class LockCompromisedError extends LockError {
  constructor(lockPath: string, reason: string) {
    super(
      lockPath,
      `Lost the lock ${lockPath} while holding it (${reason}). Another kinfra command may have ` +
        `changed the same data at the same time: check the result (kinfra sandbox slots) and run ` +
        `the command again if needed.`,
    );
    this.name = 'LockCompromisedError';
  }
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readLockOwner(lockPath: string): LockOwner | undefined {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(ownerPathOf(lockPath), 'utf8'));
    if (parsed && typeof parsed === 'object') {
      const o = parsed as Partial<LockOwner>;
      if (typeof o.pid === 'number' && typeof o.created_at === 'number') {
        return {
          pid: o.pid,
          host: typeof o.host === 'string' ? o.host : '',
          created_at: o.created_at,
          token: typeof o.token === 'string' ? o.token : '',
        };
      }
    }
  } catch {
    // missing (a holder that has not written it yet), half-written or garbage
  }
  return undefined;
}

function describeHolder(lockPath: string): string {
  const owner = readLockOwner(lockPath);
  let refreshed = '';
  try {
    refreshed = `, refreshed ${seconds(Date.now() - fs.statSync(lockPath).mtimeMs)} ago`;
  } catch {
    // released meanwhile
  }
  if (!owner) return `holder unknown${refreshed}`;
  return (
    `held by pid ${owner.pid}${owner.host ? ` on ${owner.host}` : ''} ` +
    `since ${new Date(owner.created_at).toISOString()}${refreshed}`
  );
}

/**
 * A plain file at the lock path is the O_EXCL lock file of earlier kinfra builds (proper-lockfile
 * cannot remove it: it is not a directory). Left by a crash, it is removed once it is older than the
 * stale age, as an abandoned lock would be; a younger one is waited for.
 */
function removeStaleLegacyLock(lockPath: string, staleMs: number): void {
  try {
    const st = fs.statSync(lockPath);
    if (st.isFile() && Date.now() - st.mtimeMs > staleMs) fs.unlinkSync(lockPath);
  } catch {
    // no lock there, or removed meanwhile
  }
}

function isLegacyLock(lockPath: string): boolean {
  try {
    return fs.statSync(lockPath).isFile();
  } catch {
    return false;
  }
}

export interface HeldLock {
  readonly path: string;
  /** Set once the lock is known to be lost (removed or taken over while held). */
  readonly lost: LockCompromisedError | undefined;
  /** Removes the lock if it is still ours; idempotent. A lost lock is left alone and reported in `lost`. */
  release(): void;
}

export async function acquireLock(lockPath: string, options: LockOptions = {}): Promise<HeldLock> {
  const target = path.resolve(lockPath);
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const staleMs = Math.max(options.staleMs ?? DEFAULT_LOCK_STALE_MS, MIN_LOCK_STALE_MS);
  const retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const started = now();
  const token = randomBytes(8).toString('hex');
  let lost: LockCompromisedError | undefined;
  // proper-lockfile locks "a file" through `${file}.lock`; here the lock path itself is given, so the
  // file is only the library's key and `lockfilePath` is the lock. No realpath: it needs the file.
  const libraryOptions = { lockfilePath: target, realpath: false };

  for (;;) {
    try {
      await acquireDirLock(target, {
        ...libraryOptions,
        stale: staleMs,
        update: updateIntervalMs(staleMs),
        retries: 0, // waiting is ours (bounded by time, with an injectable clock)
        onCompromised: () => {
          // Called from the refresh timer: throwing here (the library's default) would crash the
          // process. The library's error says little ("Unable to update lock within the stale
          // threshold", or the stat error with its code replaced by ECOMPROMISED): say what happened.
          lost ??= new LockCompromisedError(
            target,
            fs.existsSync(target) ? 'another process took it over' : 'it was removed',
          );
        },
      });
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: the library found a stale legacy lock file and could not remove it.
      if (code !== 'ELOCKED' && !(code === 'ENOTDIR' && isLegacyLock(target))) throw err;
      removeStaleLegacyLock(target, staleMs);
    }
    const waited = now() - started;
    if (waited >= timeoutMs) {
      throw new LockTimeoutError(target, waited, describeHolder(target), staleMs);
    }
    await sleep(retryMs + Math.floor(Math.random() * retryMs));
  }
  const owner: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    created_at: Date.now(),
    token,
  };
  fs.writeFileSync(ownerPathOf(target), JSON.stringify(owner));

  let released = false;
  return {
    path: target,
    get lost() {
      return lost;
    },
    release(): void {
      if (released) return;
      released = true;
      if (lost) return; // the library has already dropped it; the directory is not ours
      if (readLockOwner(target)?.token !== token) {
        // Removed (by hand) and taken by another command since our last refresh: the library does
        // not know yet. Let it forget the lock (its `fs` option, with a removal that does nothing)
        // without removing the other holder's directory.
        lost = new LockCompromisedError(target, 'it was removed or taken over by another process');
        try {
          unlockSync(target, { ...libraryOptions, fs: { ...fs, rmdirSync: () => undefined } });
        } catch {
          // already forgotten
        }
        return;
      }
      fs.rmSync(ownerPathOf(target), { force: true });
      try {
        unlockSync(target, libraryOptions);
      } catch (err) {
        // Gone between its last refresh and now.
        lost = new LockCompromisedError(target, errorText(err));
      }
    },
  };
}

/**
 * Runs `fn` under the lock and releases it whatever happens. If `fn` succeeded but the lock was lost
 * meanwhile, the result is a LockCompromisedError (the work may have raced another holder); if `fn`
 * failed, its own error is the one reported.
 */
export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T> | T,
  options?: LockOptions,
): Promise<T> {
  const lock = await acquireLock(lockPath, options);
  let result: T;
  try {
    result = await fn();
  } finally {
    lock.release();
  }
  if (lock.lost) throw lock.lost;
  return result;
}
