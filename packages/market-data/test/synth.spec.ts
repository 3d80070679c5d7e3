import {
  ABORT_CHECK_EVERY,
  createRng,
  hashString,
  isSynthSymbol,
  loadBars,
  MarketDataAbortedError,
  synthBars,
} from '../src';

describe('synthBars', () => {
  it('is deterministic for the same symbol, timeframe and range', () => {
    const a = synthBars('SYNTH-DEMO', '1h', '2024-01-01', '2024-03-01');
    const b = synthBars('SYNTH-DEMO', '1h', Date.UTC(2024, 0, 1), new Date(Date.UTC(2024, 2, 1)));
    expect(a.length).toBe(60 * 24);
    for (const k of ['time', 'open', 'high', 'low', 'close', 'volume'] as const) {
      expect(Array.from(b[k])).toEqual(Array.from(a[k]));
    }
  });

  it('differs between symbols and timeframes', () => {
    const a = synthBars('SYNTH-A', '1h', '2024-01-01', { count: 50 });
    const b = synthBars('SYNTH-B', '1h', '2024-01-01', { count: 50 });
    const c = synthBars('SYNTH-A', '4h', '2024-01-01', { count: 50 });
    expect(Array.from(a.close)).not.toEqual(Array.from(b.close));
    expect(Array.from(a.close)).not.toEqual(Array.from(c.close));
  });

  it('has consistent OHLC, positive prices, spaced times and some movement', () => {
    const b = synthBars('SYNTH-OHLC', '5m', '2024-01-01T00:02:00Z', { count: 20000 });
    expect(b.time[0]).toBe(Date.UTC(2024, 0, 1, 0, 5)); // rounded up to the timeframe
    let ups = 0;
    const problems: string[] = [];
    for (let i = 0; i < b.length; i++) {
      if (!(b.low[i] > 0)) problems.push(`low <= 0 at ${i}`);
      if (b.low[i] > Math.min(b.open[i], b.close[i])) problems.push(`low above body at ${i}`);
      if (b.high[i] < Math.max(b.open[i], b.close[i])) problems.push(`high below body at ${i}`);
      if (!(b.volume[i] >= 0)) problems.push(`bad volume at ${i}`);
      if (i > 0) {
        if (b.time[i] - b.time[i - 1] !== 300_000) problems.push(`bad spacing at ${i}`);
        if (b.close[i] > b.close[i - 1]) ups++;
      }
    }
    expect(problems).toEqual([]);
    expect(ups).toBeGreaterThan(b.length * 0.3);
    expect(ups).toBeLessThan(b.length * 0.7);
    const min = Math.min(...b.close);
    const max = Math.max(...b.close);
    expect(max / min).toBeGreaterThan(1.02);
  });

  it('end is exclusive; count 0 and an empty range give no bars', () => {
    expect(synthBars('SYNTH-X', '1d', '2024-01-01', '2024-01-03').length).toBe(2);
    expect(synthBars('SYNTH-X', '1d', '2024-01-01', '2024-01-01').length).toBe(0);
    expect(synthBars('SYNTH-X', '1d', '2024-01-01', { count: 0 }).length).toBe(0);
  });

  it('rejects bad arguments', () => {
    expect(() => synthBars('SYNTH-X', '1d', '2024-01-01', { count: -1 })).toThrow(/Invalid count/);
    expect(() => synthBars('SYNTH-X', '1d', '2024-01-01', { count: 1.5 })).toThrow(/Invalid count/);
    expect(() => synthBars('SYNTH-X', '2x', '2024-01-01', { count: 1 })).toThrow(
      /Invalid timeframe "2x"/,
    );
    expect(() => synthBars('SYNTH-X', '1d', 'soon', { count: 1 })).toThrow(/Invalid start "soon"/);
    expect(() => synthBars('SYNTH-X', '1m', 0, { count: 1e9 })).toThrow(/Too many synthetic bars/);
  });
});

describe('helpers', () => {
  it('isSynthSymbol', () => {
    expect(isSynthSymbol('SYNTH-DEMO')).toBe(true);
    expect(isSynthSymbol('synth-demo')).toBe(true);
    expect(isSynthSymbol('SYNTHDEMO')).toBe(false);
    expect(isSynthSymbol('AAPL')).toBe(false);
  });
  it('hash and rng are deterministic and uniform-ish', () => {
    expect(hashString('abc')).toBe(hashString('abc'));
    expect(hashString('abc')).not.toBe(hashString('abd'));
    const r1 = createRng(42);
    const r2 = createRng(42);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const x = r1();
      expect(x).toBe(r2());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      sum += x;
    }
    expect(sum / 10000).toBeGreaterThan(0.48);
    expect(sum / 10000).toBeLessThan(0.52);
  });
});

describe('synthBars abort flag', () => {
  const args = [
    'SYNTH-AB',
    '1m',
    '2024-01-01T00:00:00Z',
    { count: 3 * ABORT_CHECK_EVERY },
  ] as const;

  it('stops a long series when the flag is set while it is generated', () => {
    let looks = 0;
    const signal = {
      get aborted() {
        looks += 1;
        return looks >= 2;
      },
    };
    expect(() => synthBars(...args, { signal })).toThrow(MarketDataAbortedError);
    expect(looks).toBe(2);
  });

  it('gives the same bars with a flag that stays clear', () => {
    const plain = synthBars(...args);
    const watched = synthBars(...args, { signal: { aborted: false } });
    expect(Array.from(watched.close)).toEqual(Array.from(plain.close));
  });

  it('reports progress at each look and once at the end, with the same bars', () => {
    const calls: Array<[number, number]> = [];
    const watched = synthBars(
      'SYNTH-AB',
      '1m',
      '2024-01-01T00:00:00Z',
      { count: 3 * ABORT_CHECK_EVERY + 5 },
      {
        onProgress: (done, total) => calls.push([done, total]),
      },
    );
    const total = 3 * ABORT_CHECK_EVERY + 5;
    expect(calls).toEqual([
      [ABORT_CHECK_EVERY, total],
      [2 * ABORT_CHECK_EVERY, total],
      [3 * ABORT_CHECK_EVERY, total],
      [total, total],
    ]);
    const plain = synthBars('SYNTH-AB', '1m', '2024-01-01T00:00:00Z', { count: total });
    expect(Array.from(watched.close)).toEqual(Array.from(plain.close));
  });

  it('loadBars passes the progress callback to a SYNTH series', () => {
    const calls: number[] = [];
    loadBars({
      symbol: 'SYNTH-LP',
      timeframe: '1m',
      start_date: '2024-01-01',
      end_date: '2024-03-01',
      dataDir: '/nonexistent',
      onProgress: (done) => calls.push(done),
    });
    expect(calls).toEqual([ABORT_CHECK_EVERY, 86_400]);
  });
});
