import { waitFor, WaitTimeoutError, type WaitClock } from '../src/harness/wait';

/** Time moves only when waitFor sleeps. */
function fakeClock(): WaitClock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

describe('waitFor', () => {
  it('returns the first accepted value and polls at the interval', async () => {
    const clock = fakeClock();
    let n = 0;
    const value = await waitFor(
      'n to reach 3',
      () => ++n,
      (v) => v >= 3,
      {
        timeoutMs: 10_000,
        intervalMs: 100,
        clock,
      },
    );
    expect(value).toBe(3);
    expect(clock.slept).toEqual([100, 100]);
  });

  it('treats probe errors as "not yet" and reports the last one on timeout', async () => {
    const clock = fakeClock();
    const err = await waitFor(
      'a service',
      () => {
        throw new Error('ECONNREFUSED');
      },
      () => true,
      { timeoutMs: 1_000, intervalMs: 300, clock },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toBe(
      'Timed out after 1000 ms waiting for a service (last error: ECONNREFUSED)',
    );
    expect(clock.slept).toEqual([300, 300, 300, 300]);
  });

  it('reports the last value when it was never accepted', async () => {
    const clock = fakeClock();
    await expect(
      waitFor(
        'status completed',
        () => ({ status: 'running' }),
        (v) => v.status === 'completed',
        {
          timeoutMs: 500,
          intervalMs: 250,
          clock,
        },
      ),
    ).rejects.toThrow('waiting for status completed (last value: {"status":"running"})');
  });
});
