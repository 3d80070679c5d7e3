import { Module } from '@nestjs/common';
import { OperationsModule } from '../operations/operations.module';
import { BacktestsController } from './backtests.controller';

@Module({ imports: [OperationsModule], controllers: [BacktestsController] })
export class BacktestsModule {}
