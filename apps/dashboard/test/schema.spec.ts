import openapi from '../../../docs/openapi.json';
import {
  buildBody,
  flatten,
  formFields,
  initialValues,
  isVisible,
  splitFieldErrors,
  type OpenApiDoc,
} from '../src/lib/schema';

const doc = openapi as unknown as OpenApiDoc;

describe('start forms from the OpenAPI document', () => {
  const backtest = formFields(doc, 'BacktestStartRequestDto');
  const training = formFields(doc, 'TrainingStartRequestDto');
  const byPath = (fields: typeof backtest) => new Map(flatten(fields).map((f) => [f.path, f]));

  it('has the contract fields with their kinds, enums and required flags', () => {
    const b = byPath(backtest);
    expect(b.get('symbol')).toMatchObject({ kind: 'text', required: true, example: 'SYNTH-DEMO' });
    expect(b.get('timeframe')?.options).toEqual(expect.arrayContaining(['1m', '1h', '1d']));
    expect(b.get('strategy')).toMatchObject({ kind: 'group', required: true });
    expect(b.get('strategy.type')?.options).toEqual([
      'sma_crossover',
      'rsi_mean_reversion',
      'model',
    ]);
    expect(b.get('strategy.fast_period')).toMatchObject({
      kind: 'number',
      showWhen: { path: 'strategy.type', value: 'sma_crossover' },
      description: 'fast SMA period',
    });
    expect(b.get('strategy.model_name')?.showWhen).toEqual({
      path: 'strategy.type',
      value: 'model',
    });
    expect(b.get('initial_capital')).toMatchObject({
      kind: 'number',
      required: false,
      default: 100000,
    });
    const t = byPath(training);
    expect(t.get('features')).toMatchObject({ kind: 'multiselect' });
    expect(t.get('features')?.options).toContain('rsi_14');
    expect(t.get('model')).toMatchObject({ kind: 'group', required: false });
    expect(t.get('model.hidden_layers')).toMatchObject({ kind: 'number-list' });
    expect(t.get('early_stopping.patience')).toMatchObject({ kind: 'number', required: true });
  });

  it('starts with the examples of required fields: a valid first request in one click', () => {
    const values = initialValues(backtest);
    expect(buildBody(backtest, values)).toEqual({
      symbol: 'SYNTH-DEMO',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-07-01',
      strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
    });
    const tv = initialValues(training);
    expect(buildBody(training, tv)).toEqual({
      symbol: 'SYNTH-DEMO',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-07-01',
    });
  });

  it('sends only the visible fields of the chosen strategy, numbers as numbers', () => {
    const values = {
      ...initialValues(backtest),
      'strategy.type': 'rsi_mean_reversion',
      'strategy.period': '14',
      'strategy.oversold': '25',
      'strategy.overbought': '75',
      commission: '0.002',
    };
    const fast = flatten(backtest).find((f) => f.path === 'strategy.fast_period')!;
    expect(isVisible(fast, values)).toBe(false);
    expect(buildBody(backtest, values)).toMatchObject({
      strategy: { type: 'rsi_mean_reversion', period: 14, oversold: 25, overbought: 75 },
      commission: 0.002,
    });
    expect(
      (buildBody(backtest, values).strategy as Record<string, unknown>).fast_period,
    ).toBeUndefined();
  });

  it('keeps what is not a number as typed, so the API names the field', () => {
    const values = { ...initialValues(backtest), 'strategy.fast_period': 'ten' };
    expect((buildBody(backtest, values).strategy as Record<string, unknown>).fast_period).toBe(
      'ten',
    );
  });

  it('builds nested optional groups only when filled', () => {
    const values = {
      ...initialValues(training),
      features: ['rsi_14', 'returns_1'],
      'model.hidden_layers': '16, 8',
      epochs: '5',
    };
    const body = buildBody(training, values);
    expect(body).toMatchObject({
      features: ['rsi_14', 'returns_1'],
      model: { hidden_layers: [16, 8] },
      epochs: 5,
    });
    expect(body.early_stopping).toBeUndefined();
    const withStop = buildBody(training, { ...values, 'early_stopping.patience': '3' });
    expect(withStop.early_stopping).toEqual({ patience: 3 });
  });
});

describe('API messages next to their field', () => {
  const paths = [
    'symbol',
    'strategy',
    'strategy.type',
    'strategy.fast_period',
    'strategy.slow_period',
    'end_date',
    'start_date',
  ];
  it('splits the lines and matches the longest field path', () => {
    const r = splitFieldErrors(
      'strategy.fast_period must be less than slow_period; symbol must be 1–32 letters; end_date must be after start_date; body is not valid JSON',
      paths,
    );
    expect(r.byField).toEqual({
      'strategy.fast_period': ['strategy.fast_period must be less than slow_period'],
      symbol: ['symbol must be 1–32 letters'],
      end_date: ['end_date must be after start_date'],
    });
    expect(r.general).toEqual(['body is not valid JSON']);
  });
  it('handles "path: message" and "path is required"', () => {
    const r = splitFieldErrors(
      'strategy: unknown field (not allowed); strategy.slow_period is required',
      paths,
    );
    expect(r.byField.strategy).toEqual(['strategy: unknown field (not allowed)']);
    expect(r.byField['strategy.slow_period']).toEqual(['strategy.slow_period is required']);
    // "symbolic" must not match "symbol"
    expect(splitFieldErrors('symbolic link', paths).general).toEqual(['symbolic link']);
  });
});

describe('sweep messages', () => {
  const paths = ['grid', 'symbol', 'strategy', 'strategy.fast_period'];
  it('puts grid lines at the grid and child lines at the base field', () => {
    const r = splitFieldErrors(
      'grid.fast_period must be a non-empty array of values; base.strategy.fast_period must be less than slow_period (child 2: fast_period=50, slow_period=30); grid[0] odd; strategy.nope: unknown field (not allowed)',
      paths,
    );
    expect(r.byField.grid).toEqual([
      'grid.fast_period must be a non-empty array of values',
      'grid[0] odd',
    ]);
    expect(r.byField['strategy.fast_period']).toEqual([
      'base.strategy.fast_period must be less than slow_period (child 2: fast_period=50, slow_period=30)',
    ]);
    expect(r.byField.strategy).toEqual(['strategy.nope: unknown field (not allowed)']);
    expect(r.general).toEqual([]);
  });
});
