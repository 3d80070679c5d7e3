import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  BacktestStartRequestDto,
  BacktestSweepRequestDto,
  OperationType,
  StartOperationResponseDto,
  SweepStartResponseDto,
} from '@ktrdr/contracts';
import { ApiErrors } from '../common/api-errors.decorator';
import { OperationsService } from '../operations/operations.service';
import { SweepsService } from '../operations/sweeps.service';

@ApiTags('backtests')
@Controller()
export class BacktestsController {
  constructor(
    private readonly operations: OperationsService,
    private readonly sweeps: SweepsService,
  ) {}

  @Post(BACKEND_ROUTES.backtestsStart)
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Queue a backtest',
    description:
      'Queues the backtest (202, `pending`, with its `queue_position` and why it waits) whether or not a ' +
      'worker is free; it is dispatched to the least-recently-selected available backtesting worker as soon ' +
      'as one is free, higher `priority` first, then in submission order. 429 with Retry-After when the ' +
      'queue is full (KTRDR_OPS_MAX_QUEUED); 400 (nothing queued) for an invalid request.',
  })
  @ApiAcceptedResponse({ type: StartOperationResponseDto })
  @ApiErrors(400, 429)
  start(@Body() body: BacktestStartRequestDto): Promise<StartOperationResponseDto> {
    return this.operations.start(OperationType.BACKTESTING, body);
  }

  @Post(BACKEND_ROUTES.backtestsSweep)
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Queue a parameter sweep of backtests',
    description:
      'Expands `base` × `grid` into one child backtest per combination (the last grid key varies fastest), ' +
      'validates every child against the start contract, then queues them all (202). 400 naming the child ' +
      'and field when one is invalid, or when the grid exceeds KTRDR_OPS_MAX_SWEEP_CHILDREN; 429 when the ' +
      'queue cannot take them all. Follow it with GET /sweeps/{id}.',
  })
  @ApiAcceptedResponse({ type: SweepStartResponseDto })
  @ApiErrors(400, 429)
  sweep(@Body() body: BacktestSweepRequestDto): Promise<SweepStartResponseDto> {
    return this.sweeps.start(OperationType.BACKTESTING, body);
  }
}
