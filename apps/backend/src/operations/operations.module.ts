import { Module } from '@nestjs/common';
import { OPERATION_REPORTS } from '../workers/operation-reports';
import { WorkersModule } from '../workers/workers.module';
import { DispatchService } from './dispatch.service';
import { OperationLifecycle } from './lifecycle.service';
import { OperationTracing } from './operation-tracing';
import { OperationsController } from './operations.controller';
import { OperationsService } from './operations.service';
import { OrphanDetectorService } from './orphan-detector.service';
import { RetentionService } from './retention.service';
import { SweepsController } from './sweeps.controller';
import { SweepsService } from './sweeps.service';

@Module({
  imports: [WorkersModule],
  controllers: [OperationsController, SweepsController],
  providers: [
    OperationTracing,
    OperationLifecycle,
    OperationsService,
    DispatchService,
    OrphanDetectorService,
    RetentionService,
    SweepsService,
    { provide: OPERATION_REPORTS, useExisting: OperationsService },
  ],
  exports: [
    OPERATION_REPORTS,
    OperationTracing,
    OperationLifecycle,
    OperationsService,
    DispatchService,
    OrphanDetectorService,
    RetentionService,
    SweepsService,
  ],
})
export class OperationsModule {}
