import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { BACKEND_ROUTES, WorkerSummaryDto } from '@ktrdr/contracts';
import { WorkerRegistry } from '../workers/worker-registry';
import { MetricsService } from './metrics.service';

/** `GET /metrics` (root, excluded from the /api/v1 prefix): Prometheus exposition. */
@ApiTags('metrics')
@Controller()
export class PrometheusController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format, served at /metrics)' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format', schema: { type: 'string' } })
  async scrape(
    @Res({ passthrough: true }) res: { setHeader(name: string, value: string): void },
  ): Promise<string> {
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
  @ApiOperation({ summary: 'Worker counts by status, overall and per worker type' })
  @ApiOkResponse({ type: WorkerSummaryDto })
  summary(): WorkerSummaryDto {
    return this.registry.countsByType();
  }
}
