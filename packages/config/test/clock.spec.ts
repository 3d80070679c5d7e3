import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sleepOnTimers, systemClock, type Clock, type TimerHandle } from '../src';

// Whether a timer keeps the process alive shows only in a real process: the child runs the BUILT
// module (the test script builds it first).
const DIST = join(__dirname, '..', 'dist', 'clock.js');

function run(script: string): { lines: string[]; status: number | null; ms: number } {
  const started = Date.now();
  const res = spawnSync(
    process.execPath,
    ['-e', `const { systemClock } = require(${JSON.stringify(DIST)}); ${script}`],
    { encoding: 'utf8', timeout: 10_000 },
  );
  return {
    lines: res.stdout.split('\n').filter((l) => l !== ''),
    status: res.status,
    ms: Date.now() - started,
  };
}

describe('systemClock', () => {
  it('now() is epoch milliseconds', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('setTimeout runs the callback after the delay; clearTimeout cancels it', async () => {
    const fired: string[] = [];
    const started = Date.now();
    systemClock.setTimeout(() => fired.push('kept'), 20);
    const cancelled = systemClock.setTimeout(() => fired.push('cancelled'), 10);
    systemClock.clearTimeout(cancelled);
    await new Promise((r) => setTimeout(r, 60));
    expect(fired).toEqual(['kept']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20);
    systemClock.clearTimeout(cancelled); // clearing twice is harmless
  });

  it('sleep resolves after the delay', async () => {
    const started = Date.now();
    await systemClock.sleep(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('sleep resolves early, without throwing, when the signal aborts (and at once if it has)', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const slept = systemClock.sleep(60_000, ac.signal);
    setTimeout(() => ac.abort(), 10);
    await expect(slept).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect(systemClock.sleep(60_000, ac.signal)).resolves.toBeUndefined();
  });

  describe('in a child process', () => {
    beforeAll(() => {
      if (!existsSync(DIST)) throw new Error(`${DIST} is missing: build @ktrdr/config first`);
    });

    it('pending timers and sleeps never keep the process alive', () => {
      const r = run(`systemClock.setTimeout(() => console.log('fired'), 60000);
                     systemClock.sleep(60000).then(() => console.log('slept'));`);
      expect(r).toMatchObject({ lines: [], status: 0 });
      expect(r.ms).toBeLessThan(5_000);
    });

    it('but they fire while something else keeps it alive', () => {
      const r = run(`systemClock.setTimeout(() => console.log('fired'), 10);
                     systemClock.sleep(20).then(() => console.log('slept'));
                     setTimeout(() => {}, 200);`);
      expect(r).toMatchObject({ lines: ['fired', 'slept'], status: 0 });
    });
  });
});

describe('sleepOnTimers (sleep for a fake clock)', () => {
  /** Timers that run only when the test fires them. */
  function handTimers(): Pick<Clock, 'setTimeout' | 'clearTimeout'> & {
    pending: Map<TimerHandle, () => void>;
  } {
    const pending = new Map<TimerHandle, () => void>();
    return {
      pending,
      setTimeout(fn) {
        const handle = {} as TimerHandle;
        pending.set(handle, fn);
        return handle;
      },
      clearTimeout(handle) {
        pending.delete(handle);
      },
    };
  }

  it("resolves when the clock's timer fires", async () => {
    const t = handTimers();
    let done = false;
    const slept = sleepOnTimers(t, 1000).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    for (const fn of t.pending.values()) fn();
    await slept;
    expect(done).toBe(true);
  });

  it('an abort resolves it and clears its timer; an aborted signal sets none', async () => {
    const t = handTimers();
    const ac = new AbortController();
    const slept = sleepOnTimers(t, 1000, ac.signal);
    expect(t.pending.size).toBe(1);
    ac.abort();
    await expect(slept).resolves.toBeUndefined();
    expect(t.pending.size).toBe(0);
    await expect(sleepOnTimers(t, 1000, ac.signal)).resolves.toBeUndefined();
    expect(t.pending.size).toBe(0);
  });
});
