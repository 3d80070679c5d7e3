import { BacktestConfig } from './types';

/** Bounds of the annual risk-free rate (same as @ktrdr/contracts). */
export const RISK_FREE_RATE_BOUNDS = { min: -0.1, max: 0.25 } as const;

const STRATEGY_TYPES = ['sma_crossover', 'rsi_mean_reversion', 'model'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Problems with a backtest config, each naming the field (empty when valid). Accepts `unknown`
 * so it can check parsed JSON.
 */
export function validateBacktestConfig(config: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(config)) return ['config must be an object'];

  const int = (
    obj: Record<string, unknown>,
    key: string,
    path: string,
    min: number,
    max: number,
  ): boolean => {
    const v = obj[key];
    if (v === undefined) {
      problems.push(`${path} is required`);
      return false;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${path} must be an integer between ${min} and ${max}`);
      return false;
    }
    return true;
  };
  const num = (
    obj: Record<string, unknown>,
    key: string,
    path: string,
    min: number,
    max: number,
    required = true,
  ): boolean => {
    const v = obj[key];
    if (v === undefined) {
      if (required) problems.push(`${path} is required`);
      return false;
    }
    if (!isFiniteNumber(v) || v < min || v > max) {
      problems.push(`${path} must be a number between ${min} and ${max}`);
      return false;
    }
    return true;
  };

  const s = config.strategy;
  if (!isRecord(s)) {
    problems.push('strategy must be an object');
  } else if (typeof s.type !== 'string' || !STRATEGY_TYPES.includes(s.type)) {
    problems.push(`strategy.type must be one of: ${STRATEGY_TYPES.join(', ')}`);
  } else if (s.type === 'sma_crossover') {
    const f = int(s, 'fast_period', 'strategy.fast_period', 1, 1000);
    const sl = int(s, 'slow_period', 'strategy.slow_period', 2, 5000);
    if (f && sl && (s.fast_period as number) >= (s.slow_period as number)) {
      problems.push('strategy.fast_period must be < strategy.slow_period');
    }
  } else if (s.type === 'rsi_mean_reversion') {
    int(s, 'period', 'strategy.period', 2, 1000);
    const lo = num(s, 'oversold', 'strategy.oversold', 0, 100);
    const hi = num(s, 'overbought', 'strategy.overbought', 0, 100);
    if (lo && hi && (s.oversold as number) >= (s.overbought as number)) {
      problems.push('strategy.oversold must be < strategy.overbought');
    }
  } else {
    for (const key of ['model_path', 'model_name']) {
      if (s[key] !== undefined && (typeof s[key] !== 'string' || s[key] === '')) {
        problems.push(`strategy.${key} must be a non-empty string`);
      }
    }
    num(s, 'threshold', 'strategy.threshold', 0, 1, false);
  }

  if (
    num(config, 'initial_capital', 'initial_capital', 0, 1e12) &&
    (config.initial_capital as number) <= 0
  ) {
    problems.push('initial_capital must be > 0');
  }
  num(config, 'commission', 'commission', 0, 0.1);
  num(config, 'slippage', 'slippage', 0, 0.1);
  num(
    config,
    'risk_free_rate',
    'risk_free_rate',
    RISK_FREE_RATE_BOUNDS.min,
    RISK_FREE_RATE_BOUNDS.max,
    false,
  );
  return problems;
}

/** Thrown by `runBacktest` for an invalid config; `problems` lists each issue. */
export class BacktestConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid backtest config: ${problems.join('; ')}`);
    this.name = 'BacktestConfigError';
  }
}

/** Throws `BacktestConfigError` unless the config is valid. */
export function assertValidBacktestConfig(config: unknown): asserts config is BacktestConfig {
  const problems = validateBacktestConfig(config);
  if (problems.length > 0) throw new BacktestConfigError(problems);
}
