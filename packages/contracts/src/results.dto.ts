/**
 * Result schemas: what a backtest or a training reports, the headline metrics of an operation,
 * the paginated trade list, the model registry, and the artifact chunks a worker uploads.
 * Formulas of every metric: docs/metrics.md.
 */
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { OperationStatus, OperationType } from './enums';
import { IsId } from './validation';

// ---------------------------------------------------------------------------------------------
// Artifacts (worker → backend, lease-fenced)

/** Kinds of result artifact a worker uploads in chunks before it completes an operation. */
export const ARTIFACT_KINDS = ['trades', 'equity'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** Columns of each artifact's rows, in order (times are epoch milliseconds). */
export const ARTIFACT_COLUMNS: Readonly<Record<ArtifactKind, readonly string[]>> = {
  trades: [
    'entry_time',
    'exit_time',
    'entry_price',
    'exit_price',
    'quantity',
    'pnl',
    'return_pct',
    'bars_held',
  ],
  equity: ['time', 'equity'],
};

/** Most rows in one chunk (a chunk of trades stays well below the backend's 16 MB body limit). */
export const MAX_ARTIFACT_CHUNK_ROWS = 50_000;

/**
 * Body of `POST /operations/{id}/artifacts/{kind}`: the JSON form of a chunk, accepted from workers
 * older than the binary `PUT …/chunks/{index}` (artifact-chunk.ts) that workers send now.
 */
export class ArtifactChunkRequestDto {
  @ApiProperty({ description: 'Lease of the dispatch this upload belongs to' })
  @IsString()
  @IsId()
  lease_token!: string;

  @ApiProperty({ minimum: 0, description: '0-based index of this chunk', example: 0 })
  @IsInt()
  @Min(0)
  chunk_index!: number;

  @ApiProperty({ minimum: 1, description: 'Chunks of this artifact in all', example: 11 })
  @IsInt()
  @Min(1)
  chunk_count!: number;

  @ApiProperty({ minimum: 0, description: 'Row number of the first row of this chunk', example: 0 })
  @IsInt()
  @Min(0)
  first_row!: number;

  @ApiProperty({ minimum: 0, description: 'Rows of this artifact in all', example: 104_233 })
  @IsInt()
  @Min(0)
  total_rows!: number;

  @ApiProperty({
    type: [String],
    description: 'Column names, exactly ARTIFACT_COLUMNS[kind]',
    example: ARTIFACT_COLUMNS.equity,
  })
  @IsArray()
  @ArrayMaxSize(32)
  @IsString({ each: true })
  columns!: string[];

  @ApiProperty({
    type: 'array',
    items: { type: 'array', items: { type: 'number' } },
    description: `At most ${MAX_ARTIFACT_CHUNK_ROWS} rows; each an array of finite numbers in column order`,
    example: [
      [1704067200000, 100000],
      [1704070800000, 100125.5],
    ],
  })
  @IsArray()
  @ArrayMaxSize(MAX_ARTIFACT_CHUNK_ROWS)
  rows!: unknown[];
}

export class ArtifactChunkAckDto {
  @ApiProperty({ example: true })
  acknowledged!: boolean;

  @ApiProperty({ enum: ARTIFACT_KINDS, example: 'trades' })
  kind!: ArtifactKind;

  @ApiProperty({ example: 0 })
  chunk_index!: number;

  @ApiProperty({
    description: 'Rows of this artifact stored so far for this lease',
    example: 10000,
  })
  rows_stored!: number;
}

// ---------------------------------------------------------------------------------------------
// Backtest result

export class PeriodDto {
  @ApiProperty({ type: String, nullable: true, example: '2024-01-02T14:30:00.000Z' })
  first_bar!: string | null;

  @ApiProperty({ type: String, nullable: true, example: '2024-12-31T20:30:00.000Z' })
  last_bar!: string | null;

  @ApiProperty({ example: 1757 })
  bars!: number;

  @ApiProperty({ description: 'Last bar time − first bar time, in days', example: 364.25 })
  calendar_days!: number;

  @ApiProperty({ description: 'calendar_days / 365.25', example: 0.9973 })
  years!: number;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Per-bar returns observed per calendar year, (bars − 1) / years',
    example: 1760.8,
  })
  bars_per_year!: number | null;
}

/** Return and risk figures shared by the strategy and its benchmark. */
export class ReturnStatsDto {
  @ApiProperty({ description: 'final / initial − 1', example: 0.1874 })
  total_return!: number;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Compounded over the calendar span of the data',
    example: 0.1881,
  })
  annualized_return!: number | null;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Sample std of per-bar returns × √bars_per_year',
    example: 0.172,
  })
  volatility!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 1.08 })
  sharpe_ratio!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 1.52 })
  sortino_ratio!: number | null;
}

export class BenchmarkDto extends ReturnStatsDto {
  @ApiProperty({
    enum: ['buy_and_hold'],
    description: 'Buy-and-hold of the same bars: initial × close[i] / close[0], no costs',
    example: 'buy_and_hold',
  })
  kind!: 'buy_and_hold';

  @ApiProperty({ example: 0.1127 })
  max_drawdown!: number;

  @ApiProperty({ example: 109_512.3 })
  final_equity!: number;
}

export class EquityPointDto {
  @ApiProperty({ example: '2024-03-04T15:30:00.000Z' })
  time!: string;

  @ApiProperty({ example: 103_250.12 })
  equity!: number;
}

/** How much of an artifact the backend stores, and how much was left out by a cap. */
export class ArtifactSummaryDto {
  @ApiProperty({ description: 'Rows the engine produced', example: 211_748 })
  total!: number;

  @ApiProperty({ description: 'Rows uploaded and stored', example: 211_748 })
  stored!: number;

  @ApiProperty({ description: 'Rows left out by the cap (total − stored)', example: 0 })
  omitted!: number;

  @ApiProperty({
    description: 'The cap in force (KTRDR_RESULTS_MAX_TRADES / KTRDR_RESULTS_MAX_EQUITY_POINTS)',
    example: 1_000_000,
  })
  cap!: number;

  @ApiProperty({
    description:
      'How rows were chosen when capped: "first" (trades in order) or "min_max_buckets" (equity: extremes kept)',
    example: 'first',
  })
  selection!: string;
}

export class DataSourceColumnsDto {
  @ApiProperty({ example: 'Date' })
  time!: string;

  @ApiProperty({ example: 'Open' })
  open!: string;

  @ApiProperty({ example: 'High' })
  high!: string;

  @ApiProperty({ example: 'Low' })
  low!: string;

  @ApiProperty({ example: 'Close' })
  close!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Volume' })
  volume!: string | null;
}

/** Where the bars came from: a CSV file of the data dir (name only) and its columns, or SYNTH-*. */
export class DataSourceDto {
  @ApiProperty({ enum: ['csv', 'synthetic'], example: 'csv' })
  kind!: 'csv' | 'synthetic';

  @ApiPropertyOptional({ description: 'csv: file name in the data dir', example: 'AAPL_1h.csv' })
  file?: string;

  @ApiPropertyOptional({ type: DataSourceColumnsDto, description: 'csv: the header names used' })
  columns?: DataSourceColumnsDto;

  @ApiPropertyOptional({
    type: [String],
    description: 'csv: what the loader decided',
    example: ['"Adj Close" ignored: "Close" is the close (consistent with open/high/low)'],
  })
  notes?: string[];

  @ApiPropertyOptional({ description: 'csv: data rows in the file', example: 1764 })
  rows?: number;

  @ApiPropertyOptional({ description: 'csv: rows without prices skipped', example: 0 })
  skipped_rows?: number;

  @ApiPropertyOptional({ example: '2019-01-02T14:30:00.000Z' })
  first_bar?: string;

  @ApiPropertyOptional({ example: '2024-12-31T20:30:00.000Z' })
  last_bar?: string;
}

/** The strategy as it ran (defaults applied). */
export class BacktestStrategyResultDto {
  @ApiProperty({ example: 'sma_crossover' })
  type!: string;

  @ApiPropertyOptional({ example: 10 })
  fast_period?: number;

  @ApiPropertyOptional({ example: 30 })
  slow_period?: number;

  @ApiPropertyOptional({ example: 14 })
  period?: number;

  @ApiPropertyOptional({ example: 30 })
  oversold?: number;

  @ApiPropertyOptional({ example: 70 })
  overbought?: number;

  @ApiPropertyOptional({ example: 'demo-mlp' })
  model_name?: string;

  @ApiPropertyOptional({ example: 0.5 })
  threshold?: number;
}

/** The result of a completed backtest (`GET /operations/{id}/results` → data.result). */
export class BacktestResultDto extends ReturnStatsDto {
  @ApiProperty({ example: 'AAPL' })
  symbol!: string;

  @ApiProperty({ example: '1h' })
  timeframe!: string;

  @ApiProperty({ example: '2024-01-01' })
  start_date!: string;

  @ApiProperty({ example: '2025-01-01' })
  end_date!: string;

  @ApiProperty({ type: BacktestStrategyResultDto })
  strategy!: BacktestStrategyResultDto;

  @ApiProperty({ type: DataSourceDto })
  data_source!: DataSourceDto;

  @ApiProperty({ example: 100_000 })
  initial_capital!: number;

  @ApiProperty({ example: 0.001 })
  commission!: number;

  @ApiProperty({ example: 0.0005 })
  slippage!: number;

  @ApiProperty({ description: 'Annual rate used by the Sharpe and Sortino ratios', example: 0 })
  risk_free_rate!: number;

  @ApiProperty({ example: 118_740.55 })
  final_equity!: number;

  @ApiProperty({ example: 0.0931 })
  max_drawdown!: number;

  @ApiProperty({ type: String, nullable: true, example: '2024-07-16T19:30:00.000Z' })
  max_drawdown_start!: string | null;

  @ApiProperty({ type: String, nullable: true, example: '2024-08-05T14:30:00.000Z' })
  max_drawdown_trough!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'null while not recovered',
    example: '2024-09-26T17:30:00.000Z',
  })
  max_drawdown_recovery!: string | null;

  @ApiProperty({ example: 349 })
  max_drawdown_duration_bars!: number;

  @ApiProperty({ example: 71.9 })
  max_drawdown_duration_days!: number;

  @ApiProperty({ type: Number, nullable: true, example: 2.02 })
  calmar_ratio!: number | null;

  @ApiProperty({ description: 'Fraction of bars with a position open', example: 0.54 })
  exposure!: number;

  @ApiProperty({ example: 87 })
  num_trades!: number;

  @ApiProperty({ type: Number, nullable: true, example: 0.41 })
  win_rate!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 1.37 })
  profit_factor!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 1630.2 })
  avg_win!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: -842.7 })
  avg_loss!: number | null;

  @ApiProperty({ type: Number, nullable: true, description: 'Mean pnl per trade', example: 215.4 })
  expectancy!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 0.0021 })
  avg_trade_return!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 10.9 })
  avg_holding_bars!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 2.3 })
  avg_holding_days!: number | null;

  @ApiProperty({ type: BenchmarkDto })
  benchmark!: BenchmarkDto;

  @ApiProperty({ description: 'total_return − benchmark.total_return', example: 0.0747 })
  excess_return!: number;

  @ApiProperty({ type: Number, nullable: true, example: 0.0751 })
  excess_annualized_return!: number | null;

  @ApiProperty({ type: PeriodDto })
  period!: PeriodDto;

  @ApiProperty({ example: 1757 })
  bars_processed!: number;

  @ApiProperty({ example: 1757 })
  bars_total!: number;

  @ApiProperty({
    type: [EquityPointDto],
    description:
      'At most 500 points of the close-marked equity: first, last and the min and max of each bucket (the full curve: equity.csv)',
  })
  equity_curve!: EquityPointDto[];

  @ApiProperty({
    type: ArtifactSummaryDto,
    description: 'The trade list (served by /results/trades)',
  })
  trades_summary!: ArtifactSummaryDto;

  @ApiProperty({
    type: ArtifactSummaryDto,
    description: 'The full-resolution equity curve (served by /results/equity.csv)',
  })
  equity_summary!: ArtifactSummaryDto;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Bar this attempt resumed from (null for a run from the start)',
    example: null,
  })
  resumed_from_bar!: number | null;
}

// ---------------------------------------------------------------------------------------------
// Training result

export class EpochRecordDto {
  @ApiProperty({ example: 7 })
  epoch!: number;

  @ApiProperty({ example: 0.6912 })
  train_loss!: number;

  @ApiProperty({ type: Number, nullable: true, example: 0.6934 })
  val_loss!: number | null;

  @ApiProperty({ example: 0.534 })
  train_accuracy!: number;

  @ApiProperty({ type: Number, nullable: true, example: 0.517 })
  val_accuracy!: number | null;
}

export class ClassReportDto {
  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'null when never predicted',
    example: 0.52,
  })
  precision!: number | null;

  @ApiProperty({ type: Number, nullable: true, description: 'null without samples', example: 0.61 })
  recall!: number | null;

  @ApiProperty({ description: 'Samples of this class', example: 512 })
  support!: number;
}

export class ClassReportsDto {
  @ApiProperty({ type: ClassReportDto, description: 'Label 0: the next close is not higher' })
  down!: ClassReportDto;

  @ApiProperty({ type: ClassReportDto, description: 'Label 1: the next close is higher' })
  up!: ClassReportDto;
}

/** Validation metrics of the best epoch's weights (prediction: up when p > 0.5). */
export class ValidationReportDto {
  @ApiProperty({ example: 995 })
  samples!: number;

  @ApiProperty({ example: 0.517 })
  accuracy!: number;

  @ApiProperty({ example: 0.6934 })
  loss!: number;

  @ApiProperty({ type: ClassReportsDto })
  classes!: ClassReportsDto;

  @ApiProperty({
    type: 'array',
    items: { type: 'array', items: { type: 'integer' } },
    description: '[[TN, FP], [FN, TP]]: rows actual down/up, columns predicted down/up',
    example: [
      [203, 280],
      [200, 312],
    ],
  })
  confusion_matrix!: number[][];
}

/** Standardisation saved with the model and applied unchanged when it trades. */
export class ScalingDto {
  @ApiProperty({ type: [Number], example: [0.0001, -0.0003, 0.51] })
  mean!: number[];

  @ApiProperty({ type: [Number], example: [0.004, 0.011, 0.12] })
  std!: number[];
}

export class TrainingConfigResultDto {
  @ApiProperty({ type: [String], example: ['returns_1', 'sma_ratio_10', 'rsi_14'] })
  features!: string[];

  @ApiProperty({
    type: 'object',
    properties: { hidden_layers: { type: 'array', items: { type: 'integer' } } },
    example: { hidden_layers: [16, 8] },
  })
  model!: { hidden_layers: number[] };

  @ApiProperty({ example: 50 })
  epochs!: number;

  @ApiProperty({ example: 0.001 })
  learning_rate!: number;

  @ApiProperty({ example: 64 })
  batch_size!: number;

  @ApiProperty({ example: 0.2 })
  validation_split!: number;

  @ApiProperty({
    type: 'object',
    properties: { patience: { type: 'integer' }, min_delta: { type: 'number' } },
    example: { patience: 5, min_delta: 0.0001 },
  })
  early_stopping!: { patience: number; min_delta: number };

  @ApiProperty({ example: 42 })
  seed!: number;
}

/** The result of a completed training (`GET /operations/{id}/results` → data.result). */
export class TrainingResultDto {
  @ApiProperty({
    description: 'Name of the saved model (use it as strategy.model_name)',
    example: 'demo-mlp',
  })
  model_name!: string;

  @ApiProperty({ example: 'SYNTH-DEMO' })
  symbol!: string;

  @ApiProperty({ example: '1h' })
  timeframe!: string;

  @ApiProperty({ example: '2024-01-01' })
  start_date!: string;

  @ApiProperty({ example: '2024-06-01' })
  end_date!: string;

  @ApiProperty({ description: 'Bars loaded', example: 3648 })
  bars!: number;

  @ApiProperty({ type: DataSourceDto })
  data_source!: DataSourceDto;

  @ApiProperty({ example: 15 })
  epochs_run!: number;

  @ApiProperty({ example: true })
  stopped_early!: boolean;

  @ApiProperty({ description: 'Epoch whose weights the model keeps', example: 10 })
  best_epoch!: number;

  @ApiProperty({ description: 'Metrics of the best epoch', example: 0.687 })
  train_loss!: number;

  @ApiProperty({ type: Number, nullable: true, example: 0.701 })
  val_loss!: number | null;

  @ApiProperty({ example: 0.54 })
  train_accuracy!: number;

  @ApiProperty({ type: Number, nullable: true, example: 0.5 })
  val_accuracy!: number | null;

  @ApiProperty({
    type: ValidationReportDto,
    nullable: true,
    description: 'null without validation data',
  })
  validation!: ValidationReportDto | null;

  @ApiProperty({ type: [EpochRecordDto], description: 'Every epoch, in order' })
  history!: EpochRecordDto[];

  @ApiProperty({ type: [String], example: ['returns_1', 'sma_ratio_10', 'rsi_14'] })
  feature_names!: string[];

  @ApiProperty({ type: ScalingDto })
  scaling!: ScalingDto;

  @ApiProperty({
    type: 'object',
    properties: { train: { type: 'integer' }, validation: { type: 'integer' } },
    example: { train: 2903, validation: 725 },
  })
  samples!: { train: number; validation: number };

  @ApiProperty({ type: TrainingConfigResultDto })
  config!: TrainingConfigResultDto;

  @ApiProperty({ type: Number, nullable: true, example: null })
  resumed_from_epoch!: number | null;
}

// ---------------------------------------------------------------------------------------------
// Operation-level views

/**
 * Headline metrics carried by `GET /operations` and `GET /operations/{id}` (the full result is
 * `GET /operations/{id}/results`). Backtests fill the first group, trainings the second.
 */
export class OperationMetricsDto {
  @ApiPropertyOptional({ type: Number, description: 'backtesting', example: 0.1874 })
  total_return?: number;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description: 'backtesting',
    example: 0.1881,
  })
  annualized_return?: number | null;

  @ApiPropertyOptional({ type: Number, nullable: true, description: 'backtesting', example: 1.08 })
  sharpe_ratio?: number | null;

  @ApiPropertyOptional({ type: Number, description: 'backtesting', example: 0.0931 })
  max_drawdown?: number;

  @ApiPropertyOptional({ type: Number, description: 'backtesting', example: 87 })
  num_trades?: number;

  @ApiPropertyOptional({ type: Number, nullable: true, description: 'backtesting', example: 0.41 })
  win_rate?: number | null;

  @ApiPropertyOptional({ type: Number, description: 'backtesting', example: 118_740.55 })
  final_equity?: number;

  @ApiPropertyOptional({
    type: Number,
    description: 'backtesting: buy-and-hold total return of the same bars',
    example: 0.1127,
  })
  benchmark_return?: number;

  @ApiPropertyOptional({ type: Number, description: 'backtesting', example: 0.0747 })
  excess_return?: number;

  @ApiPropertyOptional({ type: String, description: 'training', example: 'demo-mlp' })
  model_name?: string;

  @ApiPropertyOptional({ type: Number, description: 'training', example: 15 })
  epochs_run?: number;

  @ApiPropertyOptional({ type: Number, description: 'training', example: 10 })
  best_epoch?: number;

  @ApiPropertyOptional({ type: Number, nullable: true, description: 'training', example: 0.701 })
  val_loss?: number | null;

  @ApiPropertyOptional({ type: Number, nullable: true, description: 'training', example: 0.5 })
  val_accuracy?: number | null;

  @ApiPropertyOptional({ type: Number, description: 'training', example: 0.54 })
  train_accuracy?: number;
}

export class ResultLinksDto {
  @ApiPropertyOptional({
    example: '/api/v1/operations/op_backtesting_20261122_abcdef123456/results/trades',
  })
  trades?: string;

  @ApiPropertyOptional({
    example: '/api/v1/operations/op_backtesting_20261122_abcdef123456/results/trades.csv',
  })
  trades_csv?: string;

  @ApiPropertyOptional({
    example: '/api/v1/operations/op_backtesting_20261122_abcdef123456/results/equity.csv',
  })
  equity_csv?: string;
}

@ApiExtraModels(BacktestResultDto, TrainingResultDto)
export class OperationResultsDto {
  @ApiProperty({ example: 'op_backtesting_20261122_abcdef123456' })
  operation_id!: string;

  @ApiProperty({ enum: OperationType, enumName: 'OperationType' })
  operation_type!: OperationType;

  @ApiProperty({
    enum: OperationStatus,
    enumName: 'OperationStatus',
    example: OperationStatus.COMPLETED,
  })
  status!: OperationStatus;

  @ApiProperty({ type: String, nullable: true, example: '2026-11-22T10:05:00.000Z' })
  completed_at!: string | null;

  @ApiProperty({
    oneOf: [{ $ref: getSchemaPath(BacktestResultDto) }, { $ref: getSchemaPath(TrainingResultDto) }],
    description: 'BacktestResult for operation_type backtesting, TrainingResult for training',
  })
  result!: BacktestResultDto | TrainingResultDto;

  @ApiProperty({
    type: ResultLinksDto,
    description: 'Where the trade list and full equity curve are served',
  })
  links!: ResultLinksDto;
}

/** Response of `GET /operations/{id}/results`. */
export class OperationResultsResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ type: OperationResultsDto })
  data!: OperationResultsDto;
}

// ---------------------------------------------------------------------------------------------
// Trades

export class TradeDto {
  @ApiProperty({ example: '2024-03-04T15:30:00.000Z' })
  entry_time!: string;

  @ApiProperty({ example: '2024-03-06T18:30:00.000Z' })
  exit_time!: string;

  @ApiProperty({ description: 'Fill price including slippage', example: 172.41 })
  entry_price!: number;

  @ApiProperty({ example: 175.02 })
  exit_price!: number;

  @ApiProperty({ example: 579.4 })
  quantity!: number;

  @ApiProperty({ description: 'Net of commissions and slippage', example: 1310.5 })
  pnl!: number;

  @ApiProperty({ description: 'pnl / cash spent at entry', example: 0.0131 })
  return_pct!: number;

  @ApiProperty({ example: 16 })
  bars_held!: number;
}

/** Default and largest page of `GET /operations/{id}/results/trades`. */
export const TRADES_PAGE_DEFAULT = 1000;
export const TRADES_PAGE_MAX = 10_000;

export class ListTradesQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: TRADES_PAGE_MAX, default: TRADES_PAGE_DEFAULT })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(TRADES_PAGE_MAX)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;
}

/** Response of `GET /operations/{id}/results/trades`. */
export class TradeListResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ type: [TradeDto] })
  data!: TradeDto[];

  @ApiProperty({ description: 'Trades stored (all pages)', example: 211_748 })
  total_count!: number;

  @ApiProperty({ example: 0 })
  offset!: number;

  @ApiProperty({ example: 1000 })
  limit!: number;
}

// ---------------------------------------------------------------------------------------------
// Models

export class ModelMetricsDto {
  @ApiProperty({ type: Number, nullable: true, example: 10 })
  best_epoch!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 15 })
  epochs_run!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 0.687 })
  train_loss!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 0.701 })
  val_loss!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 0.54 })
  train_accuracy!: number | null;

  @ApiProperty({ type: Number, nullable: true, example: 0.5 })
  val_accuracy!: number | null;
}

export class ModelDto {
  @ApiProperty({
    description: 'Use as strategy.model_name in a model backtest',
    example: 'demo-mlp',
  })
  model_name!: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The training that produced it (null for a file without a known operation)',
    example: 'op_training_20261122_abcdef123456',
  })
  operation_id!: string | null;

  @ApiProperty({ type: String, nullable: true, example: '2026-11-22T10:11:12.345Z' })
  created_at!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'SYNTH-DEMO' })
  symbol!: string | null;

  @ApiProperty({ type: String, nullable: true, example: '1h' })
  timeframe!: string | null;

  @ApiProperty({ type: [String], example: ['returns_1', 'sma_ratio_10', 'rsi_14'] })
  features!: string[];

  @ApiProperty({ type: [Number], example: [16, 8] })
  hidden_layers!: number[];

  @ApiProperty({ type: ModelMetricsDto })
  metrics!: ModelMetricsDto;

  @ApiProperty({
    description: 'True when the model file is in the models directory the backend can see',
    example: true,
  })
  file_present!: boolean;
}

/** Response of `GET /models`. */
export class ModelListResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ type: [ModelDto] })
  data!: ModelDto[];

  @ApiProperty({ example: 3 })
  total_count!: number;
}
