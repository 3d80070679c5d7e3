import { createHash } from 'node:crypto';
import { Bars, createRng, parseBarsCsv, parseTimestamp, synthBars } from '../src';

/**
 * SHA-256 of every column (raw float64 bytes) of SYNTH series, recorded before the generator was
 * restructured for speed: generation must stay bit-for-bit identical (backtests on SYNTH-* symbols
 * must not change).
 */
const barsHash = (b: Bars): string => {
  const h = createHash('sha256');
  for (const col of [b.time, b.open, b.high, b.low, b.close, b.volume]) {
    h.update(Buffer.from(col.buffer, col.byteOffset, col.byteLength));
  }
  return h.digest('hex');
};

describe('SYNTH golden series', () => {
  it.each([
    [
      'SYNTH-GOLDEN',
      '1m',
      '2024-01-01',
      300_000,
      '58765db9d45545a4229e020299a56d9d4ddc9201be9d06b352f14a73adc0eb6e',
    ],
    [
      'SYNTH-GOLDEN',
      '1h',
      '2020-01-01',
      50_000,
      'b84bf4a7254ac50353cd13b62a29d616e110a1f6e6d6c76862eb4e61e4dcc4ea',
    ],
    [
      'SYNTH-ABC',
      '1d',
      '2001-03-04',
      7_000,
      'ef147215b2483da52baa97eef57302adeb24b1d1b102b7eb7582e660fc69a410',
    ],
  ])('%s %s from %s, %d bars', (symbol, tf, start, count, hash) => {
    expect(barsHash(synthBars(symbol, tf, start, { count }))).toBe(hash);
  });
});

describe('CSV rows parse to the values of Number() and parseTimestamp()', () => {
  it('on many decimal spellings and time formats (fast and general paths alike)', () => {
    // A deterministic spread of decimals: short and long, leading zeros, signs, "1." and ".5".
    const rng = createRng(7);
    const spell = (x: number, k: number): string => {
      const s = x.toFixed(k);
      const r = rng();
      if (r < 0.05) return `+${s}`;
      if (r < 0.1) return `0${s}`;
      if (r < 0.13 && k === 0) return `${s}.`;
      if (r < 0.16 && x < 1) return s.replace(/^0/, '');
      if (r < 0.2) return x.toPrecision(17); // too many digits for the fast path
      if (r < 0.22) return x.toExponential();
      if (r < 0.24) return ` ${s} `;
      return s;
    };
    const times = [
      (t: number) => new Date(t).toISOString().slice(0, 19) + 'Z',
      (t: number) => new Date(t).toISOString().slice(0, 19),
      (t: number) => new Date(t).toISOString().slice(0, 16).replace('T', ' '),
      (t: number) => new Date(t).toISOString(),
      (t: number) => String(Math.floor(t / 1000)),
      (t: number) => new Date(t).toISOString().slice(0, 19) + '+00:00',
    ];
    const rows: string[] = ['timestamp,open,high,low,close,volume'];
    const expected: number[][] = [];
    let t = Date.UTC(2023, 11, 30, 22, 0);
    for (let i = 0; i < 20_000; i++) {
      t += 60_000 * (1 + Math.floor(rng() * 3));
      const tf = times[Math.floor(rng() * times.length)];
      // Integer ticks of 10^-k, so the spelled prices keep their order exactly.
      const k = Math.floor(rng() * 9);
      const unit = 10 ** k;
      const oT = Math.floor((2 + rng() * 300) * unit);
      const cT = Math.max(1, Math.floor(oT * (1 + (rng() - 0.5) * 0.01)));
      const hT = Math.max(oT, cT) + Math.floor(rng() * unit);
      const lT = Math.max(1, Math.min(oT, cT) - Math.floor(rng() * unit));
      const o = spell(oT / unit, k);
      const c = spell(cT / unit, k);
      const hi = spell(hT / unit, k);
      const lo = spell(lT / unit, k);
      const v = spell(Math.floor(rng() * 1e6), Math.floor(rng() * 3));
      const ts = tf(t);
      rows.push([ts, o, hi, lo, c, v].join(','));
      expected.push([parseTimestamp(ts), Number(o), Number(hi), Number(lo), Number(c), Number(v)]);
    }
    const bars = parseBarsCsv(rows.join('\r\n'), 'X', '1m');
    const order = expected
      .map((_, i) => i)
      .sort((a, b) => expected[a][0] - expected[b][0] || a - b);
    expect(bars.length).toBe(expected.length);
    const actual = order.map((_, k) => [
      bars.time[k],
      bars.open[k],
      bars.high[k],
      bars.low[k],
      bars.close[k],
      bars.volume[k],
    ]);
    expect(actual).toEqual(order.map((i) => expected[i]));
  });
});
