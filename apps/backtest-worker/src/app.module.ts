import { Module } from '@nestjs/common';
import { WorkerRuntimeModule } from '@ktrdr/worker-runtime';
import { backtestEngine } from './engine';

/** The backtest worker: the runtime with the backtest engine plugged in. */
@Module({ imports: [WorkerRuntimeModule.forRoot({ engine: backtestEngine })] })
export class BacktestWorkerModule {}
