import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  BacktestStartRequestDto,
  OperationType,
  StartOperationResponseDto,
} from '@ktrdr/contracts';
import { ApiErrors } from '../common/api-errors.decorator';
import { OperationsService } from '../operations/operations.service';

@ApiTags('backtests')
@Controller()
export class BacktestsController {
  constructor(private readonly operations: OperationsService) {}

  @Post(BACKEND_ROUTES.backtestsStart)
  @HttpCode(200)
  @ApiOperation({
    summary: 'Start a backtest',
    description:
      'Creates an operation and dispatches it to the least-recently-selected available backtesting worker. ' +
      '503 with a hint when no backtesting worker is available.',
  })
  @ApiOkResponse({ type: StartOperationResponseDto })
  @ApiErrors(400, 503)
  start(@Body() body: BacktestStartRequestDto): Promise<StartOperationResponseDto> {
    return this.operations.start(OperationType.BACKTESTING, body);
  }
}
