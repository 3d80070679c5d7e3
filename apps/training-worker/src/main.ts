// Tracing first: it must patch http/express/nest before they load.
import './tracing';
import 'reflect-metadata';
import { bootstrapWorker } from '@ktrdr/worker-runtime';
import { TrainingWorkerModule } from './app.module';
import { SERVICE_NAME } from './engine';

void bootstrapWorker({ serviceName: SERVICE_NAME, module: TrainingWorkerModule });
