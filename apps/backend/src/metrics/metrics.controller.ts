import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { BACKEND_ROUTES, WorkerSummaryDto } from '@ktrdr/contracts';
import { PublicRoute } from '../auth/access.decorators';
import { WorkerRegistry } from '../workers/worker-registry';
import { MetricsService } from './metrics.service';

/** `GET /metrics` (root, excluded from the /api/v1 prefix): Prometheus exposition. */
@ApiTags('metrics')
@PublicRoute('metrics')
@Controller()
export class PrometheusController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format, served at /metrics)' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format', schema: { type: 'string' } })
  scrape(
    @Res({ passthrough: true }) res: { setHeader(name: string, value: string): void },
  ): Promise<string> {
    return this.exposition(res);
  }

  /** The same exposition under the API prefix (for proxies that only forward /api/v1). */
  @Get(BACKEND_ROUTES.metricsPrometheus)
  @ApiOperation({
    summary: 'Prometheus metrics under /api/v1 (the same exposition as GET /metrics)',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format', schema: { type: 'string' } })
  scrapePrefixed(
    @Res({ passthrough: true }) res: { setHeader(name: string, value: string): void },
  ): Promise<string> {
    return this.exposition(res);
  }

  private async exposition(res: { setHeader(name: string, value: string): void }): Promise<string> {
    const { contentType, body } = await this.metrics.exposition();
    res.setHeader('Content-Type', contentType);
    return body;
  }
}

@ApiTags('metrics')
@Controller()
export class WorkerMetricsController {
  constructor(private readonly registry: WorkerRegistry) {}

  @Get(BACKEND_ROUTES.metricsWorkers)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Worker counts by status and per worker type, and every worker',
    description:
      'total_workers, by_status (workers per status), all and by_type (total and per status), and ' +
      'workers: id, type, status, current operation, health-check failures, draining flag.',
  })
  @ApiOkResponse({ type: WorkerSummaryDto })
  summary(): WorkerSummaryDto {
    const { all, by_type } = this.registry.countsByType();
    const { total, ...by_status } = all;
    return {
      total_workers: total,
      by_status,
      all,
      by_type,
      workers: this.registry.all().map((w) => ({
        worker_id: w.worker_id,
        worker_type: w.worker_type,
        status: w.status,
        current_operation_id: w.current_operation_id,
        health_check_failures: w.health_check_failures,
        draining: w.draining,
        endpoint_url: w.endpoint_url,
      })),
    };
  }
}
