import { join } from 'node:path';
import { Type } from 'class-transformer';
import { IsInt, IsObject, IsOptional, Min, ValidateNested } from 'class-validator';
import { DispatchFieldsDto } from '@ktrdr/contracts';
import type { WorkerEngine } from '../../src/types';

export * from '../../src/testing';

/** Parameters of the fake engine's job (test-internal; not a wire DTO of the system). */
export class FakeStartParams {
  @IsInt() @Min(1) units!: number;
  @IsInt() unit_ms!: number;
  @IsOptional() @IsInt() fail_at?: number;
  @IsOptional() @IsInt() artifact_rows?: number;
  @IsOptional() @IsInt() chunk_rows?: number;
}

/** Start body of the fake engine: the real dispatch fields around the fake parameters. */
export class FakeStartRequest extends DispatchFieldsDto {
  @IsObject() @ValidateNested() @Type(() => FakeStartParams) params!: FakeStartParams;
}

export function fakeEngine(overrides: Partial<WorkerEngine> = {}): WorkerEngine {
  return {
    serviceName: 'fake-worker',
    workerType: 'backtesting' as WorkerEngine['workerType'],
    operationType: 'backtesting' as WorkerEngine['operationType'],
    startRoute: '/backtests/start',
    startRequestDto: FakeStartRequest,
    jobModulePath: join(__dirname, '..', 'fixtures', 'fake-job.js'),
    unitName: 'units',
    capabilities: () => Promise.resolve({ gpu: false, cpu_count: 1, memory_gb: 1 }),
    prepareJob: () => ({ prepared: true }),
    ...overrides,
  };
}
