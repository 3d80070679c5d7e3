import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBars, loadBarsFromCsv, MarketDataError, parseBarsCsv, synthBars } from '../src';

const HEADER = 'timestamp,open,high,low,close,volume';

describe('parseBarsCsv', () => {
  it('parses ISO, epoch seconds and epoch ms rows and sorts them by time', () => {
    const csv = [
      HEADER,
      '2024-01-01T02:00:00Z,12,13,11,12.5,300',
      '1704067200,10,11,9,10.5,100', // 2024-01-01T00:00Z in seconds
      '1704070800000,11,12,10,11.5,200', // 01:00Z in ms
      '',
    ].join('\r\n');
    const b = parseBarsCsv(csv, 'AAPL', '1h');
    expect(b.length).toBe(3);
    expect(b.symbol).toBe('AAPL');
    expect(b.timeframe).toBe('1h');
    expect(Array.from(b.time)).toEqual([
      Date.UTC(2024, 0, 1, 0),
      Date.UTC(2024, 0, 1, 1),
      Date.UTC(2024, 0, 1, 2),
    ]);
    expect(Array.from(b.open)).toEqual([10, 11, 12]);
    expect(Array.from(b.high)).toEqual([11, 12, 13]);
    expect(Array.from(b.low)).toEqual([9, 10, 11]);
    expect(Array.from(b.close)).toEqual([10.5, 11.5, 12.5]);
    expect(Array.from(b.volume)).toEqual([100, 200, 300]);
  });

  it('accepts columns in any order, any case, extra columns and a BOM', () => {
    const csv = '\ufeffVolume,Close,symbol,Low,High,Open,Timestamp\n5,2,X,1,3,2,2024-01-01\n';
    const b = parseBarsCsv(csv, 'X', '1d');
    expect(b.length).toBe(1);
    expect(b.close[0]).toBe(2);
    expect(b.volume[0]).toBe(5);
  });

  const bad: [string, string, RegExp][] = [
    [
      'missing column',
      'timestamp,open,high,low,close\n',
      /<csv>:1: header is missing column "volume"/,
    ],
    ['empty file', '\n\n', /file is empty/],
    ['no rows', `${HEADER}\n`, /no data rows/],
    [
      'bad timestamp',
      `${HEADER}\n2024-01-01,1,2,1,1,0\nnope,1,2,1,1,0\n`,
      /<csv>:3: invalid timestamp "nope"/,
    ],
    ['field count', `${HEADER}\n2024-01-01,1,2,1,1\n`, /<csv>:2: expected 6 fields, got 5/],
    [
      'non-numeric',
      `${HEADER}\n2024-01-01,abc,2,1,1,0\n`,
      /<csv>:2: open must be a positive number, got "abc"/,
    ],
    [
      'negative price',
      `${HEADER}\n2024-01-01,1,2,-1,1,0\n`,
      /<csv>:2: low must be a positive number/,
    ],
    [
      'negative volume',
      `${HEADER}\n2024-01-01,1,2,1,1,-5\n`,
      /<csv>:2: volume must be a number >= 0/,
    ],
    ['high below close', `${HEADER}\n2024-01-01,1,2,1,3,0\n`, /<csv>:2: high 2 is below/],
    ['low above open', `${HEADER}\n2024-01-01,1,2,1.5,2,0\n`, /<csv>:2: low 1.5 is above/],
    [
      'duplicate timestamp',
      `${HEADER}\n2024-01-02,1,2,1,1,0\n2024-01-01,1,2,1,1,0\n2024-01-02T00:00:00Z,1,2,1,1,0\n`,
      /duplicate timestamp 2024-01-02T00:00:00.000Z \(also on line 2\)/,
    ],
  ];
  it.each(bad)('rejects %s with the line number', (_name, csv, msg) => {
    expect(() => parseBarsCsv(csv, 'X', '1d')).toThrow(msg);
    expect(() => parseBarsCsv(csv, 'X', '1d')).toThrow(MarketDataError);
  });

  it('rejects a bad timeframe', () => {
    expect(() => parseBarsCsv(`${HEADER}\n`, 'X', 'daily')).toThrow(/Invalid timeframe "daily"/);
  });
});

describe('loadBars', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'md-'));
    const rows = [HEADER];
    for (let d = 1; d <= 10; d++) {
      rows.push(
        `2024-01-${String(d).padStart(2, '0')},${d},${d + 1},${d - 0.5},${d + 0.5},${d * 10}`,
      );
    }
    writeFileSync(join(dir, 'ACME_1d.csv'), rows.join('\n'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads {SYMBOL}_{timeframe}.csv and filters [start, end)', () => {
    const all = loadBars({ symbol: 'ACME', timeframe: '1d', dataDir: dir });
    expect(all.length).toBe(10);
    const some = loadBars({
      symbol: 'ACME',
      timeframe: '1d',
      dataDir: dir,
      start_date: '2024-01-03',
      end_date: '2024-01-06',
    });
    expect(Array.from(some.open)).toEqual([3, 4, 5]);
    expect(loadBarsFromCsv(join(dir, 'ACME_1d.csv'), 'ACME', '1d').length).toBe(10);
  });

  it('fails clearly for a symbol without a file', () => {
    const expected = join(dir, 'NOPE_1h.csv');
    expect(() => loadBars({ symbol: 'NOPE', timeframe: '1h', dataDir: dir })).toThrow(
      `No data for symbol NOPE timeframe 1h: expected file ${expected} (or use a SYNTH-* symbol)`,
    );
  });

  it('rejects end <= start and bad dates', () => {
    expect(() =>
      loadBars({
        symbol: 'ACME',
        timeframe: '1d',
        dataDir: dir,
        start_date: '2024-01-05',
        end_date: '2024-01-05',
      }),
    ).toThrow(/end_date .* must be after start_date/);
    expect(() =>
      loadBars({ symbol: 'ACME', timeframe: '1d', dataDir: dir, start_date: 'x' }),
    ).toThrow(/Invalid start_date "x"/);
  });

  it('generates SYNTH-* symbols without touching the data dir', () => {
    const b = loadBars({
      symbol: 'SYNTH-DEMO',
      timeframe: '1h',
      dataDir: join(dir, 'does-not-exist'),
      start_date: '2024-01-01',
      end_date: '2024-01-02',
    });
    expect(b.length).toBe(24);
    const same = synthBars('SYNTH-DEMO', '1h', '2024-01-01', '2024-01-02');
    expect(Array.from(b.close)).toEqual(Array.from(same.close));
    const dflt = loadBars({ symbol: 'synth-x', timeframe: '1d', dataDir: dir });
    expect(dflt.length).toBe(1000);
    expect(dflt.time[0]).toBe(Date.UTC(2024, 0, 1));
  });
});
