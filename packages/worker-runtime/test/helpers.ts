import { join } from 'node:path';
import { IsInt, IsOptional, IsString, Min } from 'class-validator';
import type { CheckpointInfoDto } from '@ktrdr/contracts';
import type { WorkerEngine } from '../src/types';

export * from '../src/testing';

/** Start body of the fake engine (test-internal; not a wire DTO of the system). */
export class FakeStartRequest {
  @IsString() task_id!: string;
  @IsString() lease_token!: string;
  @IsInt() attempt!: number;
  @IsOptional() resume_from?: CheckpointInfoDto | null;
  @IsInt() @Min(1) units!: number;
  @IsInt() unit_ms!: number;
  @IsOptional() @IsInt() fail_at?: number;
  @IsOptional() @IsInt() artifact_rows?: number;
  @IsOptional() @IsInt() chunk_rows?: number;
}

export function fakeEngine(overrides: Partial<WorkerEngine> = {}): WorkerEngine {
  return {
    serviceName: 'fake-worker',
    workerType: 'backtesting' as WorkerEngine['workerType'],
    operationType: 'backtesting' as WorkerEngine['operationType'],
    startRoute: '/backtests/start',
    startRequestDto: FakeStartRequest,
    jobModulePath: join(__dirname, 'fixtures', 'fake-job.js'),
    unitName: 'units',
    capabilities: () => Promise.resolve({ gpu: false, cpu_count: 1, memory_gb: 1 }),
    prepareJob: () => ({ prepared: true }),
    ...overrides,
  };
}
