import { BacktestConfig, runBacktest, tradeList } from '../src';
import { iso, makeBars, sharpeOf } from './support/helpers';

/*
 * sma_crossover with fast 1 / slow 2: fast - slow = (close[i] - close[i-1]) / 2, so the
 * "crossover" flips on the sign of the day's move (first comparable bar: i = 2).
 *
 *  i  open  close  move   fast-slow  action (on close)       fill (next open)
 *  0  10    10     -      -          -
 *  1  9.8   9      down   -0.5       -  (bar 0 has no slow SMA)
 *  2  9.2   10     up     +0.5       BUY  (crossed above)
 *  3  10    11     up     +0.5       -                       buy  @ open[3] = 10
 *  4  11    10.5   down   -0.25      SELL (crossed below)
 *  5  10.4  10     down   -0.25      -                       sell @ open[5] = 10.4
 *  6  10.2  11     up     +0.5       BUY
 *  7  11.5  12     up     +0.5       -                       buy  @ open[7] = 11.5
 *  8  11.8  11     down   -0.5       SELL
 *  9  11    11.5   up     +0.25      BUY (last bar: never filled)  sell @ open[9] = 11
 */
const opens = [10, 9.8, 9.2, 10, 11, 10.4, 10.2, 11.5, 11.8, 11];
const closes = [10, 9, 10, 11, 10.5, 10, 11, 12, 11, 11.5];
const bars = makeBars(opens, closes);
const base: BacktestConfig = {
  strategy: { type: 'sma_crossover', fast_period: 1, slow_period: 2 },
  initial_capital: 1000,
  commission: 0,
  slippage: 0,
};

describe('hand-computed sma_crossover, no costs', () => {
  /*
   * Trade 1: qty 1000 / 10 = 100, exit 10.4 -> pnl +40, cash 1040 (return 4 %).
   * Trade 2: qty 1040 / 11.5 = 90.4348, exit 11 -> pnl 90.4348 * -0.5 = -45.2174,
   *          cash 1040 * 11 / 11.5 = 994.7826 (return -0.5/11.5 = -4.3478 %).
   * Close-marked equity: 1000 1000 1000 | 1100 1050 | 1040 1040 | 1040*12/11.5 = 1085.22,
   *          1040*11/11.5 = 994.78 | 994.78.
   * Peak 1100 (bar 3); trough 994.78 -> max drawdown 1 - 994.7826/1100 = 9.565 %.
   * Win rate 1/2, profit factor 40 / 45.2174 = 0.8846.
   */
  const r = runBacktest(bars, base);
  const final = (1040 * 11) / 11.5;

  it('fills at the next open and computes PnL', () => {
    expect(r.num_trades).toBe(2);
    expect(r.trades).toHaveLength(2);
    const [t1, t2] = tradeList(r.trades);
    expect(t1.entry_time).toBe(iso(3));
    expect(t1.exit_time).toBe(iso(5));
    expect(t1.entry_price).toBe(10);
    expect(t1.exit_price).toBe(10.4);
    expect(t1.quantity).toBeCloseTo(100, 10);
    expect(t1.pnl).toBeCloseTo(40, 10);
    expect(t1.return_pct).toBeCloseTo(0.04, 12);
    expect(t2.entry_time).toBe(iso(7));
    expect(t2.exit_time).toBe(iso(9));
    expect(t2.entry_price).toBe(11.5);
    expect(t2.exit_price).toBe(11);
    expect(t2.quantity).toBeCloseTo(1040 / 11.5, 10);
    expect(t2.pnl).toBeCloseTo((1040 / 11.5) * -0.5, 10);
    expect(t2.return_pct).toBeCloseTo(-0.5 / 11.5, 12);
  });

  it('computes the summary metrics', () => {
    expect(r.final_equity).toBeCloseTo(final, 9);
    expect(r.initial_capital).toBe(1000);
    expect(r.total_return).toBeCloseTo(final / 1000 - 1, 12);
    expect(r.max_drawdown).toBeCloseTo(1 - final / 1100, 12);
    expect(r.win_rate).toBe(0.5);
    expect(r.profit_factor).toBeCloseTo(40 / ((1040 / 11.5) * 0.5), 10);
    expect(r.bars_processed).toBe(10);
    // 10 daily bars span 9 calendar days (first to last bar) = 9 / 365.25 years
    expect(r.period.calendar_days).toBe(9);
    expect(r.annualized_return).toBeCloseTo(Math.pow(final / 1000, 365.25 / 9) - 1, 10);
    // 9 per-bar returns in 9 days: 365.25 bars per year observed
    expect(r.period.bars_per_year).toBeCloseTo(365.25, 10);
    const equity = [1000, 1000, 1000, 1100, 1050, 1040, 1040, (1040 * 12) / 11.5, final, final];
    expect(r.sharpe_ratio).toBeCloseTo(sharpeOf(equity, 365.25), 9);
    // trades 1 and 2 held 5-3 = 2 and 9-7 = 2 bars of 10
    expect(r.exposure).toBeCloseTo(0.4, 12);
    expect(tradeList(r.trades).map((t) => t.bars_held)).toEqual([2, 2]);
    expect(r.equity_curve.map((p) => p.equity)).toEqual(equity.map((e) => expect.closeTo(e, 9)));
    expect(r.equity_curve[0].time).toBe(iso(0));
    expect(r.equity_curve[9].time).toBe(iso(9));
    expect(Array.from(r.equity)).toEqual(equity.map((e) => expect.closeTo(e, 9)));
  });
});

describe('hand-computed sma_crossover with slippage 1 % and commission 0.1 %', () => {
  /*
   * Trade 1: buy fill 10 * 1.01 = 10.1; qty = 1000 / (10.1 * 1.001) = 98.91099 (cash 0).
   *          sell fill 10.4 * 0.99 = 10.296; net = qty * 10.296 * 0.999 = 1017.3692;
   *          pnl = 17.3692, return 1.73692 %.
   * Trade 2: buy fill 11.5 * 1.01 = 11.615; qty = 1017.3692 / (11.615 * 1.001) = 87.50347;
   *          sell fill 11 * 0.99 = 10.89; net = qty * 10.89 * 0.999 = 951.9599; pnl = -65.4093.
   * Win rate 1/2, profit factor 17.3692 / 65.4093 = 0.26555.
   * Equity at closes: bar 3: qty1 * 11 = 1088.0209 (peak); bar 7: qty2 * 12; bar 8: qty2 * 11;
   * bar 9: cash = 951.9599 -> max drawdown = 1 - 951.9599 / 1088.0209 = 12.505 %.
   */
  const r = runBacktest(bars, { ...base, commission: 0.001, slippage: 0.01 });
  const qty1 = 1000 / (10.1 * 1.001);
  const cash1 = qty1 * 10.296 * 0.999;
  const qty2 = cash1 / (11.615 * 1.001);
  const cash2 = qty2 * 10.89 * 0.999;

  it('applies slippage against the trade and commission per side', () => {
    const [t1, t2] = tradeList(r.trades);
    expect(t1.entry_price).toBeCloseTo(10.1, 12);
    expect(t1.exit_price).toBeCloseTo(10.296, 12);
    expect(t1.quantity).toBeCloseTo(qty1, 10);
    expect(t1.pnl).toBeCloseTo(cash1 - 1000, 9);
    expect(t1.return_pct).toBeCloseTo(cash1 / 1000 - 1, 12);
    expect(t2.entry_price).toBeCloseTo(11.615, 12);
    expect(t2.exit_price).toBeCloseTo(10.89, 12);
    expect(t2.quantity).toBeCloseTo(qty2, 10);
    expect(t2.pnl).toBeCloseTo(cash2 - cash1, 9);
    expect(cash1).toBeCloseTo(1017.3692, 3); // the hand figures in the comment
    expect(cash2).toBeCloseTo(951.9599, 3);
  });

  it('computes the summary metrics', () => {
    expect(r.final_equity).toBeCloseTo(cash2, 9);
    expect(r.total_return).toBeCloseTo(cash2 / 1000 - 1, 12);
    expect(r.max_drawdown).toBeCloseTo(1 - cash2 / (qty1 * 11), 12);
    expect(r.win_rate).toBe(0.5);
    expect(r.profit_factor).toBeCloseTo((cash1 - 1000) / (cash1 - cash2), 10);
    expect(r.profit_factor).toBeCloseTo(0.26555, 4);
    expect(r.max_drawdown).toBeCloseTo(0.12505, 4);
  });
});

describe('fill rule edge cases', () => {
  it('closes a position still open at the end at the last close (with costs)', () => {
    // closes 10, 9, 10 -> BUY on bar 2's close, filled at open[3] = 10.5; no sell signal after,
    // so the position is closed at close[4] = 12 * (1 - 0.01).
    const b = makeBars([10, 9.5, 9.5, 10.5, 11], [10, 9, 10, 11, 12]);
    const r = runBacktest(b, { ...base, slippage: 0.01 });
    expect(r.num_trades).toBe(1);
    const t = tradeList(r.trades)[0];
    expect(t.entry_time).toBe(iso(3));
    expect(t.exit_time).toBe(iso(4));
    expect(t.entry_price).toBeCloseTo(10.5 * 1.01, 12);
    expect(t.exit_price).toBeCloseTo(12 * 0.99, 12);
    expect(r.final_equity).toBeCloseTo((1000 / (10.5 * 1.01)) * 12 * 0.99, 9);
    expect(r.win_rate).toBe(1);
    expect(r.profit_factor).toBeNull(); // no losing trade
  });

  it('does not fill a signal on the last bar and never trades without signals', () => {
    const b = makeBars([10, 9.5, 9.5], [10, 9, 10]); // BUY on the last bar's close
    const r = runBacktest(b, base);
    expect(r.num_trades).toBe(0);
    expect(r.final_equity).toBe(1000);
    expect(r.total_return).toBe(0);
    expect(r.max_drawdown).toBe(0);
    expect(r.sharpe_ratio).toBeNull(); // constant equity: undefined, not 0
    expect(r.volatility).toBe(0);
    expect(r.win_rate).toBeNull();
    expect(r.profit_factor).toBeNull();
    expect(r.equity_curve).toHaveLength(3);
  });

  it('reports annualized_return as null when compounding a short run overflows', () => {
    // +10 % over five 1m bars compounds to 1.1^(525960/5): not representable.
    const b = makeBars([10, 9.5, 9.5, 10, 11], [10, 9, 10, 11, 11], '1m');
    const r = runBacktest(b, base);
    expect(r.total_return).toBeCloseTo(0.1, 12);
    expect(r.annualized_return).toBeNull();
  });

  it('handles empty bars', () => {
    const r = runBacktest(makeBars([], []), base);
    expect(r.bars_processed).toBe(0);
    expect(r.final_equity).toBe(1000);
    expect(r.equity_curve).toEqual([]);
    expect(r.annualized_return).toBeNull();
    expect(r.total_return).toBe(0);
  });
});

describe('hand-computed rsi_mean_reversion', () => {
  /*
   * period 2, oversold 30, overbought 70. closes 10, 9, 8, 9, 10, 11:
   * d = _, -1, -1, +1, +1, +1
   * i=2: gain 0, loss 1 -> RSI 0 (< 30: BUY)          -> buy at open[3] = 8.2
   * i=3: gain (0+1)/2 = .5, loss (1+0)/2 = .5 -> RSI 50 (hold)
   * i=4: gain (.5+1)/2 = .75, loss .25 -> RSI 75 (> 70: SELL) -> sell at open[5] = 10.2
   * i=5: gain .875, loss .125 -> RSI 87.5 (SELL, but flat: nothing)
   * qty = 1000 / 8.2; pnl = qty * (10.2 - 8.2) = 243.90
   */
  it('buys when oversold and sells when overbought', () => {
    const b = makeBars([10, 9.5, 8.5, 8.2, 9.5, 10.2], [10, 9, 8, 9, 10, 11]);
    const r = runBacktest(b, {
      ...base,
      strategy: { type: 'rsi_mean_reversion', period: 2, oversold: 30, overbought: 70 },
    });
    expect(r.num_trades).toBe(1);
    expect(tradeList(r.trades)[0].entry_time).toBe(iso(3));
    expect(tradeList(r.trades)[0].exit_time).toBe(iso(5));
    expect(tradeList(r.trades)[0].pnl).toBeCloseTo((1000 / 8.2) * 2, 9);
    expect(r.final_equity).toBeCloseTo((1000 / 8.2) * 10.2, 9);
  });
});

describe('model strategy', () => {
  const b = makeBars([10, 10, 11, 12, 12, 11], [10, 10.5, 11.5, 12, 11, 11]);
  const cfg: BacktestConfig = { ...base, strategy: { type: 'model', model_name: 'demo' } };

  it('trades on caller-supplied signals (+1 long, 0 flat, -1 exit) at the next open', () => {
    // long on bar 1 -> buy open[2] = 11; 0 (flat) on bar 3 -> sell open[4] = 12;
    // +1 on bar 4 -> buy open[5] = 11; -1 on bar 5 is the last bar -> closed at close[5] = 11.
    const signals = Int8Array.from([0, 1, 1, 0, 1, -1]);
    const r = runBacktest(b, cfg, { signals });
    expect(r.num_trades).toBe(2);
    expect(
      tradeList(r.trades).map((t) => [t.entry_time, t.exit_time, t.entry_price, t.exit_price]),
    ).toEqual([
      [iso(2), iso(4), 11, 12],
      [iso(5), iso(5), 11, 11],
    ]);
    expect(r.final_equity).toBeCloseTo((1000 / 11) * 12, 9);
  });

  it('needs signals of the right length', () => {
    expect(() => runBacktest(b, cfg)).toThrow(/needs per-bar signals/);
    expect(() => runBacktest(b, cfg, { signals: new Int8Array(3) })).toThrow(
      /hooks.signals has 3 values but there are 6 bars/,
    );
  });
});
