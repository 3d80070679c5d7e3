import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppModule, type AppOptions } from '../../src/app.module';
import { configureApp } from '../../src/app.setup';
import { memoryStore } from './memory-store';
import type { OperationsRepository } from '../../src/persistence/operations.repository';
import { TEST_AUTH_HEADERS, testSettings } from './settings';

export interface TestApp {
  app: INestApplication;
  repository: OperationsRepository;
  close(): Promise<void>;
}

/** The full app in-process (no listener: supertest drives app.getHttpServer()), loops off. */
export async function createTestApp(options: AppOptions = {}): Promise<TestApp> {
  const repository = options.repository ?? memoryStore();
  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot({
        settings: testSettings(),
        backgroundTasks: false,
        ...options,
        repository,
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  configureApp(app);
  await app.init();
  return { app, repository, close: () => app.close() };
}

type Server = Parameters<typeof request>[0];

/** A supertest agent that sends the test operate key and the worker token on every request. */
export function authed(server: Server): ReturnType<typeof request.agent> {
  return request.agent(server).set(TEST_AUTH_HEADERS);
}
