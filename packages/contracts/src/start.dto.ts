import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { CheckpointInfoDto } from './common.dto';
import { IsAfterField, IsId, IsLessThanField } from './validation';

export const TIMEFRAMES = ['1m', '5m', '15m', '30m', '1h', '4h', '1d', '1w'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

export const BACKTEST_STRATEGIES = ['sma_crossover', 'rsi_mean_reversion', 'model'] as const;
export type BacktestStrategyType = (typeof BACKTEST_STRATEGIES)[number];

/** Feature names the training engine computes from bars. */
export const TRAINING_FEATURES = [
  'returns_1',
  'returns_5',
  'sma_ratio_10',
  'sma_ratio_20',
  'rsi_14',
  'volatility_20',
  'volume_ratio_20',
] as const;
export type TrainingFeature = (typeof TRAINING_FEATURES)[number];

/** Bounds of a backtest's annual risk-free rate (same as @ktrdr/backtest-engine). */
export const RISK_FREE_RATE_MIN = -0.1;
export const RISK_FREE_RATE_MAX = 0.25;

/** Symbols: tickers such as `AAPL`, `EURUSD`, `BRK.B`, or `SYNTH-*` for synthetic data. */
export const SYMBOL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
/** Names of model files in the models dir (no path separators). */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Bounds of the optional `priority` of a start request. */
export const MIN_PRIORITY = -100;
export const MAX_PRIORITY = 100;

class MarketDataRequestDto {
  @ApiProperty({
    description: 'Ticker, or SYNTH-<name> for deterministic synthetic bars',
    example: 'SYNTH-DEMO',
  })
  @IsString()
  @Matches(SYMBOL_PATTERN, {
    message: 'symbol must be 1–32 letters, digits, ".", "_" or "-" (e.g. AAPL or SYNTH-DEMO)',
  })
  symbol!: string;

  @ApiProperty({ enum: TIMEFRAMES, example: '1h' })
  @IsIn(TIMEFRAMES as unknown as string[], {
    message: `timeframe must be one of: ${TIMEFRAMES.join(', ')}`,
  })
  timeframe!: Timeframe;

  @ApiProperty({
    description: 'ISO-8601 date or date-time (UTC), inclusive',
    example: '2024-01-01',
  })
  @IsISO8601({ strict: true })
  start_date!: string;

  @ApiProperty({
    description: 'ISO-8601 date or date-time (UTC), exclusive',
    example: '2024-07-01',
  })
  @IsISO8601({ strict: true })
  @IsAfterField('start_date')
  end_date!: string;

  @ApiPropertyOptional({
    description: `Queue priority: higher runs first, equal priorities in submission order (${MIN_PRIORITY} to ${MAX_PRIORITY})`,
    default: 0,
    minimum: MIN_PRIORITY,
    maximum: MAX_PRIORITY,
  })
  @IsOptional()
  @IsInt({ message: 'priority must be an integer' })
  @Min(MIN_PRIORITY)
  @Max(MAX_PRIORITY)
  priority?: number;
}

/** Strategy and its parameters; which parameters are required depends on `type`. */
export class BacktestStrategyDto {
  @ApiProperty({ enum: BACKTEST_STRATEGIES, example: 'sma_crossover' })
  @IsIn(BACKTEST_STRATEGIES as unknown as string[], {
    message: `type must be one of: ${BACKTEST_STRATEGIES.join(', ')}`,
  })
  type!: BacktestStrategyType;

  @ApiPropertyOptional({ description: 'sma_crossover: fast SMA period', minimum: 1, example: 10 })
  @ValidateIf((o: BacktestStrategyDto) => o.type === 'sma_crossover' || o.fast_period !== undefined)
  @IsInt()
  @Min(1)
  @Max(1000)
  @IsLessThanField('slow_period')
  fast_period?: number;

  @ApiPropertyOptional({ description: 'sma_crossover: slow SMA period', minimum: 2, example: 30 })
  @ValidateIf((o: BacktestStrategyDto) => o.type === 'sma_crossover' || o.slow_period !== undefined)
  @IsInt()
  @Min(2)
  @Max(5000)
  slow_period?: number;

  @ApiPropertyOptional({ description: 'rsi_mean_reversion: RSI period', minimum: 2, example: 14 })
  @ValidateIf((o: BacktestStrategyDto) => o.type === 'rsi_mean_reversion' || o.period !== undefined)
  @IsInt()
  @Min(2)
  @Max(1000)
  period?: number;

  @ApiPropertyOptional({ description: 'rsi_mean_reversion: buy below this RSI', example: 30 })
  @ValidateIf(
    (o: BacktestStrategyDto) => o.type === 'rsi_mean_reversion' || o.oversold !== undefined,
  )
  @IsNumber()
  @Min(0)
  @Max(100)
  @IsLessThanField('overbought')
  oversold?: number;

  @ApiPropertyOptional({ description: 'rsi_mean_reversion: sell above this RSI', example: 70 })
  @ValidateIf(
    (o: BacktestStrategyDto) => o.type === 'rsi_mean_reversion' || o.overbought !== undefined,
  )
  @IsNumber()
  @Min(0)
  @Max(100)
  overbought?: number;

  @ApiPropertyOptional({
    description: 'model: name of a model file in the models dir (from a training)',
    example: 'demo-mlp',
  })
  @ValidateIf((o: BacktestStrategyDto) => o.type === 'model' || o.model_name !== undefined)
  @IsString()
  @Matches(MODEL_NAME_PATTERN, {
    message: 'model_name must be 1–100 letters, digits, ".", "_" or "-" (a file name, no path)',
  })
  model_name?: string;

  @ApiPropertyOptional({
    description: 'model: probability above which the model goes long',
    example: 0.5,
  })
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(1)
  threshold?: number;
}

/** Body of the backend's `POST /backtests/start`. */
export class BacktestStartRequestDto extends MarketDataRequestDto {
  @ApiProperty({ type: BacktestStrategyDto })
  @ValidateNested()
  @Type(() => BacktestStrategyDto)
  strategy!: BacktestStrategyDto;

  @ApiPropertyOptional({ description: 'Starting cash', default: 100000, minimum: 1 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(1e12)
  initial_capital?: number;

  @ApiPropertyOptional({
    description: 'Commission per side as a fraction of notional',
    default: 0.001,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.1)
  commission?: number;

  @ApiPropertyOptional({
    description: 'Slippage as a fraction of price, against the trade',
    default: 0.0005,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.1)
  slippage?: number;

  @ApiPropertyOptional({
    description:
      'Annual risk-free rate for the Sharpe and Sortino ratios (0.04 = 4 %); see docs/metrics.md',
    default: 0,
    minimum: RISK_FREE_RATE_MIN,
    maximum: RISK_FREE_RATE_MAX,
    example: 0.04,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(RISK_FREE_RATE_MIN)
  @Max(RISK_FREE_RATE_MAX)
  risk_free_rate?: number;
}

export class ModelArchitectureDto {
  @ApiProperty({ type: [Number], description: 'Hidden layer sizes', example: [16, 8] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(4)
  @IsInt({ each: true })
  @Min(1, { each: true })
  @Max(256, { each: true })
  hidden_layers!: number[];
}

export class EarlyStoppingDto {
  @ApiProperty({
    description: 'Epochs without improvement before stopping; 0 turns early stopping off',
    example: 5,
  })
  @IsInt()
  @Min(0)
  @Max(1000)
  patience!: number;

  @ApiPropertyOptional({
    description: 'Smallest validation-loss drop that counts',
    default: 0.0001,
  })
  @IsOptional()
  @IsNumber()
  @Min(0)
  min_delta?: number;
}

/** Body of the backend's `POST /trainings/start`. */
export class TrainingStartRequestDto extends MarketDataRequestDto {
  @ApiPropertyOptional({
    enum: TRAINING_FEATURES,
    isArray: true,
    description: 'Indicator features the model is trained on. Default: all of them.',
    example: ['returns_1', 'sma_ratio_10', 'rsi_14'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(TRAINING_FEATURES.length)
  @ArrayUnique({ message: 'features must not repeat a feature' })
  @IsIn(TRAINING_FEATURES as unknown as string[], {
    each: true,
    message: `features must only contain: ${TRAINING_FEATURES.join(', ')}`,
  })
  features?: TrainingFeature[];

  @ApiPropertyOptional({
    type: ModelArchitectureDto,
    description: 'Network shape. Default: hidden_layers [16, 8].',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => ModelArchitectureDto)
  model?: ModelArchitectureDto;

  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: 10000 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10000)
  epochs?: number;

  @ApiPropertyOptional({ default: 0.001 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-7)
  @Max(1)
  learning_rate?: number;

  @ApiPropertyOptional({ default: 64 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65536)
  batch_size?: number;

  @ApiPropertyOptional({ description: 'Fraction of the latest bars held out', default: 0.2 })
  @IsOptional()
  @IsNumber()
  @Min(0.05)
  @Max(0.5)
  validation_split?: number;

  @ApiPropertyOptional({
    type: EarlyStoppingDto,
    description:
      'Stop when the validation loss has not improved for `patience` epochs. Absent: patience 5, min_delta 0.0001 (a training may end well before `epochs`); `{ "patience": 0 }` runs every epoch.',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => EarlyStoppingDto)
  early_stopping?: EarlyStoppingDto;

  @ApiPropertyOptional({ description: 'Seed for initialisation and shuffling', default: 42 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seed?: number;

  @ApiPropertyOptional({
    description: 'Name of the saved model (default: derived from the operation id)',
  })
  @IsOptional()
  @IsString()
  @Matches(MODEL_NAME_PATTERN, {
    message: 'model_name must be 1–100 letters, digits, ".", "_" or "-" (a file name, no path)',
  })
  model_name?: string;
}

/**
 * The fields the backend attaches when it dispatches an operation to a worker; the operation's own
 * parameters travel nested in `params`, typed by the public start request.
 */
export class DispatchFieldsDto {
  @ApiProperty({ description: 'The operation id' })
  @IsString()
  @IsId()
  operation_id!: string;

  @ApiProperty({ description: 'Fences reports: only the latest dispatch may report' })
  @IsString()
  @IsId()
  lease_token!: string;

  @ApiProperty({ minimum: 1, description: 'Dispatch attempt, 1 for the first' })
  @IsInt()
  @Min(1)
  attempt!: number;

  @ApiPropertyOptional({
    type: CheckpointInfoDto,
    nullable: true,
    description: 'Resume from this checkpoint (state in KTRDR_CHECKPOINT_DIR/{operation_id}/)',
  })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @ValidateNested()
  @Type(() => CheckpointInfoDto)
  resume_from?: CheckpointInfoDto | null;
}

/** Body of a worker's `POST /backtests/start` (backend → worker). */
export class WorkerBacktestStartRequestDto extends DispatchFieldsDto {
  @ApiProperty({ type: () => BacktestStartRequestDto, description: 'The backtest to run' })
  @IsObject()
  @ValidateNested()
  @Type(() => BacktestStartRequestDto)
  params!: BacktestStartRequestDto;
}

/** Body of a worker's `POST /trainings/start` (backend → worker). */
export class WorkerTrainingStartRequestDto extends DispatchFieldsDto {
  @ApiProperty({ type: () => TrainingStartRequestDto, description: 'The training to run' })
  @IsObject()
  @ValidateNested()
  @Type(() => TrainingStartRequestDto)
  params!: TrainingStartRequestDto;
}

/** A dispatch body as the runtime sees it: the dispatch fields and the operation's parameters. */
export type DispatchedStartRequest<TParams extends object = object> = DispatchFieldsDto & {
  params: TParams;
};

const LEGACY_DISPATCH_FIELDS = new Set(['task_id', 'lease_token', 'attempt', 'resume_from']);

/**
 * Reads a start body sent by a backend of release 0.1, which spread the operation's parameters at
 * the top level and named the operation `task_id`, as the nested shape. Returns `null` when the
 * body is not in that legacy shape (it then goes to validation as it is). Accepted for one
 * deprecation period, so workers can be upgraded before the backend; see docs/deployment.md.
 */
export function fromLegacyDispatchBody(body: unknown): Record<string, unknown> | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const flat = body as Record<string, unknown>;
  if (!('task_id' in flat) || 'params' in flat || 'operation_id' in flat) return null;
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    if (!LEGACY_DISPATCH_FIELDS.has(k)) params[k] = v;
  }
  const nested: Record<string, unknown> = {
    operation_id: flat.task_id,
    lease_token: flat.lease_token,
    attempt: flat.attempt,
    params,
  };
  if ('resume_from' in flat) nested.resume_from = flat.resume_from;
  return nested;
}

/** Response of a worker's start endpoints. */
export class WorkerStartResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty()
  operation_id!: string;

  @ApiProperty({ example: 'started' })
  status!: string;
}

/** Response of a worker's `GET /api/v1/operations/{id}`. */
export class WorkerOperationStatusDto {
  @ApiProperty()
  operation_id!: string;

  @ApiProperty({ example: 'running', description: 'running, completed, failed or cancelled' })
  status!: string;

  @ApiPropertyOptional({ type: CheckpointInfoDto, nullable: true })
  checkpoint?: CheckpointInfoDto | null;
}
