import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Logger,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  HeartbeatRequestDto,
  HeartbeatResponseDto,
  ListWorkersQueryDto,
  RegisterWorkerRequestDto,
  RegisterWorkerResponseDto,
  WorkerDto,
  WorkerListResponseDto,
} from '@ktrdr/contracts';
import { WorkerProtocolRoute } from '../auth/access.decorators';
import { ApiErrors } from '../common/api-errors.decorator';
import { RetryLaterException } from '../common/errors';
import { ShutdownState } from '../common/shutdown-state';
import { WorkerProtocolService } from './worker-protocol.service';
import { WorkerRegistry, toWorkerDto } from './worker-registry';

@ApiTags('workers')
@Controller()
export class WorkersController {
  private readonly logger = new Logger(WorkersController.name);

  constructor(
    private readonly protocol: WorkerProtocolService,
    private readonly registry: WorkerRegistry,
    @Inject(ShutdownState) private readonly shutdown: ShutdownState,
  ) {}

  @Post(BACKEND_ROUTES.workerRegister)
  @HttpCode(200)
  @WorkerProtocolRoute()
  @ApiOperation({
    summary: 'Register (or re-register) a worker',
    description:
      'Idempotent upsert by worker_id; another record with the same endpoint_url is dropped. ' +
      'completed_operations are applied like POST /operations/{id}/complete. The response lists ' +
      'stop_operations the worker must abort. 409 when the worker_id is alive at another endpoint. ' +
      '503 with Retry-After while the backend shuts down.',
  })
  @ApiOkResponse({ type: RegisterWorkerResponseDto })
  @ApiErrors(400, 401, 409, 503)
  async register(@Body() body: RegisterWorkerRequestDto): Promise<RegisterWorkerResponseDto> {
    if (this.shutdown.isShuttingDown) {
      throw new RetryLaterException('Backend is shutting down; register again shortly', 5);
    }
    return this.protocol.register(body);
  }

  @Get(BACKEND_ROUTES.workers)
  @ApiOperation({
    summary: 'List workers',
    description: 'Filters: worker_type, status. Paging: limit, offset (no limit: all)',
  })
  @ApiOkResponse({ type: WorkerListResponseDto })
  @ApiErrors(400)
  list(@Query() query: ListWorkersQueryDto): WorkerListResponseDto {
    const all = this.registry.list(query);
    const offset = query.offset ?? 0;
    // Without limit/offset the response is the 0.1 one: every match, no next_offset.
    if (query.limit === undefined && offset === 0) {
      return { total: all.length, workers: all.map(toWorkerDto) };
    }
    const end = query.limit === undefined ? all.length : Math.min(all.length, offset + query.limit);
    const workers = all.slice(offset, end).map(toWorkerDto);
    return { total: all.length, workers, next_offset: end < all.length ? end : null };
  }

  @Get(BACKEND_ROUTES.worker)
  @ApiOperation({ summary: 'One worker (404: the worker should re-register)' })
  @ApiParam({ name: 'id', description: 'worker_id' })
  @ApiOkResponse({ type: WorkerDto })
  @ApiErrors(400, 404)
  get(@Param('id') id: string): WorkerDto {
    const w = this.registry.get(id);
    if (!w) throw new NotFoundException(`Worker ${id} is not registered`);
    return toWorkerDto(w);
  }

  @Post(BACKEND_ROUTES.workerDrain)
  @HttpCode(200)
  @ApiOperation({
    summary: 'Drain a worker (before a deploy)',
    description:
      'No new operation is dispatched to the worker; the operation it runs finishes normally. ' +
      'The worker list shows draining:true. The next registration of the worker (e.g. after its ' +
      'restart) or DELETE /workers/{id}/drain clears it. Idempotent.',
  })
  @ApiParam({ name: 'id', description: 'worker_id' })
  @ApiOkResponse({ type: WorkerDto })
  @ApiErrors(400, 404)
  drain(@Param('id') id: string): WorkerDto {
    const w = this.registry.drain(id);
    if (!w) throw new NotFoundException(`Worker ${id} is not registered`);
    this.logger.log(
      `Worker ${id} is draining: no new dispatches${w.current_operation_id ? `; ${w.current_operation_id} continues` : ''}`,
    );
    return toWorkerDto(w);
  }

  @Delete(BACKEND_ROUTES.workerDrain)
  @HttpCode(200)
  @ApiOperation({
    summary: 'Undrain a worker (a deploy stopped before updating it)',
    description:
      'Undoes POST /workers/{id}/drain: the worker takes new operations again (draining:false); its ' +
      'status is unchanged (available, or busy while it runs an operation). Idempotent: a worker that ' +
      'is not draining is answered as it is. 404 when the worker is not registered.',
  })
  @ApiParam({ name: 'id', description: 'worker_id' })
  @ApiOkResponse({ type: WorkerDto })
  @ApiErrors(400, 404)
  undrain(@Param('id') id: string): WorkerDto {
    const before = this.registry.get(id)?.draining;
    const w = this.registry.undrain(id);
    if (!w) throw new NotFoundException(`Worker ${id} is not registered: nothing to undrain`);
    if (before) this.logger.log(`Worker ${id} is no longer draining: it takes operations again`);
    return toWorkerDto(w);
  }

  @Post(BACKEND_ROUTES.workerHeartbeat)
  @HttpCode(200)
  @WorkerProtocolRoute()
  @ApiOperation({
    summary: 'Worker heartbeat',
    description:
      'Counts as a sign of life. registered:false tells the worker to register again; ' +
      'cancel_operations lists operations it must cancel.',
  })
  @ApiParam({ name: 'id', description: 'worker_id' })
  @ApiOkResponse({ type: HeartbeatResponseDto })
  @ApiErrors(400, 401)
  heartbeat(
    @Param('id') id: string,
    @Body() body: HeartbeatRequestDto,
  ): Promise<HeartbeatResponseDto> {
    return this.protocol.heartbeat(id, body);
  }
}
