import 'reflect-metadata';
import { bootstrapWorker } from '@ktrdr/worker-runtime';
import { TrainingWorkerModule } from './app.module';
import { SERVICE_NAME } from './engine';

void bootstrapWorker({ serviceName: SERVICE_NAME, module: TrainingWorkerModule });
