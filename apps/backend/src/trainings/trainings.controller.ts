import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  OperationType,
  StartOperationResponseDto,
  TrainingStartRequestDto,
} from '@ktrdr/contracts';
import { ApiErrors } from '../common/api-errors.decorator';
import { OperationsService } from '../operations/operations.service';

@ApiTags('trainings')
@Controller()
export class TrainingsController {
  constructor(private readonly operations: OperationsService) {}

  @Post(BACKEND_ROUTES.trainingsStart)
  @HttpCode(200)
  @ApiOperation({
    summary: 'Start a training',
    description:
      'Creates an operation and dispatches it: GPU workers (capabilities.gpu) first, then CPU training workers, ' +
      'least-recently-selected inside each pool. 503 with a hint when no training worker is available.',
  })
  @ApiOkResponse({ type: StartOperationResponseDto })
  @ApiErrors(400, 503)
  start(@Body() body: TrainingStartRequestDto): Promise<StartOperationResponseDto> {
    return this.operations.start(OperationType.TRAINING, body);
  }
}
