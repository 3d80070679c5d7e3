import { Module } from '@nestjs/common';
import { HealthMonitorService } from './health-monitor.service';
import { WorkerClient } from './worker-client';
import { WorkerRegistry } from './worker-registry';

/** The in-memory registry, the HTTP client to workers and the health monitor. */
@Module({
  providers: [WorkerRegistry, WorkerClient, HealthMonitorService],
  exports: [WorkerRegistry, WorkerClient, HealthMonitorService],
})
export class WorkersModule {}
