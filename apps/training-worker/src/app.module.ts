import { Module } from '@nestjs/common';
import { WorkerRuntimeModule } from '@ktrdr/worker-runtime';
import { trainingEngine } from './engine';

/** The training worker: the runtime with the training engine plugged in. */
@Module({ imports: [WorkerRuntimeModule.forRoot({ engine: trainingEngine })] })
export class TrainingWorkerModule {}
