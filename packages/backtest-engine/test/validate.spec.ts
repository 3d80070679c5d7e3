import { allocBars } from '@ktrdr/market-data';
import { BacktestConfigError, runBacktest, validateBacktestConfig } from '../src';

const ok = {
  strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
  initial_capital: 100_000,
  commission: 0.001,
  slippage: 0.0005,
};

describe('validateBacktestConfig', () => {
  it('accepts valid configs of every strategy type', () => {
    expect(validateBacktestConfig(ok)).toEqual([]);
    expect(
      validateBacktestConfig({
        ...ok,
        strategy: { type: 'rsi_mean_reversion', period: 14, oversold: 30, overbought: 70 },
      }),
    ).toEqual([]);
    expect(validateBacktestConfig({ ...ok, strategy: { type: 'model' } })).toEqual([]);
    expect(
      validateBacktestConfig({
        ...ok,
        strategy: { type: 'model', model_path: '/m/x.json', threshold: 0.6 },
      }),
    ).toEqual([]);
  });

  it.each([
    [
      { ...ok, strategy: { type: 'sma_crossover', fast_period: 30, slow_period: 10 } },
      ['strategy.fast_period must be < strategy.slow_period'],
    ],
    [
      { ...ok, strategy: { type: 'sma_crossover', fast_period: 10 } },
      ['strategy.slow_period is required'],
    ],
    [
      { ...ok, strategy: { type: 'sma_crossover', fast_period: 2.5, slow_period: 10 } },
      ['strategy.fast_period must be an integer between 1 and 1000'],
    ],
    [
      { ...ok, strategy: { type: 'sma_crossover', fast_period: '5', slow_period: 10 } },
      ['strategy.fast_period must be an integer between 1 and 1000'],
    ],
    [
      { ...ok, strategy: { type: 'rsi_mean_reversion', period: 1, oversold: 70, overbought: 30 } },
      [
        'strategy.period must be an integer between 2 and 1000',
        'strategy.oversold must be < strategy.overbought',
      ],
    ],
    [
      {
        ...ok,
        strategy: { type: 'rsi_mean_reversion', period: 14, oversold: -1, overbought: 170 },
      },
      [
        'strategy.oversold must be a number between 0 and 100',
        'strategy.overbought must be a number between 0 and 100',
      ],
    ],
    [
      { ...ok, strategy: { type: 'model', model_path: '', threshold: 2 } },
      [
        'strategy.model_path must be a non-empty string',
        'strategy.threshold must be a number between 0 and 1',
      ],
    ],
    [
      { ...ok, strategy: { type: 'lstm' } },
      ['strategy.type must be one of: sma_crossover, rsi_mean_reversion, model'],
    ],
    [{ ...ok, strategy: undefined }, ['strategy must be an object']],
    [{ ...ok, initial_capital: 0 }, ['initial_capital must be > 0']],
    [
      { ...ok, initial_capital: Number.NaN },
      ['initial_capital must be a number between 0 and 1000000000000'],
    ],
    [
      { ...ok, commission: 0.5, slippage: -0.1 },
      [
        'commission must be a number between 0 and 0.1',
        'slippage must be a number between 0 and 0.1',
      ],
    ],
    [
      { strategy: ok.strategy },
      ['initial_capital is required', 'commission is required', 'slippage is required'],
    ],
    [null, ['config must be an object']],
  ])('reports %j', (config, problems) => {
    expect(validateBacktestConfig(config)).toEqual(problems);
  });

  it('runBacktest refuses an invalid config with the problems listed', () => {
    const bars = allocBars('X', '1d', 0);
    const bad = {
      ...ok,
      strategy: { type: 'sma_crossover' as const, fast_period: 30, slow_period: 10 },
    };
    expect(() => runBacktest(bars, bad)).toThrow(BacktestConfigError);
    expect(() => runBacktest(bars, bad)).toThrow(
      'Invalid backtest config: strategy.fast_period must be < strategy.slow_period',
    );
  });

  it('runBacktest refuses a bad timeframe', () => {
    const bars = allocBars('X', 'daily', 0);
    expect(() => runBacktest(bars, ok as Parameters<typeof runBacktest>[1])).toThrow(
      /Invalid timeframe "daily"/,
    );
  });
});
