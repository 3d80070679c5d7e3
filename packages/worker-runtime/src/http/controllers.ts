import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Res,
  ServiceUnavailableException,
  Type,
  UseGuards,
} from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import {
  fromLegacyDispatchBody,
  ID_PATTERN,
  validatePayload,
  WORKER_ROUTES,
  WorkerHealthResponseDto,
  WorkerOperationStatusDto,
  WorkerStartResponseDto,
} from '@ktrdr/contracts';
import { WorkerBusyError, WorkerShuttingDownError } from '../errors';
import type { WorkerRuntime } from '../runtime';
import type { DispatchedRequest } from '../types';
import { SignedCallGuard } from './signed-call.guard';
import { WORKER_RUNTIME } from './tokens';

export { WORKER_RUNTIME };

@ApiTags('worker')
@Controller()
export class WorkerHealthController {
  constructor(@Inject(WORKER_RUNTIME) private readonly runtime: WorkerRuntime) {}

  @Get(WORKER_ROUTES.health)
  @ApiOperation({ summary: 'Liveness (answers in milliseconds while a job runs)' })
  health(): WorkerHealthResponseDto {
    return this.runtime.health();
  }

  @Get(WORKER_ROUTES.healthReady)
  @ApiOperation({ summary: 'Readiness: 200 once the backend accepted the registration' })
  ready(): WorkerHealthResponseDto {
    if (!this.runtime.registered) {
      throw new ServiceUnavailableException(
        `Worker ${this.runtime.workerId} is not registered with the backend at ${this.runtime.client.baseUrl} yet`,
      );
    }
    if (!this.runtime.isAccepting) {
      throw new ServiceUnavailableException(`Worker ${this.runtime.workerId} is shutting down`);
    }
    return this.runtime.health();
  }
}

function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new BadRequestException(
      'id must start with a letter or digit and contain only letters, digits, ".", "_", ":" or "-"',
    );
  }
}

@ApiTags('worker')
@Controller()
export class WorkerOperationsController {
  constructor(@Inject(WORKER_RUNTIME) private readonly runtime: WorkerRuntime) {}

  @Get(WORKER_ROUTES.operation)
  @UseGuards(SignedCallGuard)
  @ApiOperation({
    summary: 'Status of the running operation or one of the last 100 (signed by the backend)',
  })
  get(@Param('id') id: string): WorkerOperationStatusDto {
    checkId(id);
    const status = this.runtime.operationStatus(id);
    if (!status) throw new NotFoundException(`Operation ${id} not found on this worker`);
    return status;
  }

  @Delete(WORKER_ROUTES.operationCancel)
  @UseGuards(SignedCallGuard)
  @ApiOperation({
    summary: 'Cancel the running operation (cancellation checkpoint, then cancelled)',
  })
  cancel(@Param('id') id: string): {
    success: boolean;
    operation_id: string;
    status: string;
    message: string;
  } {
    checkId(id);
    if (this.runtime.cancel(id)) {
      return {
        success: true,
        operation_id: id,
        status: 'cancelling',
        message: 'Cancellation requested; the engine stops at its next bar or epoch check',
      };
    }
    const known = this.runtime.operationStatus(id);
    if (known) {
      return {
        success: true,
        operation_id: id,
        status: known.status,
        message: `Operation ${id} is not running here (already ${known.status})`,
      };
    }
    throw new NotFoundException(`Operation ${id} not found on this worker`);
  }

  @Post(WORKER_ROUTES.backendShutdown)
  @HttpCode(200)
  @UseGuards(SignedCallGuard)
  @ApiOperation({ summary: 'The backend is shutting down: re-register every 2 s until it is back' })
  backendShutdown(): { acknowledged: boolean } {
    this.runtime.backendShutdown();
    return { acknowledged: true };
  }
}

@ApiTags('worker')
@Controller()
export class WorkerMetricsController {
  constructor(@Inject(WORKER_RUNTIME) private readonly runtime: WorkerRuntime) {}

  @Get(WORKER_ROUTES.metrics)
  @ApiOperation({ summary: 'Prometheus metrics of this worker' })
  async metrics(@Res() res: ServerResponse): Promise<void> {
    const text = await this.runtime.metrics.text();
    res.statusCode = 200;
    res.setHeader('content-type', this.runtime.metrics.contentType);
    res.end(text);
  }
}

/**
 * The start endpoint lives at the engine's route (`/backtests/start` or `/trainings/start`, plus
 * any deprecated earlier names), so the controller class is built per engine.
 *
 * The body is `{operation_id, lease_token, attempt, resume_from, params}`. The flat body of a 0.1
 * backend (`task_id`, parameters at the top level) is still read, with one warning per process.
 */
export function createStartController(
  route: string,
  dto: new () => DispatchedRequest,
  legacyRoutes: readonly string[] = [],
): Type {
  let warned = false;
  @ApiTags('worker')
  @Controller()
  class WorkerStartController {
    constructor(@Inject(WORKER_RUNTIME) private readonly runtime: WorkerRuntime) {}

    @Post([route, ...legacyRoutes])
    @HttpCode(200)
    @UseGuards(SignedCallGuard)
    @ApiOperation({
      summary: 'Start an operation (backend → worker); 503 when busy',
      description: legacyRoutes.length
        ? `${legacyRoutes.join(', ')}: deprecated names of ${route}, served for backends of release 0.1`
        : undefined,
    })
    start(@Body() body: unknown): WorkerStartResponseDto {
      const legacy = fromLegacyDispatchBody(body);
      if (legacy && !warned) {
        warned = true;
        this.runtime.logger.warn(
          'A start request came in the 0.1 dispatch shape (task_id, parameters at the top level); ' +
            'it is still accepted, but upgrade the backend: this shape will be refused in a later release',
        );
      }
      const parsed = validatePayload(dto, legacy ?? body);
      if (!parsed.ok) {
        this.runtime.metrics.startRejected('invalid_request');
        throw new BadRequestException(parsed.errors.join('; '));
      }
      try {
        // Synchronous from here to the busy slot: two concurrent starts cannot both win.
        return this.runtime.startOperation(parsed.value);
      } catch (err) {
        if (err instanceof WorkerBusyError || err instanceof WorkerShuttingDownError) {
          this.runtime.metrics.startRejected(
            err instanceof WorkerBusyError ? 'busy' : 'shutting_down',
          );
          throw new ServiceUnavailableException(err.message);
        }
        throw err;
      }
    }
  }
  return WorkerStartController;
}
