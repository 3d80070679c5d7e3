import { backoffDelayMs } from '../src/index';

describe('backoffDelayMs', () => {
  const opts = { baseMs: 250, capMs: 30_000 };

  it('steps 0.25, 0.5, 1, 2 … s up to the cap, the delay drawn from the upper half of the step', () => {
    const attempts = [0, 1, 2, 3, 4, 5, 6, 7, 50, 5000];
    const steps = [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
    expect(attempts.map((a) => backoffDelayMs(a, { ...opts, random: () => 1 }))).toEqual(steps);
    expect(attempts.map((a) => backoffDelayMs(a, { ...opts, random: () => 0 }))).toEqual(
      steps.map((s) => s / 2),
    );
    expect(backoffDelayMs(2, { ...opts, random: () => 0.5 })).toBe(750);
    expect(backoffDelayMs(0, { baseMs: 250, capMs: 4000, random: () => 0.3 })).toBe(163);
    expect(backoffDelayMs(9, { baseMs: 250, capMs: 4000, random: () => 1 })).toBe(4000);
  });

  it('clamps out-of-range draws and negative attempts; Math.random stays in the band', () => {
    expect(backoffDelayMs(0, { baseMs: 1000, capMs: 30_000, random: () => 7 })).toBe(1000);
    expect(backoffDelayMs(0, { baseMs: 1000, capMs: 30_000, random: () => -1 })).toBe(500);
    expect(backoffDelayMs(-3, { ...opts, random: () => 1 })).toBe(250);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelayMs(3, opts);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });
});
