import { ema, logReturns, returns, rollingStd, rsi, sma } from '../src';

const f = (xs: number[]): Float64Array => Float64Array.from(xs);
const expectSeries = (actual: Float64Array, expected: number[], digits = 9): void => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    if (Number.isNaN(e)) expect(actual[i]).toBeNaN();
    else expect(actual[i]).toBeCloseTo(e, digits);
  });
};

describe('sma', () => {
  it('averages the last period values, NaN during warm-up', () => {
    expectSeries(sma(f([1, 2, 3, 4, 5]), 3), [NaN, NaN, 2, 3, 4]);
  });
  it('gives NaN while a NaN is inside the window, then recovers', () => {
    // windows: [NaN,2] [2,4] [4,NaN] [NaN,8] [8,10]
    expectSeries(sma(f([NaN, 2, 4, NaN, 8, 10]), 2), [NaN, NaN, 3, NaN, NaN, 9]);
  });
  it('period 1 is the identity; too short input is all NaN', () => {
    expectSeries(sma(f([5, 6]), 1), [5, 6]);
    expectSeries(sma(f([5, 6]), 3), [NaN, NaN]);
  });
  it('rejects a bad period', () => {
    expect(() => sma(f([1]), 0)).toThrow(/period must be an integer >= 1, got 0/);
    expect(() => sma(f([1]), 2.5)).toThrow(RangeError);
  });
});

describe('ema', () => {
  it('seeds with the SMA and then smooths with alpha = 2/(period+1)', () => {
    // period 3 -> alpha 0.5; seed at i=2: (2+4+6)/3 = 4; i=3: .5*8+.5*4 = 6; i=4: .5*4+.5*6 = 5
    expectSeries(ema(f([2, 4, 6, 8, 4]), 3), [NaN, NaN, 4, 6, 5]);
  });
  it('skips leading NaNs (e.g. the EMA of returns)', () => {
    // seed at i=2: (2+4)/2 = 3; alpha 2/3: i=3: 2/3*6 + 1/3*3 = 5
    expectSeries(ema(f([NaN, 2, 4, 6]), 2), [NaN, NaN, 3, 5]);
  });
});

describe('rsi (Wilder)', () => {
  it('matches a hand computation', () => {
    // d = [_, 1, -0.5, 1, -0.5], period 2
    // i=2: gain (1+0)/2 = .5, loss (0+.5)/2 = .25, RS 2 -> 100 - 100/3 = 66.6667
    // i=3: gain (.5+1)/2 = .75, loss (.25+0)/2 = .125, RS 6 -> 100 - 100/7 = 85.7143
    // i=4: gain (.75+0)/2 = .375, loss (.125+.5)/2 = .3125, RS 1.2 -> 100 - 100/2.2 = 54.5455
    expectSeries(rsi(f([10, 11, 10.5, 11.5, 11]), 2), [
      NaN,
      NaN,
      100 - 100 / 3,
      100 - 100 / 7,
      100 - 100 / 2.2,
    ]);
  });
  it('is 100 with only gains, 0 with only losses, 50 when flat', () => {
    expectSeries(rsi(f([1, 2, 3, 4]), 2), [NaN, NaN, 100, 100]);
    expectSeries(rsi(f([4, 3, 2, 1]), 2), [NaN, NaN, 0, 0]);
    expectSeries(rsi(f([5, 5, 5]), 2), [NaN, NaN, 50]);
  });
  it('is all NaN when the input is not longer than the period', () => {
    expectSeries(rsi(f([1, 2]), 2), [NaN, NaN]);
  });
});

describe('returns / logReturns', () => {
  it('computes simple and log returns with NaN first', () => {
    expectSeries(returns(f([100, 110, 99])), [NaN, 0.1, -0.1]);
    expectSeries(logReturns(f([100, 110, 99])), [NaN, Math.log(1.1), Math.log(0.9)]);
    expect(returns(f([])).length).toBe(0);
  });
});

describe('rollingStd', () => {
  it('sample std by default, population with ddof 0', () => {
    // [3,4,10]: mean 17/3, squared deviations 64/9 + 25/9 + 169/9 = 258/9; /2 -> sqrt(14.3333)
    expectSeries(rollingStd(f([1, 2, 3, 4, 10]), 3), [NaN, NaN, 1, 1, Math.sqrt(258 / 18)]);
    expectSeries(rollingStd(f([1, 2, 3]), 3, 0), [NaN, NaN, Math.sqrt(2 / 3)]);
  });
  it('handles a leading NaN (std of returns) and large offsets without cancellation', () => {
    const r = rollingStd(returns(f([100, 110, 99, 99])), 2);
    // returns: NaN, .1, -.1, 0 -> windows [.1,-.1] std = sqrt(.02) ; [-.1, 0] std = sqrt(.005)
    expectSeries(r, [NaN, NaN, Math.sqrt(0.02), Math.sqrt(0.005)]);
    const big = rollingStd(f([1e9 + 1, 1e9 + 2, 1e9 + 3]), 3);
    expect(big[2]).toBeCloseTo(1, 6);
  });
  it('needs period > ddof', () => {
    expect(() => rollingStd(f([1, 2]), 1)).toThrow(/period must be an integer >= 2/);
  });
});
