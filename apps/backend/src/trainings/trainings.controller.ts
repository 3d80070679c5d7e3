import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  OperationType,
  StartOperationResponseDto,
  SweepStartResponseDto,
  TrainingStartRequestDto,
  TrainingSweepRequestDto,
} from '@ktrdr/contracts';
import { ApiErrors } from '../common/api-errors.decorator';
import { OperationsService } from '../operations/operations.service';
import { SweepsService } from '../operations/sweeps.service';

@ApiTags('trainings')
@Controller()
export class TrainingsController {
  constructor(
    private readonly operations: OperationsService,
    private readonly sweeps: SweepsService,
  ) {}

  @Post(BACKEND_ROUTES.trainingsStart)
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Queue a training',
    description:
      'Queues the training (202, `pending`, with its `queue_position` and why it waits); it is dispatched ' +
      'as soon as a training worker is free: GPU workers (capabilities.gpu) first, then CPU training ' +
      'workers, least-recently-selected inside each pool; higher `priority` first, then submission order. ' +
      '429 with Retry-After when the queue is full; 400 (nothing queued) for an invalid request.',
  })
  @ApiAcceptedResponse({ type: StartOperationResponseDto })
  @ApiErrors(400, 429)
  start(@Body() body: TrainingStartRequestDto): Promise<StartOperationResponseDto> {
    return this.operations.start(OperationType.TRAINING, body);
  }

  @Post(BACKEND_ROUTES.trainingsSweep)
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Queue a parameter sweep of trainings',
    description:
      'Expands `base` × `grid` into one child training per combination, validates every child, then queues ' +
      'them all (202). 400 naming the child and field, or when the grid exceeds KTRDR_OPS_MAX_SWEEP_CHILDREN; ' +
      '429 when the queue cannot take them all.',
  })
  @ApiAcceptedResponse({ type: SweepStartResponseDto })
  @ApiErrors(400, 429)
  sweep(@Body() body: TrainingSweepRequestDto): Promise<SweepStartResponseDto> {
    return this.sweeps.start(OperationType.TRAINING, body);
  }
}
