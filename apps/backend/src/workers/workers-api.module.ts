import { Module } from '@nestjs/common';
import { OperationsModule } from '../operations/operations.module';
import { WorkerProtocolService } from './worker-protocol.service';
import { WorkersController } from './workers.controller';
import { WorkersModule } from './workers.module';

/**
 * The workers REST API (registration, heartbeats, queries). The protocol reaches operations only
 * through OPERATION_REPORTS, which the operations module provides.
 */
@Module({
  imports: [WorkersModule, OperationsModule],
  controllers: [WorkersController],
  providers: [WorkerProtocolService],
})
export class WorkersApiModule {}
