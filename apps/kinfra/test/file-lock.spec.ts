/**
 * The registry lock (src/file-lock.ts, on proper-lockfile) with real clocks and real processes: other
 * holders are child processes running the built module (dist/file-lock.js, the code the CLI runs).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { childProcessEnv } from '@ktrdr/config';
import { runCli } from '../src/cli';
import {
  LockCompromisedError,
  LockTimeoutError,
  acquireLock,
  ownerPathOf,
  withLock,
} from '../src/file-lock';
import { registryPath } from '../src/registry';
import { makeContext, tempDir } from './support/helpers';

// Child processes and waits of a few seconds (the stale age); generous under a shared, loaded CPU.
jest.setTimeout(30_000);

const DIST_LOCK = path.resolve(__dirname, '..', 'dist', 'file-lock.js');

/** Takes the lock, says "held", releases it on a line on stdin and says "released" or "lost". */
const HOLDER = `
const { acquireLock } = require(process.argv[1]);
const [lockPath, staleMs] = process.argv.slice(2);
acquireLock(lockPath, { staleMs: Number(staleMs), timeoutMs: 20000 }).then((lock) => {
  process.stdout.write('held\\n');
  process.stdin.once('data', () => {
    lock.release();
    process.stdout.write(lock.lost ? 'lost\\n' : 'released\\n');
    process.exit(0);
  });
}, (e) => { console.error(e); process.exit(1); });
`;

interface Holder {
  child: ChildProcess;
  pid: number;
  /** Everything the child printed on stdout so far. */
  stdout(): string;
  /** Asks the child to release the lock; resolves with its answer. */
  release(): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

const children: ChildProcess[] = [];

function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

/** Starts a child holding `lockPath`; resolves once it holds it. */
async function holdInChild(lockPath: string, staleMs: number): Promise<Holder> {
  const child = spawn(process.execPath, ['-e', HOLDER, DIST_LOCK, lockPath, String(staleMs)], {
    env: childProcessEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stderr: string;
  }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr: err })));
  await waitFor(`the child to hold ${lockPath} (stderr: ${err})`, () => out.includes('held\n'));
  return {
    child,
    pid: child.pid as number,
    stdout: () => out,
    release: async () => {
      child.stdin?.write('go\n');
      await waitFor('the child to release', () => /released|lost/.test(out));
      return out.includes('lost') ? 'lost' : 'released';
    },
    exited,
  };
}

function ownerOf(lockPath: string): { pid: number; host: string; token: string } {
  return JSON.parse(fs.readFileSync(ownerPathOf(lockPath), 'utf8'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('file lock (proper-lockfile)', () => {
  let dir: string;
  let lockPath: string;
  beforeAll(() => {
    if (!fs.existsSync(DIST_LOCK)) {
      throw new Error(`${DIST_LOCK} is missing: run "pnpm --filter @ktrdr/kinfra build" first`);
    }
  });
  beforeEach(() => {
    dir = tempDir();
    lockPath = path.join(dir, 'registry.json.lock');
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await new Promise((r) => c.once('close', r));
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the lock is a directory with the holder record next to it, both gone after release', async () => {
    const lock = await acquireLock(lockPath);
    expect(fs.statSync(lockPath).isDirectory()).toBe(true);
    expect(fs.readdirSync(lockPath)).toEqual([]);
    expect(ownerOf(lockPath)).toEqual({
      pid: process.pid,
      host: os.hostname(),
      created_at: expect.any(Number),
      token: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    lock.release();
    lock.release(); // idempotent
    expect(fs.existsSync(lockPath)).toBe(false);
    expect(fs.existsSync(ownerPathOf(lockPath))).toBe(false);
    expect(lock.lost).toBeUndefined();
  });

  it('contention between processes: the second waits while the first holds, then gets it', async () => {
    const first = await holdInChild(lockPath, 10_000);
    expect(ownerOf(lockPath).pid).toBe(first.pid);
    let mine: Awaited<ReturnType<typeof acquireLock>> | undefined;
    const pending = acquireLock(lockPath, { timeoutMs: 10_000 }).then((l) => (mine = l));
    await sleep(300);
    expect(mine).toBeUndefined();
    expect(ownerOf(lockPath).pid).toBe(first.pid);

    expect(await first.release()).toBe('released');
    await pending;
    expect(mine).toBeDefined();
    expect(ownerOf(lockPath).pid).toBe(process.pid);
    mine?.release();
    expect(fs.existsSync(lockPath)).toBe(false);
    expect(await first.exited).toEqual({ code: 0, signal: null, stderr: '' });
  });

  it('contention in one process: withLock bodies never overlap', async () => {
    const log: string[] = [];
    const body = (name: string) => async (): Promise<string> => {
      log.push(`${name}:in`);
      await sleep(50);
      log.push(`${name}:out`);
      return name;
    };
    const results = await Promise.all([
      withLock(lockPath, body('a'), { retryMs: 5 }),
      withLock(lockPath, body('b'), { retryMs: 5 }),
      withLock(lockPath, body('c'), { retryMs: 5 }),
    ]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toHaveLength(6);
    for (let i = 0; i < log.length; i += 2) {
      const name = (log[i] as string).split(':')[0];
      expect(log.slice(i, i + 2)).toEqual([`${name}:in`, `${name}:out`]);
    }
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('times out with a message naming the lock, the wait, the holder and what to do', async () => {
    const holder = await holdInChild(lockPath, 10_000);
    const started = Date.now();
    let error: unknown;
    try {
      await acquireLock(lockPath, { timeoutMs: 400 });
    } catch (err) {
      error = err;
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(error).toBeInstanceOf(LockTimeoutError);
    const e = error as LockTimeoutError;
    expect(e.lockPath).toBe(lockPath);
    expect(e.waitedMs).toBeGreaterThanOrEqual(400);
    expect(e.message).toMatch(
      new RegExp(
        `^Timed out after 0\\.[4-9]s waiting for the lock ${lockPath} ` +
          `\\(held by pid ${holder.pid} on ${os.hostname()} since \\d{4}-\\d\\d-\\d\\dT[^,]+, ` +
          `refreshed \\d+(\\.\\d)?s ago\\)\\. `,
      ),
    );
    expect(e.message).toContain('If none is running, its holder died');
    expect(e.message).toContain('taken over once it has gone 10s without a refresh');
    expect(e.message).toContain(`(rm -r ${lockPath}).`);
    // the holder's lock is untouched
    expect(ownerOf(lockPath).pid).toBe(holder.pid);
    expect(await holder.release()).toBe('released');
  });

  it('a command that cannot get the registry lock exits 1 with that message', async () => {
    const sandboxes = path.join(dir, 'sandboxes');
    fs.mkdirSync(sandboxes);
    const registryLock = `${registryPath(sandboxes)}.lock`;
    const held = await acquireLock(registryLock);
    try {
      const ctx = makeContext(sandboxes, dir, { lockOptions: { timeoutMs: 200 } });
      expect(await runCli(['sandbox', 'claim'], ctx)).toBe(1);
      expect(ctx.stderr.text).toContain(`waiting for the lock ${registryLock} (held by pid`);
      expect(ctx.stdout.text).toBe('');
    } finally {
      held.release();
    }
  });

  it('an abandoned lock (holder killed) is taken over once older than the stale age', async () => {
    const crashed = await holdInChild(lockPath, 2_000);
    crashed.child.kill('SIGKILL'); // no clean-up runs: the lock stays, no longer refreshed
    expect(await crashed.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(ownerOf(lockPath).pid).toBe(crashed.pid);

    const started = Date.now();
    const lock = await acquireLock(lockPath, { staleMs: 2_000, timeoutMs: 10_000 });
    // not at once (the holder's pid is not consulted), but after about the stale age
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(ownerOf(lockPath).pid).toBe(process.pid);
    lock.release();
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('a live holder keeps its lock past the stale age by refreshing it', async () => {
    const holder = await holdInChild(lockPath, 2_000);
    await expect(
      acquireLock(lockPath, { staleMs: 2_000, timeoutMs: 3_500 }),
    ).rejects.toBeInstanceOf(LockTimeoutError);
    expect(ownerOf(lockPath).pid).toBe(holder.pid);
    expect(await holder.release()).toBe('released');
  });

  it('a holder stopped by SIGTERM removes its lock on the way out', async () => {
    const holder = await holdInChild(lockPath, 10_000);
    holder.child.kill('SIGTERM');
    expect(await holder.exited).toMatchObject({ signal: 'SIGTERM' });
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('a lock removed while held is reported as lost, not thrown from a timer', async () => {
    const lock = await acquireLock(lockPath, { staleMs: 2_000 });
    fs.rmSync(lockPath, { recursive: true });
    await waitFor('the loss to be noticed', () => lock.lost !== undefined, 5_000);
    expect(lock.lost).toBeInstanceOf(LockCompromisedError);
    expect(lock.lost?.message).toMatch(
      new RegExp(`^Lost the lock ${lockPath} while holding it \\(it was removed\\)\\. `),
    );
    lock.release(); // does not throw
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('a lock taken over by another process while held is reported as lost', async () => {
    // stale 20 s: our first refresh, which notices, comes 4 s after we took the lock
    const lock = await acquireLock(lockPath, { staleMs: 20_000 });
    fs.rmSync(lockPath, { recursive: true });
    // proper-lockfile recognises its lock by mtime, which it first sets to the next full second
    // + 5 ms: a new lock taken in the same second would look like ours. Let a second pass.
    await sleep(1_100);
    const other = await holdInChild(lockPath, 10_000);
    expect(lock.lost).toBeUndefined();
    await waitFor('the loss to be noticed', () => lock.lost !== undefined, 8_000);
    expect(lock.lost?.message).toContain('(another process took it over)');
    lock.release();
    expect(ownerOf(lockPath).pid).toBe(other.pid);
    expect(await other.release()).toBe('released');
  });

  it('withLock turns a lock lost during the work into LockCompromisedError', async () => {
    const run = withLock(
      lockPath,
      async () => {
        fs.rmSync(lockPath, { recursive: true });
        await sleep(1_600); // past the first refresh (1 s for a 2 s stale age)
        return 'done';
      },
      { staleMs: 2_000 },
    );
    await expect(run).rejects.toBeInstanceOf(LockCompromisedError);
    await expect(run).rejects.toThrow('check the result (kinfra sandbox slots)');
  });

  it('withLock reports the error of the work, not the lost lock, when the work fails', async () => {
    const run = withLock(
      lockPath,
      async () => {
        fs.rmSync(lockPath, { recursive: true });
        await sleep(1_600);
        throw new Error('boom');
      },
      { staleMs: 2_000 },
    );
    await expect(run).rejects.toThrow('boom');
  });

  it('a release never removes the lock another process took over meanwhile', async () => {
    // stale 10 s: our first refresh (after 2 s) comes well after the release below
    const lock = await acquireLock(lockPath, { staleMs: 10_000 });
    fs.rmSync(lockPath, { recursive: true }); // e.g. removed by hand ...
    const other = await holdInChild(lockPath, 10_000); // ... and taken by another command
    lock.release(); // before our refresh would notice
    expect(lock.lost).toBeInstanceOf(LockCompromisedError);
    expect(lock.lost?.message).toContain('it was removed or taken over by another process');
    expect(ownerOf(lockPath).pid).toBe(other.pid);
    expect(await other.release()).toBe('released');
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('takes over an abandoned lock file of earlier kinfra builds (a plain file)', async () => {
    fs.writeFileSync(
      lockPath,
      JSON.stringify({ pid: 2 ** 30, host: os.hostname(), created_at: 0, token: 'v0.2' }),
    );
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(lockPath, past, past);
    const lock = await acquireLock(lockPath, { timeoutMs: 500 });
    expect(ownerOf(lockPath).pid).toBe(process.pid);
    lock.release();
    expect(fs.existsSync(lockPath)).toBe(false);
  });
});
