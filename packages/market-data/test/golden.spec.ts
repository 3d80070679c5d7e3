import { createHash } from 'node:crypto';
import { Bars, synthBars } from '../src';

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
