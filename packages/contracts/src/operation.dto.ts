import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsEnum,
  IsISO8601,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { CheckpointInfoDto, OperationProgressDto } from './common.dto';
import { AttemptOutcome, CompletionStatus, OperationStatus, OperationType } from './enums';
import { OperationMetricsDto } from './results.dto';
import { IsId } from './validation';

/**
 * One dispatch of an operation to a worker, as the backend recorded it. A dispatch the worker did
 * not take (busy, unreachable) gives its attempt number back, so the next entry may repeat it.
 */
export class OperationAttemptDto {
  @ApiProperty({ description: 'Dispatch attempt, 1 for the first', minimum: 1, example: 1 })
  @IsInt()
  @Min(1)
  attempt!: number;

  @ApiProperty({ description: 'The worker it was dispatched to', example: 'backtest-worker-1' })
  @IsString()
  @IsId()
  worker_id!: string;

  @ApiProperty({
    description: 'ISO-8601 UTC time it was claimed from the queue for this worker',
    example: '2026-11-22T10:00:00.000Z',
  })
  @IsISO8601({ strict: true })
  dispatched_at!: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'When the worker accepted it (null: it never did)',
    example: '2026-11-22T10:00:00.120Z',
  })
  @ValidateIf((_o, v) => v !== null)
  @IsISO8601({ strict: true })
  started_at!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'When this attempt ended (null while it is the current one)',
  })
  @ValidateIf((_o, v) => v !== null)
  @IsISO8601({ strict: true })
  ended_at!: string | null;

  @ApiProperty({
    enum: AttemptOutcome,
    enumName: 'AttemptOutcome',
    nullable: true,
    description: 'How it ended (null while it is the current one)',
  })
  @ValidateIf((_o, v) => v !== null)
  @IsEnum(AttemptOutcome)
  outcome!: AttemptOutcome | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Why it ended that way (the error, the refusal, the lost worker); null when completed',
    example:
      'Worker lost (no heartbeat for 60 s); queued again from its periodic checkpoint at 12000',
  })
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(4000)
  reason!: string | null;

  @ApiProperty({
    type: CheckpointInfoDto,
    nullable: true,
    description: 'The checkpoint this attempt resumed from (null: from the start)',
  })
  @ValidateIf((_o, v) => v !== null)
  @ValidateNested()
  @Type(() => CheckpointInfoDto)
  resumed_from!: CheckpointInfoDto | null;
}

/** An operation (a backtest or a training) as the backend stores it. */
export class OperationDto {
  @ApiProperty({ example: 'op_backtesting_20261122_abcdef12' })
  operation_id!: string;

  @ApiProperty({ enum: OperationType, enumName: 'OperationType' })
  operation_type!: OperationType;

  @ApiProperty({ enum: OperationStatus, enumName: 'OperationStatus' })
  status!: OperationStatus;

  @ApiProperty({ type: String, nullable: true, description: 'Worker running (or that ran) it' })
  worker_id!: string | null;

  @ApiProperty({ description: 'Dispatch attempt, 1 for the first', example: 1 })
  attempt!: number;

  @ApiProperty({
    type: [OperationAttemptDto],
    description:
      'Every dispatch so far, oldest first: the worker, when it started and ended, how and why (empty before the first dispatch, and for operations dispatched before the backend recorded attempts)',
  })
  attempts!: OperationAttemptDto[];

  @ApiProperty({ description: 'ISO-8601 UTC' })
  created_at!: string;

  @ApiProperty({ type: String, nullable: true })
  started_at!: string | null;

  @ApiProperty({ type: String, nullable: true })
  completed_at!: string | null;

  @ApiProperty({ type: OperationProgressDto })
  progress!: OperationProgressDto;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'The start request (BacktestStartRequest or TrainingStartRequest)',
    example: {
      symbol: 'SYNTH-DEMO',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-07-01',
      strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
    },
  })
  params!: Record<string, unknown>;

  @ApiProperty({
    type: OperationMetricsDto,
    nullable: true,
    description:
      'Headline metrics once completed (null before); the full result is GET /operations/{id}/results',
  })
  metrics!: OperationMetricsDto | null;

  @ApiProperty({ type: String, nullable: true })
  error_message!: string | null;

  @ApiProperty({ type: CheckpointInfoDto, nullable: true })
  checkpoint!: CheckpointInfoDto | null;

  @ApiProperty({ description: 'Queue priority (higher first)', example: 0 })
  priority!: number;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'While pending: 1-based place in the queue of its type (dispatch order)',
    example: 3,
  })
  queue_position!: number | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'While pending: why it waits',
    example: '2 ahead of it; 3 backtesting workers busy',
  })
  wait_reason!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The sweep it belongs to' })
  sweep_id!: string | null;
}

/** Response of `GET /operations/{id}`. */
export class OperationResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ type: OperationDto })
  data!: OperationDto;
}

/** Query of `GET /operations`. */
export class ListOperationsQueryDto {
  @ApiPropertyOptional({ enum: OperationStatus, enumName: 'OperationStatus' })
  @IsOptional()
  @IsEnum(OperationStatus)
  status?: OperationStatus;

  @ApiPropertyOptional({ enum: OperationType, enumName: 'OperationType' })
  @IsOptional()
  @IsEnum(OperationType)
  operation_type?: OperationType;

  @ApiPropertyOptional({ description: 'Only the children of this sweep' })
  @IsOptional()
  @IsString()
  @IsId()
  sweep_id?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;
}

/** Response of `GET /operations`. */
export class OperationListResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ type: [OperationDto] })
  data!: OperationDto[];

  @ApiProperty({ description: 'Operations matching the filters (before limit/offset)' })
  total_count!: number;

  @ApiProperty({ description: 'Pending or running operations (all types)' })
  active_count!: number;
}

/** Response of `POST /backtests/start`, `POST /trainings/start` and `POST /operations/{id}/resume`. */
export class StartOperationResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ example: 'op_backtesting_20261122_abcdef12' })
  operation_id!: string;

  @ApiProperty({
    enum: OperationStatus,
    enumName: 'OperationStatus',
    example: OperationStatus.PENDING,
  })
  status!: OperationStatus;

  @ApiProperty({ type: String, nullable: true, example: null })
  worker_id!: string | null;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'While pending: 1-based place in the queue of its type',
    example: 1,
  })
  queue_position!: number | null;

  @ApiProperty({
    description: 'What happens next, e.g. why it waits',
    example: 'Queued: 0 ahead of it; dispatching to a free backtesting worker',
  })
  message!: string;
}

/** Response of `DELETE /operations/{id}`. */
export class CancelOperationResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty()
  operation_id!: string;

  @ApiProperty({ enum: OperationStatus, enumName: 'OperationStatus' })
  status!: OperationStatus;

  @ApiProperty({ example: 'Cancellation requested; the worker stops at the next bar or epoch' })
  message!: string;
}

/** Body of `POST /operations/{id}/progress` (sent by the worker). */
export class ProgressReportDto {
  @ApiProperty({ description: 'Lease of the dispatch this report belongs to' })
  @IsString()
  @IsId()
  lease_token!: string;

  @ApiProperty({ type: OperationProgressDto })
  @ValidateNested()
  @Type(() => OperationProgressDto)
  progress!: OperationProgressDto;

  @ApiPropertyOptional({ type: CheckpointInfoDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => CheckpointInfoDto)
  checkpoint?: CheckpointInfoDto;
}

/** Body of `POST /operations/{id}/complete` (sent by the worker, retried until acknowledged). */
export class CompleteOperationRequestDto {
  @ApiProperty({ description: 'Lease of the dispatch this report belongs to' })
  @IsString()
  @IsId()
  lease_token!: string;

  @ApiProperty({ enum: CompletionStatus, enumName: 'CompletionStatus' })
  @IsEnum(CompletionStatus)
  status!: CompletionStatus;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description:
      'BacktestResult or TrainingResult (the trade list and full equity curve go up first as artifacts)',
    example: { total_return: 0.1874, num_trades: 87 },
  })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsObject()
  result?: Record<string, unknown> | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(4000)
  error_message?: string | null;

  @ApiPropertyOptional({ type: CheckpointInfoDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => CheckpointInfoDto)
  checkpoint?: CheckpointInfoDto;

  @ApiPropertyOptional({
    description:
      'True when the worker stopped (SIGTERM) before finishing: the backend puts the operation back in the queue while attempts remain',
  })
  @IsOptional()
  @IsBoolean()
  interrupted?: boolean;
}

/** Response of the worker report endpoints. */
export class ReportAckDto {
  @ApiProperty({ description: 'True when the report was applied or had already been applied' })
  acknowledged!: boolean;

  @ApiProperty({ enum: OperationStatus, enumName: 'OperationStatus' })
  status!: OperationStatus;
}
