import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocBars, BarsCache, barsBytes, loadBars } from '../src';

describe('BarsCache', () => {
  it('keeps entries within its byte budget, least recently used out first', () => {
    const one = barsBytes(allocBars('X', '1m', 100)); // 6 columns × 100 × 8 bytes
    expect(one).toBe(4800);
    const cache = new BarsCache(one * 2);
    cache.set('a', allocBars('A', '1m', 100));
    cache.set('b', allocBars('B', '1m', 100));
    expect(cache.get('a')?.symbol).toBe('A'); // a is now the most recently used
    cache.set('c', allocBars('C', '1m', 100));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.symbol).toBe('A');
    expect(cache.get('c')?.symbol).toBe('C');
    expect(cache.totalBytes).toBe(one * 2);
    cache.set('huge', allocBars('H', '1m', 1000)); // larger than the budget: not kept
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.size).toBe(2);
  });
});

describe('loadBars with a cache', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ktrdr-md-cache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const csv = (closes: number[]): string =>
    'timestamp,open,high,low,close,volume\n' +
    closes.map((c, i) => `2024-01-0${i + 1},${c},${c + 1},${c - 1},${c},100`).join('\n') +
    '\n';

  it('reads a CSV file once per identity and mtime, and again when it changes', () => {
    const path = join(dir, 'ABC_1d.csv');
    writeFileSync(path, csv([10, 11, 12, 13]));
    const cache = new BarsCache(1 << 20);
    const opts = { symbol: 'ABC', timeframe: '1d', dataDir: dir, cache };
    const a = loadBars(opts);
    const b = loadBars({ ...opts, start_date: '2024-01-02' });
    expect(cache.misses).toBe(1);
    expect(cache.hits).toBe(1);
    expect(Array.from(a.close)).toEqual([10, 11, 12, 13]);
    expect(Array.from(b.close)).toEqual([11, 12, 13]);
    expect(b.source).toEqual(a.source);
    // Same as without a cache.
    expect(loadBars({ ...opts, cache: undefined, start_date: '2024-01-02' })).toEqual(b);
    // Rewritten (other content, other mtime): read again.
    writeFileSync(path, csv([20, 21, 22, 23]));
    utimesSync(path, new Date(Date.now() + 5_000), new Date(Date.now() + 5_000));
    expect(Array.from(loadBars(opts).close)).toEqual([20, 21, 22, 23]);
    expect(cache.misses).toBe(2);
  });

  it('generates a SYNTH series once per symbol, timeframe and range', () => {
    const cache = new BarsCache(1 << 24);
    const opts = {
      symbol: 'SYNTH-CACHE',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-02-01',
      dataDir: dir,
      cache,
    };
    const a = loadBars(opts);
    expect(loadBars(opts)).toBe(a);
    expect(loadBars({ ...opts, cache: undefined })).toEqual(a);
    expect(loadBars({ ...opts, end_date: '2024-02-02' }).length).toBe(a.length + 24);
    expect(cache.hits).toBe(1);
    expect(cache.misses).toBe(2);
  });
});
