import { barsPerYear, parseIsoTime, parseTimeframe, parseTimestamp, toEpochMs } from '../src';

describe('parseTimeframe', () => {
  it.each([
    ['1m', 60_000],
    ['5m', 300_000],
    ['15m', 900_000],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['4h', 14_400_000],
    ['1d', 86_400_000],
    ['1w', 604_800_000],
  ])('%s -> %d ms', (tf, ms) => {
    expect(parseTimeframe(tf)).toBe(ms);
  });
  it.each(['', '0m', '1M', '1y', 'h', '1.5h', ' 1h', '01h'])(
    'rejects %j naming the value',
    (tf) => {
      expect(() => parseTimeframe(tf)).toThrow(`Invalid timeframe ${JSON.stringify(tf)}`);
    },
  );
  it('bars per year', () => {
    expect(barsPerYear('1d')).toBeCloseTo(365.25, 9);
    expect(barsPerYear('1h')).toBeCloseTo(8766, 9);
  });
});

describe('timestamps', () => {
  it('parses ISO dates and date-times as UTC, honouring offsets', () => {
    expect(parseIsoTime('2024-01-02')).toBe(Date.UTC(2024, 0, 2));
    expect(parseIsoTime('2024-01-02T03:04:05Z')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(parseIsoTime('2024-01-02 03:04:05')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(parseIsoTime('2024-01-02T03:04')).toBe(Date.UTC(2024, 0, 2, 3, 4));
    expect(parseIsoTime('2024-01-02T03:04:05.250Z')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5, 250));
    expect(parseIsoTime('2024-01-02T03:00:00+02:00')).toBe(Date.UTC(2024, 0, 2, 1));
    expect(parseIsoTime('2024-01-02T03:00:00-0130')).toBe(Date.UTC(2024, 0, 2, 4, 30));
  });
  it.each(['2024-02-30', '2024-13-01', '2024-1-2', 'yesterday', '2024-01-02T25:00', ''])(
    'rejects %j',
    (s) => {
      expect(parseIsoTime(s)).toBeNaN();
    },
  );
  it('parses integer epoch seconds and milliseconds', () => {
    expect(parseTimestamp('1704067200')).toBe(1704067200000);
    expect(parseTimestamp('1704067200000')).toBe(1704067200000);
    expect(parseTimestamp(' 2024-01-01 ')).toBe(1704067200000);
    expect(parseTimestamp('1704067200.5')).toBeNaN();
  });
  it('toEpochMs names the field on error', () => {
    expect(toEpochMs(new Date(5))).toBe(5);
    expect(toEpochMs(7)).toBe(7);
    expect(() => toEpochMs('nope', 'start_date')).toThrow('Invalid start_date "nope"');
  });
});
