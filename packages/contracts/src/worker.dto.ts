import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsEnum,
  IsInt,
  IsNumber,
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
import { WORKER_TYPE_ALIASES, WorkerActivity, WorkerStatus, WorkerType } from './enums';
import { CompleteOperationRequestDto } from './operation.dto';
import { IsEndpointUrl, IsId } from './validation';

/** What a worker can do; the backend uses `gpu` for GPU-first training selection. */
export class WorkerCapabilitiesDto {
  @ApiPropertyOptional({ description: 'True when the worker has a usable GPU', example: false })
  @IsOptional()
  @IsBoolean()
  gpu?: boolean;

  @ApiPropertyOptional({ nullable: true, example: 'NVIDIA H100 80GB HBM3' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  gpu_type?: string | null;

  @ApiPropertyOptional({ minimum: 0, example: 0 })
  @IsOptional()
  @IsInt()
  @Min(0)
  gpu_count?: number;

  @ApiPropertyOptional({ type: [String], example: [] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  gpu_names?: string[];

  @ApiPropertyOptional({ type: [Number], description: 'Memory per GPU in MiB', example: [] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsNumber({}, { each: true })
  gpu_memory_mb?: number[];

  @ApiPropertyOptional({ minimum: 1, example: 8 })
  @IsOptional()
  @IsInt()
  @Min(1)
  cpu_count?: number;

  @ApiPropertyOptional({ minimum: 0, example: 16 })
  @IsOptional()
  @IsNumber()
  @Min(0)
  memory_gb?: number;
}

/** A completion report carried inside a registration. */
export class CompletedOperationDto extends CompleteOperationRequestDto {
  @ApiProperty({ example: 'op_backtesting_20261122_abcdef12' })
  @IsString()
  @IsId()
  operation_id!: string;
}

/** Body of `POST /workers/register`. */
export class RegisterWorkerRequestDto {
  @ApiProperty({ description: 'Stable id of the worker', example: 'backtesting-worker-1a2b3c4d' })
  @IsString()
  @IsId()
  worker_id!: string;

  @ApiProperty({
    enum: WorkerType,
    enumName: 'WorkerType',
    description: '`cpu_training` is accepted as an alias of `training`',
  })
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && value in WORKER_TYPE_ALIASES ? WORKER_TYPE_ALIASES[value] : value,
  )
  @IsEnum(WorkerType)
  worker_type!: WorkerType;

  @ApiProperty({
    description: 'Base URL the backend uses to reach the worker',
    example: 'http://backtest-worker-1:5003',
  })
  @IsString()
  @IsEndpointUrl()
  endpoint_url!: string;

  @ApiPropertyOptional({ type: WorkerCapabilitiesDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => WorkerCapabilitiesDto)
  capabilities?: WorkerCapabilitiesDto;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { version: '0.1.0' },
  })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({ nullable: true, description: 'Operation the worker is running right now' })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @IsId()
  current_operation_id?: string | null;

  @ApiPropertyOptional({
    type: () => [CompletedOperationDto],
    description: 'Completions the backend has not acknowledged yet (re-sent on registration)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => CompletedOperationDto)
  completed_operations?: CompletedOperationDto[];
}

/** A worker as the backend knows it. */
export class WorkerDto {
  @ApiProperty({ example: 'backtesting-worker-1a2b3c4d' })
  worker_id!: string;

  @ApiProperty({ enum: WorkerType, enumName: 'WorkerType' })
  worker_type!: WorkerType;

  @ApiProperty({ example: 'http://backtest-worker-1:5003' })
  endpoint_url!: string;

  @ApiProperty({ enum: WorkerStatus, enumName: 'WorkerStatus' })
  status!: WorkerStatus;

  @ApiProperty({ type: String, nullable: true })
  current_operation_id!: string | null;

  @ApiProperty({ type: WorkerCapabilitiesDto })
  capabilities!: WorkerCapabilitiesDto;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'ISO-8601 UTC time of the last health check',
  })
  last_health_check!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'ISO-8601 UTC time of the last sign of life',
  })
  last_healthy_at!: string | null;

  @ApiProperty({ description: 'Consecutive failed health checks', example: 0 })
  health_check_failures!: number;

  @ApiProperty({ description: 'ISO-8601 UTC time of the (last) registration' })
  registered_at!: string;

  @ApiProperty({
    description:
      'Drained (POST /workers/{id}/drain): no new dispatches; its running operation finishes. A re-registration or DELETE /workers/{id}/drain clears it.',
    example: false,
  })
  draining!: boolean;

  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata!: Record<string, unknown>;
}

/** Response of `POST /workers/register`. */
export class RegisterWorkerResponseDto extends WorkerDto {
  @ApiProperty({
    type: [String],
    description:
      'Operations the worker must abort (finished elsewhere, cancelled, or re-dispatched)',
  })
  stop_operations!: string[];
}

/** Response of `GET /workers`. */
export class WorkerListResponseDto {
  @ApiProperty({ example: 2, description: 'Workers matching the filters (before limit/offset)' })
  total!: number;

  @ApiProperty({ type: [WorkerDto] })
  workers!: WorkerDto[];

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    example: null,
    description:
      'offset of the next page, null when this page is the last; sent when the query has limit or offset',
  })
  next_offset?: number | null;
}

/** Query of `GET /workers`. */
export class ListWorkersQueryDto {
  @ApiPropertyOptional({ enum: WorkerType, enumName: 'WorkerType' })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && value in WORKER_TYPE_ALIASES ? WORKER_TYPE_ALIASES[value] : value,
  )
  @IsEnum(WorkerType)
  worker_type?: WorkerType;

  @ApiPropertyOptional({ enum: WorkerStatus, enumName: 'WorkerStatus' })
  @IsOptional()
  @IsEnum(WorkerStatus)
  status?: WorkerStatus;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 10000,
    description: 'page size; without it every matching worker is listed',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10000)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;
}

/** Body of `POST /workers/{id}/heartbeat`. */
export class HeartbeatRequestDto {
  @ApiProperty({ enum: [WorkerStatus.AVAILABLE, WorkerStatus.BUSY], example: WorkerStatus.BUSY })
  @IsEnum([WorkerStatus.AVAILABLE, WorkerStatus.BUSY], {
    message: 'status must be one of the following values: available, busy',
  })
  status!: WorkerStatus.AVAILABLE | WorkerStatus.BUSY;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @IsId()
  current_operation_id?: string | null;

  @ApiPropertyOptional({ type: OperationProgressDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => OperationProgressDto)
  progress?: OperationProgressDto;

  @ApiPropertyOptional({ type: CheckpointInfoDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => CheckpointInfoDto)
  checkpoint?: CheckpointInfoDto;
}

/** Response of `POST /workers/{id}/heartbeat`. */
export class HeartbeatResponseDto {
  @ApiProperty({ description: 'False when the backend does not know this worker: register again' })
  registered!: boolean;

  @ApiProperty({ type: [String], description: 'Operations the worker must cancel' })
  cancel_operations!: string[];
}

/** Response of a worker's `GET /health`. */
export class WorkerHealthResponseDto {
  @ApiProperty()
  healthy!: boolean;

  @ApiProperty({ example: 'backtest-worker' })
  service!: string;

  @ApiProperty()
  worker_id!: string;

  @ApiProperty({ enum: WorkerActivity, enumName: 'WorkerActivity' })
  worker_status!: WorkerActivity;

  @ApiProperty({ type: String, nullable: true })
  current_operation!: string | null;

  @ApiPropertyOptional({ description: 'Whether the backend has accepted the registration' })
  registered?: boolean;
}

/** Counts per worker status. */
export class WorkerStatusCountsDto {
  @ApiProperty() total!: number;
  @ApiProperty() available!: number;
  @ApiProperty() busy!: number;
  @ApiProperty() temporarily_unavailable!: number;
}

/** One worker in `GET /metrics/workers`. */
export class WorkerMetricsEntryDto {
  @ApiProperty({ example: 'backtesting-301' })
  worker_id!: string;

  @ApiProperty({ enum: WorkerType, enumName: 'WorkerType' })
  worker_type!: WorkerType;

  @ApiProperty({ enum: WorkerStatus, enumName: 'WorkerStatus' })
  status!: WorkerStatus;

  @ApiProperty({ type: String, nullable: true })
  current_operation_id!: string | null;

  @ApiProperty({ description: 'Consecutive failed health checks', example: 0 })
  health_check_failures!: number;

  @ApiProperty({ example: false })
  draining!: boolean;

  @ApiProperty({ example: 'http://10.20.0.101:5003' })
  endpoint_url!: string;
}

/** Response of `GET /metrics/workers`. */
export class WorkerSummaryDto {
  @ApiProperty({ description: 'Registered workers', example: 4 })
  total_workers!: number;

  @ApiProperty({
    type: 'object',
    properties: {
      available: { type: 'number' },
      busy: { type: 'number' },
      temporarily_unavailable: { type: 'number' },
    },
    description: 'Workers per status',
  })
  by_status!: Record<string, number>;

  @ApiProperty({ type: WorkerStatusCountsDto })
  all!: WorkerStatusCountsDto;

  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/WorkerStatusCountsDto' },
    description: 'Counts per worker type (total and per status)',
  })
  by_type!: Record<string, WorkerStatusCountsDto>;

  @ApiProperty({ type: [WorkerMetricsEntryDto] })
  workers!: WorkerMetricsEntryDto[];
}
