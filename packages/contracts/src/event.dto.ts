import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsEnum, IsInt, IsOptional, IsString, Min } from 'class-validator';
import { CheckpointInfoDto, OperationProgressDto } from './common.dto';
import {
  OperationStatus,
  OperationType,
  WORKER_TYPE_ALIASES,
  WorkerStatus,
  WorkerType,
} from './enums';
import { OperationAttemptDto } from './operation.dto';
import { WorkerDto } from './worker.dto';
import { IsId } from './validation';
import {
  OPERATION_EVENT_TYPES,
  WORKER_EVENT_TYPES,
  type OperationEventType,
  type WorkerEventType,
} from './events';

/**
 * The live event stream `GET /api/v1/events` (Server-Sent Events). Every event is one SSE frame:
 * `id: <id>`, `event: <type>` and `data: <the event as JSON>` ({ id, type, time, payload }).
 */

/** The operation as an event carries it: the record without its params and result (fetch those). */
export class OperationEventPayloadDto {
  @ApiProperty({ example: 'op_backtesting_20261122_abcdef12' })
  operation_id!: string;

  @ApiProperty({ enum: OperationType, enumName: 'OperationType' })
  operation_type!: OperationType;

  @ApiProperty({ enum: OperationStatus, enumName: 'OperationStatus' })
  status!: OperationStatus;

  @ApiProperty({ type: String, nullable: true })
  worker_id!: string | null;

  @ApiProperty({ example: 1 })
  attempt!: number;

  @ApiProperty({ type: [OperationAttemptDto], description: 'Every dispatch so far, oldest first' })
  attempts!: OperationAttemptDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Sweep this operation belongs to' })
  sweep_id!: string | null;

  @ApiProperty({ description: 'Queue priority (higher first)', example: 0 })
  priority!: number;

  @ApiProperty({ description: 'ISO-8601 UTC' })
  created_at!: string;

  @ApiProperty({ type: String, nullable: true })
  started_at!: string | null;

  @ApiProperty({ type: String, nullable: true })
  completed_at!: string | null;

  @ApiProperty({ type: OperationProgressDto })
  progress!: OperationProgressDto;

  @ApiProperty({ type: String, nullable: true })
  error_message!: string | null;

  @ApiProperty({ type: CheckpointInfoDto, nullable: true })
  checkpoint!: CheckpointInfoDto | null;
}

/** `operation.*`: a lifecycle step or a progress report of one operation. */
export class OperationEventDto {
  @ApiProperty({ description: 'Increasing event id (SSE `id:`)', example: 42 })
  id!: number;

  @ApiProperty({ enum: OPERATION_EVENT_TYPES, example: 'operation.progress' })
  type!: OperationEventType;

  @ApiProperty({ description: 'ISO-8601 UTC time the backend emitted it' })
  time!: string;

  @ApiProperty({ type: OperationEventPayloadDto })
  payload!: OperationEventPayloadDto;
}

export class WorkerEventPayloadDto {
  @ApiProperty({
    type: WorkerDto,
    description: 'The worker after the change (before, when removed)',
  })
  worker!: WorkerDto;

  @ApiProperty({
    enum: WorkerStatus,
    enumName: 'WorkerStatus',
    nullable: true,
    description:
      'Status before the change as this stream last saw it; null when it (re-)registered or is unknown',
  })
  previous_status!: WorkerStatus | null;
}

/** `worker.*`: a worker registered, changed status (or current operation), or was removed. */
export class WorkerEventDto {
  @ApiProperty({ example: 43 })
  id!: number;

  @ApiProperty({ enum: WORKER_EVENT_TYPES, example: 'worker.status_changed' })
  type!: WorkerEventType;

  @ApiProperty()
  time!: string;

  @ApiProperty({ type: WorkerEventPayloadDto })
  payload!: WorkerEventPayloadDto;
}

export class StreamGapPayloadDto {
  @ApiProperty({ description: 'The Last-Event-ID the client asked to resume after' })
  last_event_id!: number;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Oldest event id still in the replay buffer (null when it is empty)',
  })
  oldest_available_id!: number | null;

  @ApiProperty({
    enum: ['evicted', 'unknown_id'],
    description:
      '`evicted`: the events after last_event_id are no longer buffered; `unknown_id`: the id is newer than any event of this backend (it restarted)',
  })
  reason!: 'evicted' | 'unknown_id';

  @ApiProperty({ example: 'Events 13–40 are no longer buffered; re-read current state' })
  message!: string;
}

/** `stream.gap`: some events after the client's Last-Event-ID were lost; re-read current state. */
export class StreamGapEventDto {
  @ApiProperty({ description: 'The id after which the replayed events follow' })
  id!: number;

  @ApiProperty({ enum: ['stream.gap'] })
  type!: 'stream.gap';

  @ApiProperty()
  time!: string;

  @ApiProperty({ type: StreamGapPayloadDto })
  payload!: StreamGapPayloadDto;
}

export class StreamDroppedPayloadDto {
  @ApiProperty({
    enum: ['slow_client', 'stalled', 'shutdown'],
    description:
      '`slow_client`: more events queued than the per-client bound; `stalled`: the connection stayed full too long; `shutdown`: the backend is stopping',
  })
  reason!: 'slow_client' | 'stalled' | 'shutdown';

  @ApiProperty({ description: 'Last event id written to this client: resume after it' })
  last_event_id!: number;

  @ApiProperty()
  message!: string;
}

/** `stream.dropped`: the last frame before the backend closes this stream. */
export class StreamDroppedEventDto {
  @ApiProperty({ description: 'Same as payload.last_event_id' })
  id!: number;

  @ApiProperty({ enum: ['stream.dropped'] })
  type!: 'stream.dropped';

  @ApiProperty()
  time!: string;

  @ApiProperty({ type: StreamDroppedPayloadDto })
  payload!: StreamDroppedPayloadDto;
}

/** Any event of the stream. */
export type KtrdrEvent =
  OperationEventDto | WorkerEventDto | StreamGapEventDto | StreamDroppedEventDto;

/** Query of `GET /events`. Filters combine with AND. */
export class EventsQueryDto {
  @ApiPropertyOptional({
    description: 'Only events of this operation (worker events are left out)',
  })
  @IsOptional()
  @IsString()
  @IsId()
  operation_id?: string;

  @ApiPropertyOptional({
    description: 'Only events of the operations of this sweep (worker events are left out)',
  })
  @IsOptional()
  @IsString()
  @IsId()
  sweep_id?: string;

  @ApiPropertyOptional({
    enum: WorkerType,
    enumName: 'WorkerType',
    description:
      'Only workers of this type, and operations that run on it (backtesting: backtests; training, gpu_host: trainings)',
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && value in WORKER_TYPE_ALIASES ? WORKER_TYPE_ALIASES[value] : value,
  )
  @IsEnum(WorkerType)
  worker_type?: WorkerType;

  @ApiPropertyOptional({
    minimum: 0,
    description:
      'Resume after this event id, like the `Last-Event-ID` header (for clients that cannot set headers); the header wins',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  last_event_id?: number;
}
