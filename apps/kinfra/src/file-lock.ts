/**
 * A lock file next to the data it protects: created with O_CREAT|O_EXCL ('wx'), holding the owner's pid,
 * host and start time. A lock whose owner process is gone (same host) or that is older than `staleMs`
 * is considered abandoned and broken. Waiting is bounded: after `timeoutMs` the caller gets a clear error.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface LockOptions {
  /** How long to wait for a busy lock before giving up (ms). */
  timeoutMs?: number;
  /** A lock older than this is abandoned even if its pid is alive (ms). */
  staleMs?: number;
  /** Delay between attempts (ms); a little jitter is added. */
  retryMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 15_000;
export const DEFAULT_LOCK_STALE_MS = 60_000;
const DEFAULT_RETRY_MS = 15;

interface LockInfo {
  pid: number;
  host: string;
  created_at: number;
  token: string;
}

export class LockTimeoutError extends Error {
  constructor(
    readonly lockPath: string,
    waitedMs: number,
    holder: string,
  ) {
    super(
      `Timed out after ${Math.round(waitedMs / 1000)}s waiting for the lock ${lockPath} (${holder}). ` +
        `If no kinfra command is running, delete that file and try again.`,
    );
    this.name = 'LockTimeoutError';
  }
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readLockInfo(lockPath: string): LockInfo | undefined {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
    if (parsed && typeof parsed === 'object') {
      const o = parsed as Partial<LockInfo>;
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
    // missing, half-written or garbage: decided by the caller (age of the file)
  }
  return undefined;
}

export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeHolder(info: LockInfo | undefined): string {
  if (!info) return 'holder unknown';
  return `held by pid ${info.pid}${info.host ? ` on ${info.host}` : ''} since ${new Date(info.created_at).toISOString()}`;
}

/** Why a lock is abandoned, or undefined when it looks live. */
function staleReason(
  lockPath: string,
  info: LockInfo | undefined,
  now: number,
  staleMs: number,
): string | undefined {
  if (info) {
    if (info.host === os.hostname() && !isPidAlive(info.pid)) return `pid ${info.pid} is gone`;
    if (now - info.created_at > staleMs) return `older than ${staleMs} ms`;
    return undefined;
  }
  // Unreadable content: the owner may be between create and write; judge by the file's age.
  try {
    const st = fs.statSync(lockPath);
    if (now - st.mtimeMs > Math.min(staleMs, 2_000)) return 'unreadable and not fresh';
  } catch {
    return undefined; // vanished: just retry
  }
  return undefined;
}

/**
 * Removes an abandoned lock without removing a fresh one that another process created in the
 * meantime: the file is first renamed to a private name, then checked; if it turns out to be someone
 * else's new lock it is put back (link fails if yet another lock appeared, in which case that one wins).
 */
function breakStaleLock(lockPath: string, judged: LockInfo | undefined): void {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch {
    return; // someone else broke it first
  }
  const now = readLockInfo(aside);
  const same = judged ? now !== undefined && now.token === judged.token : now === undefined;
  if (!same) {
    try {
      fs.linkSync(aside, lockPath);
    } catch {
      // another process already holds a new lock; ours was a fresh lock we must not keep away
    }
  }
  try {
    fs.unlinkSync(aside);
  } catch {
    // ignore
  }
}

export interface HeldLock {
  readonly path: string;
  release(): void;
}

export async function acquireLock(lockPath: string, options: LockOptions = {}): Promise<HeldLock> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const staleMs = options.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const started = now();
  const info: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    created_at: 0,
    token: randomBytes(8).toString('hex'),
  };

  for (;;) {
    info.created_at = now();
    let fd: number | undefined;
    try {
      fd = fs.openSync(lockPath, 'wx', 0o644);
      fs.writeSync(fd, JSON.stringify(info));
      fs.fsyncSync(fd);
    } catch (err) {
      if (fd !== undefined) {
        // created but could not write: do not leave a half lock behind
        fs.closeSync(fd);
        fs.rmSync(lockPath, { force: true });
        throw err;
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readLockInfo(lockPath);
      if (staleReason(lockPath, holder, now(), staleMs) !== undefined) {
        breakStaleLock(lockPath, holder);
        continue;
      }
      const waited = now() - started;
      if (waited >= timeoutMs) throw new LockTimeoutError(lockPath, waited, describeHolder(holder));
      await sleep(retryMs + Math.floor(Math.random() * retryMs));
      continue;
    }
    fs.closeSync(fd);
    const token = info.token;
    let released = false;
    return {
      path: lockPath,
      release(): void {
        if (released) return;
        released = true;
        // Only remove the lock if it is still ours (it may have been broken as stale).
        const current = readLockInfo(lockPath);
        if (current?.token === token) fs.rmSync(lockPath, { force: true });
      },
    };
  }
}

export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T> | T,
  options?: LockOptions,
): Promise<T> {
  const lock = await acquireLock(lockPath, options);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
