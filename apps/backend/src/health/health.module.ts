import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OperationsModule } from '../operations/operations.module';
import { WorkersModule } from '../workers/workers.module';
import { HealthController } from './health.controller';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), OperationsModule, WorkersModule],
  controllers: [HealthController],
})
export class HealthModule {}
