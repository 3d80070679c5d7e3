import { Module } from '@nestjs/common';
import { OperationsModule } from '../operations/operations.module';
import { WorkerProtocolService } from './worker-protocol.service';
import { WorkersController } from './workers.controller';
import { WorkersModule } from './workers.module';

/** The workers REST API (registration, heartbeats, queries); it applies completions via operations. */
@Module({
  imports: [WorkersModule, OperationsModule],
  controllers: [WorkersController],
  providers: [WorkerProtocolService],
})
export class WorkersApiModule {}
