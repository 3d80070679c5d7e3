import { Global, Module } from '@nestjs/common';
import { WorkersModule } from '../workers/workers.module';
import { PrometheusController, WorkerMetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/** One prom-client Registry per application (global so every service can record metrics). */
@Global()
@Module({
  imports: [WorkersModule],
  controllers: [PrometheusController, WorkerMetricsController],
  providers: [MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}
