import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bars, loadBarsFromCsv, MarketDataError, parseBarsCsv } from '../src';

// The byte-level fast path of the CSV reader and the general path it hands other lines to: the
// same values (bit for bit), errors and line numbers either way, from a string or from a file.

const HEADER = 'timestamp,open,high,low,close,volume';
const T0 = Date.UTC(2024, 0, 2, 9, 30);
const MIN = 60_000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'md-fast-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** The file way (bytes, read in chunks) of the same content. */
function fromFile(content: string | Buffer, timeframe = '1m'): Bars {
  const path = join(dir, `F${files++}_${timeframe}.csv`);
  writeFileSync(path, content);
  return loadBarsFromCsv(path, 'X', timeframe);
}

/** Both ways, which must agree; returns the bars. */
function parseBoth(text: string, timeframe = '1m'): Bars {
  const a = parseBarsCsv(text, 'X', timeframe);
  const b = fromFile(text, timeframe);
  for (const k of ['time', 'open', 'high', 'low', 'close', 'volume'] as const) {
    expect(Array.from(b[k])).toEqual(Array.from(a[k]));
  }
  expect({ ...b.source, file: '' }).toEqual({ ...a.source, file: '' });
  return a;
}

/** The message of what `fn` throws (a MarketDataError). */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MarketDataError);
    return (err as Error).message;
  }
  throw new Error('did not throw');
}

/** The same error (message after the file name, and line) both ways. */
function failBoth(text: string): string {
  const a = errorOf(() => parseBarsCsv(text, 'X', '1m'));
  const b = errorOf(() => fromFile(text));
  expect(b.replace(/^[^:]*\.csv/, '<csv>')).toBe(a);
  return a;
}

describe('CSV fast path: line structure', () => {
  const rows = [
    '2024-01-02T09:30:00Z,10.5,11.25,10,11,100',
    '2024-01-02T09:31:00Z,11,12,10.75,11.5,200',
  ];
  const expectRows = (b: Bars): void => {
    expect(Array.from(b.time)).toEqual([T0, T0 + MIN]);
    expect(Array.from(b.open)).toEqual([10.5, 11]);
    expect(Array.from(b.high)).toEqual([11.25, 12]);
    expect(Array.from(b.low)).toEqual([10, 10.75]);
    expect(Array.from(b.close)).toEqual([11, 11.5]);
    expect(Array.from(b.volume)).toEqual([100, 200]);
  };

  it.each([
    ['LF', [HEADER, ...rows].join('\n') + '\n'],
    ['CRLF', [HEADER, ...rows].join('\r\n') + '\r\n'],
    ['no final line break', [HEADER, ...rows].join('\n')],
    ['CRLF, no final line break', [HEADER, ...rows].join('\r\n')],
    ['a final CR only', [HEADER, ...rows].join('\r\n') + '\r'],
    ['a BOM', '\ufeff' + [HEADER, ...rows].join('\n') + '\n'],
    ['blank lines', ['', ' ', HEADER, '', rows[0], '\t', '\u00a0', rows[1], '', ''].join('\n')],
    ['CR CR LF endings (the general path trims them)', [HEADER, ...rows].join('\r\r\n') + '\r\r\n'],
  ])('%s', (_name, text) => {
    expectRows(parseBoth(text));
  });

  it('columns in another order, extra and non-ASCII columns, no volume', () => {
    const text = [
      'Symbol,Close,Low,Note,High,Open,Datetime',
      'ZÜRICH,11,10,"a ""b""",11.25,10.5,2024-01-02 09:30',
      'ZÜRICH,11.5,10.75,é,12,11,2024-01-02 09:31',
    ].join('\n');
    const b = parseBoth(text);
    expect(Array.from(b.time)).toEqual([T0, T0 + MIN]);
    expect(Array.from(b.open)).toEqual([10.5, 11]);
    expect(Array.from(b.close)).toEqual([11, 11.5]);
    expect(Array.from(b.volume)).toEqual([0, 0]);
    expect(b.source).toMatchObject({ columns: { time: 'Datetime', volume: null } });
  });

  it('takes rows the fast path does not (quotes, spaces, exponents, offsets) between fast rows', () => {
    const text = [
      HEADER,
      '2024-01-02T09:30:00Z,10.5,11.25,10,11,100',
      '"2024-01-02T09:31:00Z","11","12","10.75","11.5","200"',
      '2024-01-02T09:32:00Z, 11.5 ,1.2e1,1125e-2,11.75,3E2',
      '2024-01-02T04:33:00-05:00,11.75,12,11.5,12,0',
      '2024-01-02T09:34:00.000Z,12,12.5,11.5,12.25,5',
      '2024-01-02T09:35:00Z,12.25,12.5,12,12.5,6',
    ].join('\n');
    const b = parseBoth(text);
    expect(Array.from(b.time)).toEqual([0, 1, 2, 3, 4, 5].map((k) => T0 + k * MIN));
    expect(Array.from(b.open)).toEqual([10.5, 11, 11.5, 11.75, 12, 12.25]);
    expect(Array.from(b.high)).toEqual([11.25, 12, 12, 12, 12.5, 12.5]);
    expect(Array.from(b.low)).toEqual([10, 10.75, 11.25, 11.5, 11.5, 12]);
    expect(Array.from(b.volume)).toEqual([100, 200, 300, 0, 5, 6]);
  });

  it('skips Yahoo null rows between fast rows and counts them', () => {
    const text = [
      'Date,Open,High,Low,Close,Adj Close,Volume',
      '2024-01-02,187.149994,188.440002,183.889999,185.639999,184.734970,82488700',
      '2024-01-03,null,null,null,null,null,null',
      '2024-01-04,,,,,,',
      '2024-01-05,181.990005,182.759995,180.169998,181.179993,180.296738,62303300',
    ].join('\r\n');
    const b = parseBoth(text, '1d');
    expect(Array.from(b.time)).toEqual([Date.UTC(2024, 0, 2), Date.UTC(2024, 0, 5)]);
    expect(Array.from(b.close)).toEqual([185.639999, 181.179993]);
    expect(b.source).toMatchObject({ rows: 2, skipped_rows: 2 });
  });
});

describe('CSV fast path: values', () => {
  const one = (cells: string, header = HEADER): Bars => parseBoth(`${header}\n${cells}\n`);

  it.each([
    ['15 digits', '123456789.012345', 123456789.012345],
    ['16 digits below 2^53', '9.007199254740991', 9.007199254740991],
    ['16 digits, 2^53 and above (general path)', '9007199254740993', 9007199254740992],
    ['17 digits (general path)', '0.30000000000000004', 0.30000000000000004],
    ['many digits (general path)', '1.00000000000000000000001', 1],
    ['many zeros after the point (general path)', '0.000000000000000000000001', 1e-24],
    ['leading zeros', '000012.50', 12.5],
    ['a sign', '+12.5', 12.5],
    ['no integer part', '.5', 0.5],
    ['no fraction digits', '12.', 12],
    ['a decimal that is not exact in binary', '0.1', 0.1],
    ['many fraction digits', '0.000000000000001', 1e-15],
  ])('reads %s as Number() does', (_name, text, value) => {
    const b = one(`2024-01-02T09:30:00Z,${text},${text},${text},${text},${text}`);
    expect(b.open[0]).toBe(value);
    expect(b.open[0]).toBe(Number(text));
    expect(b.high[0]).toBe(value);
    expect(b.volume[0]).toBe(value);
  });

  it('keeps a volume of -0 as -0', () => {
    expect(Object.is(one('2024-01-02T09:30:00Z,1,2,1,1,-0').volume[0], -0)).toBe(true);
  });

  it.each([
    ['date only', '2024-01-02', Date.UTC(2024, 0, 2)],
    ['minutes', '2024-01-02T09:30', T0],
    ['minutes, Z', '2024-01-02T09:30Z', T0],
    ['seconds', '2024-01-02T09:30:59', T0 + 59_000],
    ['seconds, Z', '2024-01-02T09:30:59Z', T0 + 59_000],
    ['a space', '2024-01-02 09:30:01', T0 + 1000],
    ['epoch seconds', '1704187800', T0],
    ['epoch ms', '1704187800000', T0],
    ['negative epoch seconds', '-86400', -86_400_000],
    ['epoch seconds just below 1e11', '99999999999', 99_999_999_999_000],
    ['epoch ms from 1e11', '100000000000', 100_000_000_000],
    ['a leap day', '2024-02-29T23:59:59Z', Date.UTC(2024, 1, 29, 23, 59, 59)],
    ['a two-digit year (as parseIsoTime reads it)', '0050-01-01', Date.UTC(50, 0, 1)],
    ['date only, Z (general path)', '2024-01-02Z', Date.UTC(2024, 0, 2)],
    ['lower-case z (general path)', '2024-01-02T09:30:00z', T0],
    ['milliseconds (general path)', '2024-01-02T09:30:00.250Z', T0 + 250],
  ])('reads a time with %s', (_name, text, ms) => {
    expect(one(`${text},1,2,1,1.5,10`).time[0]).toBe(ms);
  });

  it('reads a date-only time column across many days', () => {
    const rows = [];
    for (let d = 0; d < 400; d++) {
      rows.push(`${new Date(Date.UTC(2023, 0, 1 + d)).toISOString().slice(0, 10)},1,2,1,1.5,${d}`);
    }
    const b = parseBoth(`Date,Open,High,Low,Close,Volume\n${rows.join('\n')}\n`, '1d');
    expect(b.length).toBe(400);
    expect(b.time[0]).toBe(Date.UTC(2023, 0, 1));
    expect(b.time[59]).toBe(Date.UTC(2023, 2, 1)); // 2023 has no Feb 29
    expect(b.time[399]).toBe(Date.UTC(2024, 1, 4));
    expect(b.volume[399]).toBe(399);
  });
});

describe('CSV fast path: errors as the general path reports them', () => {
  it.each([
    [
      'zero open',
      '2024-01-02T09:30:00Z,0,2,1,1,0',
      '<csv>:3: open must be a positive number, got "0"',
    ],
    [
      'zero open and low',
      '2024-01-02T09:30:00Z,0,2,0,1,0',
      '<csv>:3: open must be a positive number, got "0"',
    ],
    [
      'negative low',
      '2024-01-02T09:30:00Z,1,2,-1.5,1,0',
      '<csv>:3: low must be a positive number, got "-1.5"',
    ],
    [
      '-0 close',
      '2024-01-02T09:30:00Z,1,2,1,-0,0',
      '<csv>:3: close must be a positive number, got "-0"',
    ],
    [
      'negative volume',
      '2024-01-02T09:30:00Z,1,2,1,1,-5',
      '<csv>:3: volume must be a number >= 0, got "-5"',
    ],
    [
      'high below close',
      '2024-01-02T09:30:00Z,1,2,1,3,0',
      '<csv>:3: high 2 is below open/close/low',
    ],
    ['low above open', '2024-01-02T09:30:00Z,1,2,1.5,2,0', '<csv>:3: low 1.5 is above open/close'],
    ['too few fields', '2024-01-02T09:30:00Z,1,2,1,1', '<csv>:3: expected 6 fields, got 5'],
    ['too many fields', '2024-01-02T09:30:00Z,1,2,1,1,0,', '<csv>:3: expected 6 fields, got 7'],
    [
      'a non-ASCII character',
      '2024-01-02T09:30:00Z,1,2,1,1é,0',
      '<csv>:3: close must be a positive number, got "1é"',
    ],
    [
      'an unknown zone',
      '2024-01-02T09:30:00Q,1,2,1,1,0',
      '<csv>:3: invalid timestamp "2024-01-02T09:30:00Q" in column "timestamp"',
    ],
    [
      'hour 24',
      '2024-01-02T24:00,1,2,1,1,0',
      '<csv>:3: invalid timestamp "2024-01-02T24:00" in column',
    ],
    ['Feb 30', '2024-02-30,1,2,1,1,0', '<csv>:3: invalid timestamp "2024-02-30" in column'],
  ])('%s', (_name, row, msg) => {
    const text = `${HEADER}\r\n2024-01-02T09:29:00Z,1,2,1,1,0\r\n${row}\r\n2024-01-02T09:31:00Z,1,2,1,1,0\r\n`;
    expect(failBoth(text)).toContain(msg);
  });

  it('shows an invalid UTF-8 byte of a file as the decoder does (U+FFFD)', () => {
    const bytes = Buffer.concat([
      Buffer.from(`${HEADER}\n2024-01-02T09:30:00Z,1,2,1,1`),
      Buffer.from([0xff]),
      Buffer.from(',0\n'),
    ]);
    expect(errorOf(() => fromFile(bytes))).toMatch(
      /:2: close must be a positive number, got "1\ufffd"$/,
    );
  });

  it('shows a lone surrogate of a string as it is', () => {
    const text = `${HEADER}\n2024-01-02T09:30:00Z,1,2,1,1\ud800,0\n`;
    expect(errorOf(() => parseBarsCsv(text, 'X', '1m'))).toBe(
      '<csv>:2: close must be a positive number, got "1\\ud800"',
    );
  });

  it('names a non-ASCII header column as it is spelled', () => {
    const text = 'timestamp,open,high,low,clôture\n2024-01-02T09:30:00Z,1,2,1,1\n';
    expect(failBoth(text)).toBe(
      '<csv>:1: header is missing column "close" (expected a time column and open, high, low, close; volume optional), got timestamp,open,high,low,clôture',
    );
  });
});

describe('CSV fast path: order and duplicates', () => {
  it('sorts unsorted rows', () => {
    const text = [
      HEADER,
      '2024-01-02T09:32:00Z,3,4,3,3,30',
      '2024-01-02T09:30:00Z,1,2,1,1,10',
      '2024-01-02T09:31:00Z,2,3,2,2,20',
    ].join('\n');
    const b = parseBoth(text);
    expect(Array.from(b.time)).toEqual([T0, T0 + MIN, T0 + 2 * MIN]);
    expect(Array.from(b.open)).toEqual([1, 2, 3]);
    expect(Array.from(b.volume)).toEqual([10, 20, 30]);
    expect(b.source).toMatchObject({
      first_bar: '2024-01-02T09:30:00.000Z',
      last_bar: '2024-01-02T09:32:00.000Z',
    });
  });

  it('finds a duplicate of the row before in sorted rows', () => {
    const text = [
      HEADER,
      '2024-01-02T09:29:00Z,1,2,1,1,0',
      '2024-01-02T09:30:00Z,1,2,1,1,0',
      '2024-01-02T09:30,1,2,1,1,0',
      '2024-01-02T09:31:00Z,1,2,1,1,0',
    ].join('\n');
    expect(failBoth(text)).toBe(
      '<csv>:4: duplicate timestamp 2024-01-02T09:30:00.000Z (also on line 3)',
    );
  });

  it('gives the lines of a duplicate timestamp after blank and skipped lines', () => {
    const text = [
      HEADER, // 1
      '2024-01-02T09:31:00Z,1,2,1,1,0', // 2
      '', // 3
      '2024-01-02T09:30:00Z,null,null,null,null,', // 4
      '2024-01-02T09:30:00Z,1,2,1,1,0', // 5
      '   ', // 6
      '2024-01-02 09:31,1,2,1,1,0', // 7: the same time as line 2
      '2024-01-02T09:32:00Z,1,2,1,1,0', // 8
    ].join('\n');
    expect(failBoth(text)).toBe(
      '<csv>:7: duplicate timestamp 2024-01-02T09:31:00.000Z (also on line 2)',
    );
  });

  it('each column owns an exact-length buffer', () => {
    const b = parseBoth(`${HEADER}\n2024-01-02T09:30:00Z,1,2,1,1,0\n\n\n`);
    for (const k of ['time', 'open', 'high', 'low', 'close', 'volume'] as const) {
      expect(b[k].length).toBe(1);
      expect(b[k].byteOffset).toBe(0);
      expect(b[k].buffer.byteLength).toBe(8);
    }
  });
});

describe('CSV fast path: files larger than one read', () => {
  // About 1.5 MB: several chunks, with rows of the general path (and lines) across their edges.
  const n = 24_000;
  const rows: string[] = [HEADER];
  const expected: number[][] = [];
  const lineOf: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = T0 + i * MIN;
    const o = 100 + (i % 997) / 64;
    const c = o + ((i % 7) - 3) / 128;
    const h = Math.max(o, c) + 0.5;
    const l = Math.min(o, c) - 0.25;
    const v = (i * 7919) % 100_003;
    const iso = new Date(t).toISOString();
    let row: string;
    if (i % 1013 === 5) row = `"${iso}",${o},"${h}",${l},${c},${v}`;
    else if (i % 977 === 3)
      row = `${iso.slice(0, 19)}+00:00,${o.toExponential()},${h},${l},${c},${v}`;
    else row = `${iso.slice(0, 19)}Z,${o},${h},${l},${c},${v}`;
    if (i % 1500 === 7) rows.push('');
    rows.push(row);
    lineOf.push(rows.length);
    expected.push([t, o, h, l, c, v]);
  }
  const text = rows.join('\r\n') + '\r\n';

  it('reads every row, from a string and from a file', () => {
    for (const b of [parseBarsCsv(text, 'X', '1m'), fromFile(text)]) {
      expect(b.length).toBe(n);
      const got = Array.from({ length: n }, (_, k) => [
        b.time[k],
        b.open[k],
        b.high[k],
        b.low[k],
        b.close[k],
        b.volume[k],
      ]);
      expect(got).toEqual(expected);
      expect(b.time.buffer.byteLength).toBe(n * 8);
    }
  });

  it('reads a line longer than a read', () => {
    const long = 'x'.repeat(700_000);
    const text = `timestamp,note,open,high,low,close\n2024-01-02T09:30:00Z,${long},1,2,1,1.5\n2024-01-02T09:31:00Z,,1.5,2,1,1\n`;
    const b = parseBoth(text);
    expect(Array.from(b.time)).toEqual([T0, T0 + MIN]);
    expect(Array.from(b.close)).toEqual([1.5, 1]);
  });

  it('gives the right lines for a duplicate far from its first', () => {
    const k = 20_000;
    const dup = rows.slice();
    dup.push(`${new Date(expected[k][0]).toISOString().slice(0, 16)},1,2,1,1,0`);
    expect(failBoth(dup.join('\n'))).toBe(
      `<csv>:${dup.length}: duplicate timestamp ${new Date(expected[k][0]).toISOString()} (also on line ${lineOf[k]})`,
    );
  });
});
