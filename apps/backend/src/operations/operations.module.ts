import { Module } from '@nestjs/common';
import { WorkersModule } from '../workers/workers.module';
import { DispatchService } from './dispatch.service';
import { OperationsController } from './operations.controller';
import { OperationsService } from './operations.service';
import { OrphanDetectorService } from './orphan-detector.service';
import { RetentionService } from './retention.service';

@Module({
  imports: [WorkersModule],
  controllers: [OperationsController],
  providers: [OperationsService, DispatchService, OrphanDetectorService, RetentionService],
  exports: [OperationsService, DispatchService, OrphanDetectorService, RetentionService],
})
export class OperationsModule {}
