import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import { ApiSecurity, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  CancelOperationResponseDto,
  CompleteOperationRequestDto,
  ListOperationsQueryDto,
  OperationListResponseDto,
  OperationResponseDto,
  OperationResultsResponseDto,
  ProgressReportDto,
  ReportAckDto,
  StartOperationResponseDto,
} from '@ktrdr/contracts';
import { ApiErrors, REGISTRATION_TOKEN_SCHEME } from '../common/api-errors.decorator';
import { RegistrationTokenGuard } from '../common/registration-token.guard';
import { toOperationDto } from './operation-mapper';
import { OperationsService } from './operations.service';

const ID_PARAM = { name: 'id', description: 'operation_id' };
@ApiTags('operations')
@Controller()
export class OperationsController {
  constructor(private readonly operations: OperationsService) {}

  @Get(BACKEND_ROUTES.operations)
  @ApiOperation({
    summary: 'List operations (newest first)',
    description: 'Filters: status, operation_type; limit 1–1000 (default 100), offset',
  })
  @ApiOkResponse({ type: OperationListResponseDto })
  @ApiErrors(400)
  list(@Query() query: ListOperationsQueryDto): Promise<OperationListResponseDto> {
    return this.operations.list(query);
  }

  @Get(BACKEND_ROUTES.operation)
  @ApiOperation({ summary: 'One operation' })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: OperationResponseDto })
  @ApiErrors(400, 404)
  async get(@Param('id') id: string): Promise<OperationResponseDto> {
    return { success: true, data: toOperationDto(await this.operations.getRecord(id)) };
  }

  @Get(BACKEND_ROUTES.operationResults)
  @ApiOperation({ summary: 'Results of a completed operation (400 until it has completed)' })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: OperationResultsResponseDto })
  @ApiErrors(400, 404)
  results(@Param('id') id: string): Promise<OperationResultsResponseDto> {
    return this.operations.results(id);
  }

  @Delete(BACKEND_ROUTES.operation)
  @ApiOperation({
    summary: 'Cancel an operation',
    description:
      'Marks it cancelled, forwards DELETE to its worker at once and repeats the request in the ' +
      "worker's next heartbeat. 400 when it has already finished.",
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: CancelOperationResponseDto })
  @ApiErrors(400, 404)
  cancel(@Param('id') id: string): Promise<CancelOperationResponseDto> {
    return this.operations.cancel(id);
  }

  @Post(BACKEND_ROUTES.operationResume)
  @HttpCode(200)
  @ApiOperation({
    summary: 'Resume a failed or cancelled operation from its last checkpoint',
    description:
      '404 when it has no checkpoint; 409 when it is not failed or cancelled; 503 when no worker takes it.',
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: StartOperationResponseDto })
  @ApiErrors(400, 404, 409, 503)
  resume(@Param('id') id: string): Promise<StartOperationResponseDto> {
    return this.operations.resume(id);
  }

  @Post(BACKEND_ROUTES.operationProgress)
  @HttpCode(200)
  @UseGuards(RegistrationTokenGuard)
  @ApiOperation({ summary: 'Progress report from the worker (409 for a stale lease)' })
  @ApiSecurity(REGISTRATION_TOKEN_SCHEME)
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: ReportAckDto })
  @ApiErrors(400, 401, 404, 409)
  progress(@Param('id') id: string, @Body() body: ProgressReportDto): Promise<ReportAckDto> {
    return this.operations.progress(id, body);
  }

  @Post(BACKEND_ROUTES.operationComplete)
  @HttpCode(200)
  @UseGuards(RegistrationTokenGuard)
  @ApiOperation({
    summary: 'Completion report from the worker',
    description: 'Idempotent (a repeat is acknowledged); 409 for a stale lease.',
  })
  @ApiSecurity(REGISTRATION_TOKEN_SCHEME)
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
