import { gridArg, gridField, sweepRequest } from '../src/requests';

describe('sweep requests', () => {
  const base = {
    symbol: 'SYNTH-DEMO',
    timeframe: '1h',
    start: '2024-01-01',
    end: '2024-04-01',
    strategy: 'sma_crossover',
  };

  it('a --grid name that is a flag of this CLI means the field the flag sets', () => {
    const grid = gridArg('slow=50,100', gridArg('fast=5,10'));
    const req = sweepRequest('backtest', { ...base, grid });
    expect(req.grid).toEqual({ fast_period: [5, 10], slow_period: [50, 100] });
    expect(gridField('backtest', 'capital')).toBe('initial_capital');
    expect(gridField('train', 'learning-rate')).toBe('learning_rate');
    expect(gridField('train', 'patience')).toBe('early_stopping.patience');
  });

  it('any other name goes to the backend as it is', () => {
    const grid = gridArg('strategy.fast_period=[3,4]', gridArg('commission=0,0.001'));
    expect(sweepRequest('backtest', { ...base, grid }).grid).toEqual({
      commission: [0, 0.001],
      'strategy.fast_period': [3, 4],
    });
    // A flag name of the other kind is not translated.
    expect(gridField('backtest', 'learning-rate')).toBe('learning-rate');
  });
});
