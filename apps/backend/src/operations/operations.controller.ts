import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  CancelOperationResponseDto,
  CompleteOperationRequestDto,
  ListOperationsQueryDto,
  OperationListResponseDto,
  OperationResponseDto,
  ProgressReportDto,
  ReportAckDto,
  StartOperationResponseDto,
} from '@ktrdr/contracts';
import { WorkerProtocolRoute } from '../auth/access.decorators';
import { ApiErrors } from '../common/api-errors.decorator';
import { OperationsService } from './operations.service';

const ID_PARAM = { name: 'id', description: 'operation_id' };
@ApiTags('operations')
@Controller()
export class OperationsController {
  constructor(private readonly operations: OperationsService) {}

  @Get(BACKEND_ROUTES.operations)
  @ApiOperation({
    summary: 'List operations (newest first; the queue in dispatch order with status=pending)',
    description:
      'Filters: status, operation_type, sweep_id; limit 1–1000 (default 100), offset. With ' +
      '`status=pending` the list is the queue in dispatch order (priority desc, then submission time), ' +
      'each with its `queue_position` and `wait_reason`.',
  })
  @ApiOkResponse({ type: OperationListResponseDto })
  @ApiErrors(400)
  list(@Query() query: ListOperationsQueryDto): Promise<OperationListResponseDto> {
    return this.operations.list(query);
  }

  @Get(BACKEND_ROUTES.operation)
  @ApiOperation({
    summary: 'One operation: status, progress and headline metrics',
    description: 'The full result is GET /operations/{id}/results (see the results tag).',
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: OperationResponseDto })
  @ApiErrors(400, 404)
  async get(@Param('id') id: string): Promise<OperationResponseDto> {
    return { success: true, data: await this.operations.getDto(id) };
  }

  @Delete(BACKEND_ROUTES.operation)
  @ApiOperation({
    summary: 'Cancel an operation',
    description:
      'A pending operation leaves the queue at once. A dispatched or running one is marked cancelled; ' +
      "its worker is told in the background (never delaying this answer) and again in the worker's next " +
      'heartbeat. 400 when it has already finished.',
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: CancelOperationResponseDto })
  @ApiErrors(400, 404)
  cancel(@Param('id') id: string): Promise<CancelOperationResponseDto> {
    return this.operations.cancel(id);
  }

  @Post(BACKEND_ROUTES.operationResume)
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Resume a failed or cancelled operation (back to the queue)',
    description:
      'Queues it again (202) under the same id: from its last checkpoint when it has one, otherwise from ' +
      'the start. 409 when it is not failed or cancelled; 429 when the queue is full.',
  })
  @ApiParam(ID_PARAM)
  @ApiAcceptedResponse({ type: StartOperationResponseDto })
  @ApiErrors(400, 404, 409, 429)
  resume(@Param('id') id: string): Promise<StartOperationResponseDto> {
    return this.operations.resume(id);
  }

  @Post(BACKEND_ROUTES.operationProgress)
  @HttpCode(200)
  @WorkerProtocolRoute()
  @ApiOperation({ summary: 'Progress report from the worker (409 for a stale lease)' })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: ReportAckDto })
  @ApiErrors(400, 401, 404, 409)
  progress(@Param('id') id: string, @Body() body: ProgressReportDto): Promise<ReportAckDto> {
    return this.operations.progress(id, body);
  }

  @Post(BACKEND_ROUTES.operationComplete)
  @HttpCode(200)
  @WorkerProtocolRoute()
  @ApiOperation({
    summary: 'Completion report from the worker',
    description: 'Idempotent (a repeat is acknowledged); 409 for a stale lease.',
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: ReportAckDto })
  @ApiErrors(400, 401, 404, 409)
  complete(
    @Param('id') id: string,
    @Body() body: CompleteOperationRequestDto,
  ): Promise<ReportAckDto> {
    return this.operations.complete(id, body);
  }
}
