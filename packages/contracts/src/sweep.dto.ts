import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsObject, IsOptional, Matches, Max, Min } from 'class-validator';
import { OperationStatus, OperationType } from './enums';
import {
  BacktestStartRequestDto,
  MAX_PRIORITY,
  MIN_PRIORITY,
  TrainingStartRequestDto,
} from './start.dto';

/**
 * A parameter sweep: one base request and a grid of values. Each grid key is a dotted path into the
 * request (`strategy.fast_period`, `symbol`, `epochs`); for a backtest a bare strategy parameter
 * (`fast_period`) means `strategy.fast_period`. The key `date_range` takes objects with `start_date`
 * and `end_date`. The sweep expands to one child operation per combination of the grid's values.
 */
abstract class SweepRequestBase {
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'array', items: {} },
    description:
      'Values per parameter: dotted paths into the request (a bare strategy parameter of a backtest means strategy.<name>; date_range takes {start_date, end_date} objects)',
    example: { fast_period: [5, 10, 20], slow_period: [30, 50] },
  })
  @IsObject()
  grid!: Record<string, unknown[]>;

  @ApiPropertyOptional({
    description: `Queue priority of every child (${MIN_PRIORITY} to ${MAX_PRIORITY}); overrides base.priority`,
    minimum: MIN_PRIORITY,
    maximum: MAX_PRIORITY,
  })
  @IsOptional()
  @IsInt({ message: 'priority must be an integer' })
  @Min(MIN_PRIORITY)
  @Max(MAX_PRIORITY)
  priority?: number;
}

/** Body of `POST /backtests/sweep`. `base` is checked after the grid is applied, child by child. */
export class BacktestSweepRequestDto extends SweepRequestBase {
  @ApiProperty({
    type: BacktestStartRequestDto,
    description: 'The request every child starts from',
  })
  @IsObject()
  base!: Record<string, unknown>;
}

/** Body of `POST /trainings/sweep`. `base` is checked after the grid is applied, child by child. */
export class TrainingSweepRequestDto extends SweepRequestBase {
  @ApiProperty({
    type: TrainingStartRequestDto,
    description: 'The request every child starts from',
  })
  @IsObject()
  base!: Record<string, unknown>;
}

/** Response of `POST /backtests/sweep` and `POST /trainings/sweep`. */
export class SweepStartResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ example: 'sweep_20261202_0a1b2c3d4e5f' })
  sweep_id!: string;

  @ApiProperty({ enum: OperationType, enumName: 'OperationType' })
  operation_type!: OperationType;

  @ApiProperty({ description: 'Number of child operations queued', example: 6 })
  total!: number;

  @ApiProperty({ type: [String], description: 'The children, in grid order' })
  operation_ids!: string[];
}

/** One child of a sweep. */
export class SweepChildDto {
  @ApiProperty()
  operation_id!: string;

  @ApiProperty({ enum: OperationStatus, enumName: 'OperationStatus' })
  status!: OperationStatus;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'The grid values of this child',
    example: { fast_period: 10, slow_period: 30 },
  })
  grid_values!: Record<string, unknown>;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'number' },
    nullable: true,
    description: 'Numeric headline metrics of its result once completed',
    example: { total_return: 0.12, sharpe_ratio: 1.1, max_drawdown: 0.08 },
  })
  metrics!: Record<string, number> | null;

  @ApiProperty({ type: String, nullable: true })
  error_message!: string | null;
}

/** Counts of a sweep's children by status. */
export class SweepCountsDto {
  @ApiProperty() pending!: number;
  @ApiProperty() dispatched!: number;
  @ApiProperty() running!: number;
  @ApiProperty() completed!: number;
  @ApiProperty() failed!: number;
  @ApiProperty() cancelled!: number;
}

/** A sweep with its children. */
export class SweepDto {
  @ApiProperty()
  sweep_id!: string;

  @ApiProperty({ enum: OperationType, enumName: 'OperationType' })
  operation_type!: OperationType;

  @ApiProperty({ description: 'ISO-8601 UTC' })
  created_at!: string;

  @ApiProperty({ type: 'object', additionalProperties: { type: 'array', items: {} } })
  grid!: Record<string, unknown[]>;

  @ApiProperty()
  total!: number;

  @ApiProperty({ type: SweepCountsDto })
  counts!: SweepCountsDto;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The metric the children are ranked by',
  })
  sort!: string | null;

  @ApiProperty({
    type: [SweepChildDto],
    description: 'Ranked by `sort` when given, else grid order',
  })
  children!: SweepChildDto[];
}

/** Response of `GET /sweeps/{id}`. */
export class SweepResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ type: SweepDto })
  data!: SweepDto;
}

/** Query of `GET /sweeps/{id}`. */
export class SweepQueryDto {
  @ApiPropertyOptional({
    description: 'Rank children by this numeric metric of their results, e.g. sharpe_ratio',
    example: 'sharpe_ratio',
  })
  @IsOptional()
  @Matches(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, {
    message: 'sort must be a metric name such as sharpe_ratio',
  })
  sort?: string;

  @ApiPropertyOptional({ enum: ['desc', 'asc'], default: 'desc' })
  @IsOptional()
  @IsIn(['desc', 'asc'], { message: 'order must be desc or asc' })
  order?: 'desc' | 'asc';
}

/** Response of `DELETE /sweeps/{id}`. */
export class CancelSweepResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty()
  sweep_id!: string;

  @ApiProperty({ description: 'Children cancelled by this request' })
  cancelled!: number;

  @ApiProperty({ description: 'Children that had already finished' })
  already_finished!: number;
}
