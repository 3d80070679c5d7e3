import { Controller, Get, Inject } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
} from '@nestjs/terminus';
import { BACKEND_ROUTES, ErrorResponseDto, errorText } from '@ktrdr/contracts';
import { PublicRoute } from '../auth/access.decorators';
import { BACKGROUND_TASKS } from '../common/tokens';
import { OrphanDetectorService } from '../operations/orphan-detector.service';
import {
  OPERATIONS_REPOSITORY,
  type OperationsRepository,
} from '../persistence/operations.repository';
import { HealthMonitorService } from '../workers/health-monitor.service';
import { WorkerRegistry } from '../workers/worker-registry';

const HEALTH_SCHEMA = {
  type: 'object',
  properties: {
    status: { type: 'string', example: 'ok' },
    info: { type: 'object', additionalProperties: true },
    error: { type: 'object', additionalProperties: true },
    details: { type: 'object', additionalProperties: true },
  },
};

@ApiTags('health')
@PublicRoute('health')
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly orphans: OrphanDetectorService,
    private readonly monitor: HealthMonitorService,
    private readonly registry: WorkerRegistry,
    @Inject(OPERATIONS_REPOSITORY) private readonly repo: OperationsRepository,
    @Inject(BACKGROUND_TASKS) private readonly backgroundTasks: boolean,
  ) {}

  @Get(BACKEND_ROUTES.health)
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({
    summary: 'Liveness',
    description: 'The process answers; includes the orphan detector and health monitor status.',
  })
  @ApiOkResponse({ schema: HEALTH_SCHEMA })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto })
  liveness(): Promise<HealthCheckResult> {
    return this.health.check([
      () => {
        const status = this.orphans.status();
        const session = this.indicators.check('orphan_detector');
        return this.backgroundTasks && !status.running
          ? session.down({ ...status })
          : session.up({ ...status });
      },
      () => {
        const last = this.monitor.lastSweepReport;
        return this.indicators.check('worker_health_monitor').up({
          running: this.monitor.isRunning,
          workers: this.registry.size,
          checks_in_flight: this.monitor.schedule.in_flight,
          late_checks: this.monitor.schedule.late_checks,
          last_sweep_ms: last ? Math.round(last.duration_ms) : null,
        });
      },
    ]);
  }

  @Get(BACKEND_ROUTES.healthReady)
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Readiness: the operations store answers' })
  @ApiOkResponse({ schema: HEALTH_SCHEMA })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description: 'The store is unreachable',
  })
  async readiness(): Promise<HealthCheckResult> {
    return this.health.check([
      async () => {
        const session = this.indicators.check('store');
        try {
          await this.repo.ping();
          return session.up();
        } catch (err) {
          return session.down({ message: errorText(err) });
        }
      },
    ]);
  }
}
