import 'reflect-metadata';
import { bootstrapWorker } from '@ktrdr/worker-runtime';
import { BacktestWorkerModule } from './app.module';
import { SERVICE_NAME } from './engine';

void bootstrapWorker({ serviceName: SERVICE_NAME, module: BacktestWorkerModule });
