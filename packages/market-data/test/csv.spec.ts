import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkBarsAvailable,
  loadBars,
  loadBarsFromCsv,
  MarketDataError,
  parseBarsCsv,
  synthBars,
} from '../src';

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
      'timestamp,open,high,volume\n',
      /<csv>:1: header is missing columns "low", "close" \(expected a time column and open, high, low, close; volume optional\), got timestamp,open,high,volume/,
    ],
    [
      'no time column',
      'when,open,high,low,close\n',
      /<csv>:1: header has no time column \(expected one of timestamp, datetime, date, time\)/,
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

describe('common CSV spellings', () => {
  it('loads a Yahoo Finance export (Date, Adj Close, null rows) and says which columns it used', () => {
    const csv = [
      'Date,Open,High,Low,Close,Adj Close,Volume',
      '2024-01-02,187.149994,188.440002,183.889999,185.639999,184.734970,82488700',
      '2024-01-03,184.220001,185.880005,183.429993,184.250000,183.351776,58414500',
      '2024-01-04,null,null,null,null,null,null',
      '2024-01-05,181.990005,182.759995,180.169998,181.179993,180.296738,62303300',
    ].join('\n');
    const b = parseBarsCsv(csv, 'AAPL', '1d', '/data/AAPL_1d.csv');
    expect(b.length).toBe(3);
    expect(Array.from(b.time)).toEqual([
      Date.UTC(2024, 0, 2),
      Date.UTC(2024, 0, 3),
      Date.UTC(2024, 0, 5),
    ]);
    expect(b.close[0]).toBe(185.639999); // Close, not Adj Close: consistent with High/Low
    expect(b.source).toEqual({
      kind: 'csv',
      file: 'AAPL_1d.csv',
      columns: {
        time: 'Date',
        open: 'Open',
        high: 'High',
        low: 'Low',
        close: 'Close',
        volume: 'Volume',
      },
      notes: [
        '"Adj Close" ignored: "Close" is the close (consistent with open/high/low)',
        '1 rows without prices skipped',
      ],
      rows: 3,
      skipped_rows: 1,
      first_bar: '2024-01-02T00:00:00.000Z',
      last_bar: '2024-01-05T00:00:00.000Z',
    });
  });

  it.each([
    ['Datetime', '2024-01-02 14:30:00-05:00', Date.UTC(2024, 0, 2, 19, 30)],
    ['timestamp', '2024-01-02T14:30:00Z', Date.UTC(2024, 0, 2, 14, 30)],
    ['Date', '2024-01-02', Date.UTC(2024, 0, 2)],
    ['date_time', '2024-01-02 09:30:00 +0100', Date.UTC(2024, 0, 2, 8, 30)],
    ['DateTime', '2024-01-02 09:30:00 UTC', Date.UTC(2024, 0, 2, 9, 30)],
    ['time', '1704205800', Date.UTC(2024, 0, 2, 14, 30)],
    ['Gmt time', '2024-01-02 14:30:00.000+00', Date.UTC(2024, 0, 2, 14, 30)],
  ])('reads the time column %j (%s)', (name, value, ms) => {
    const b = parseBarsCsv(
      `${name},open,high,low,close,volume\n${value},1,2,1,1.5,10\n`,
      'X',
      '1h',
    );
    expect(b.time[0]).toBe(ms);
    expect(b.source).toMatchObject({ columns: { time: name } });
  });

  it('joins separate Date and Time columns, takes Adj Close without Close, volume optional, quotes', () => {
    const csv =
      '"Date","Time","Open","High","Low","Adj Close"\n"2024-01-02","14:30","1","2","0.5","1.5"\n';
    const b = parseBarsCsv(csv, 'X', '1h');
    expect(b.time[0]).toBe(Date.UTC(2024, 0, 2, 14, 30));
    expect(b.close[0]).toBe(1.5);
    expect(b.volume[0]).toBe(0);
    expect(b.source).toMatchObject({
      columns: { time: 'Date+Time', close: 'Adj Close', volume: null },
      notes: [
        'time = "Date" and "Time" joined',
        'no close column: "Adj Close" used as the close',
        'no volume column: volume is 0',
      ],
    });
  });

  it('names the column of an unreadable time', () => {
    expect(() => parseBarsCsv('Date,Open,High,Low,Close\n01/02/2024,1,2,1,1\n', 'X', '1d')).toThrow(
      '<csv>:2: invalid timestamp "01/02/2024" in column "Date"',
    );
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

  it('names the files a symbol does have, and a missing data dir', () => {
    expect(() => loadBars({ symbol: 'ACME', timeframe: '1h', dataDir: dir })).toThrow(
      `No data for symbol ACME timeframe 1h: expected file ${join(dir, 'ACME_1h.csv')}; files for ACME in ${dir}: ACME_1d.csv (or use a SYNTH-* symbol)`,
    );
    const nowhere = join(dir, 'nowhere');
    expect(() => checkBarsAvailable({ symbol: 'ACME', timeframe: '1d', dataDir: nowhere })).toThrow(
      `; the data directory ${nowhere} does not exist or cannot be read (KTRDR_DATA_DIR)`,
    );
  });

  it('checkBarsAvailable checks the file and its header without loading it', () => {
    expect(() =>
      checkBarsAvailable({ symbol: 'ACME', timeframe: '1d', dataDir: dir }),
    ).not.toThrow();
    expect(() =>
      checkBarsAvailable({ symbol: 'SYNTH-X', timeframe: '1d', dataDir: dir }),
    ).not.toThrow();
    writeFileSync(join(dir, 'BAD_1d.csv'), 'when,price\n2024-01-01,1\n');
    expect(() => checkBarsAvailable({ symbol: 'BAD', timeframe: '1d', dataDir: dir })).toThrow(
      `${join(dir, 'BAD_1d.csv')}:1: header has no time column`,
    );
    expect(() =>
      checkBarsAvailable({
        symbol: 'ACME',
        timeframe: '1d',
        dataDir: dir,
        start_date: '2024-02-01',
        end_date: '2024-01-01',
      }),
    ).toThrow(/end_date .* must be after start_date/);
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
