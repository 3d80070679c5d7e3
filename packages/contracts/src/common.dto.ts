import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsEnum,
  IsISO8601,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { CheckpointType } from './enums';

/** Progress of an operation as reported by its worker. */
export class OperationProgressDto {
  @ApiProperty({ description: 'Percent complete, 0–100', minimum: 0, maximum: 100, example: 42.5 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  percentage!: number;

  @ApiPropertyOptional({ description: 'What the worker is doing now', example: 'epoch 3/50' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  current_step?: string;

  @ApiPropertyOptional({ description: 'Units done (bars or epochs)', minimum: 0, example: 4200 })
  @IsOptional()
  @IsInt()
  @Min(0)
  items_processed?: number;

  @ApiPropertyOptional({
    description: 'Units in total (bars or epochs)',
    minimum: 0,
    example: 10000,
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  items_total?: number;

  @ApiPropertyOptional({ description: 'Human-readable status line', example: 'train_loss=0.66' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  message?: string;

  @ApiPropertyOptional({
    description: 'Engine-specific figures (e.g. per-epoch losses)',
    type: 'object',
    additionalProperties: true,
    example: { epoch: 3, train_loss: 0.6912, val_loss: 0.6934 },
  })
  @IsOptional()
  @IsObject()
  details?: Record<string, unknown>;
}

/** Metadata of the latest checkpoint of an operation (its state lives in KTRDR_CHECKPOINT_DIR). */
export class CheckpointInfoDto {
  @ApiProperty({
    enum: CheckpointType,
    enumName: 'CheckpointType',
    example: CheckpointType.PERIODIC,
  })
  @IsEnum(CheckpointType)
  type!: CheckpointType;

  @ApiProperty({
    description: 'ISO-8601 UTC time it was written',
    example: '2026-11-22T10:00:00.000Z',
  })
  @IsISO8601({ strict: true })
  created_at!: string;

  @ApiProperty({
    description: 'Units completed when it was written (bars for backtests, epochs for trainings)',
    minimum: 0,
    example: 12000,
  })
  @IsInt()
  @Min(0)
  unit!: number;
}

/** The error envelope every endpoint uses. */
export class ErrorResponseDto {
  @ApiProperty({ example: 400 })
  statusCode!: number;

  @ApiProperty({ example: 'Bad Request' })
  error!: string;

  @ApiProperty({
    description: 'What went wrong, naming the offending field or resource',
    example: 'worker_type must be one of the following values: backtesting, training, gpu_host',
  })
  message!: string;
}
