import { Module } from '@nestjs/common';
import {
  OPERATIONS_REPOSITORY,
  type OperationsRepository,
} from '../persistence/operations.repository';
import { ModelsService } from './models.service';
import { ResultsController } from './results.controller';
import { RESULTS_REPOSITORY, resultsRepositoryFor } from './results.repository';
import { ResultsService } from './results.service';

/**
 * Results: the full result of an operation, the trade list and full equity curve a backtest
 * worker uploads in chunks (stored beside the operations, migration 3), CSV downloads, and the
 * model registry.
 */
@Module({
  controllers: [ResultsController],
  providers: [
    {
      provide: RESULTS_REPOSITORY,
      inject: [OPERATIONS_REPOSITORY],
      useFactory: (operations: OperationsRepository) => resultsRepositoryFor(operations),
    },
    ResultsService,
    ModelsService,
  ],
  exports: [RESULTS_REPOSITORY, ResultsService],
})
export class ResultsModule {}
