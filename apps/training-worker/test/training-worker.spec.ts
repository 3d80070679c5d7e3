import type { TrainingStartRequestDto, WorkerTrainingStartRequestDto } from '@ktrdr/contracts';
import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { withEnv } from '@ktrdr/config';
import { loadBars } from '@ktrdr/market-data';
import { loadModel, trainModel } from '@ktrdr/training-engine';
import {
  createWorkerApp,
  WorkerEngine,
  WorkerRuntime,
  WorkerRuntimeModule,
} from '@ktrdr/worker-runtime';
import {
  FakeBackend,
  recordingLogger,
  tempDir,
  testRuntimeConfig,
  until,
  signedFetch,
  dispatchBody,
} from '@ktrdr/worker-runtime/testing';
import { createTrainingEngine, trainingEngine } from '../src/engine';
import { prepareTrainingJob, trainingConfig } from '../src/job';

// Each job starts a thread that loads the engines: seconds on a loaded machine.
jest.setTimeout(60_000);

const H100 = readFileSync(join(__dirname, 'fixtures', 'nvidia-smi-name-memory.csv'), 'utf8');

interface Harness {
  backend: FakeBackend;
  app: INestApplication;
  runtime: WorkerRuntime;
  url: string;
}

let tmp: { dir: string; cleanup: () => void };
const harnesses: Harness[] = [];

beforeAll(() => {
  tmp = tempDir('ktrdr-trw-');
});

afterAll(async () => {
  for (const h of harnesses) {
    await h.app.close();
    await h.backend.stop();
  }
  tmp.cleanup();
});

async function harness(engine: WorkerEngine, workerId: string): Promise<Harness> {
  const backend = await new FakeBackend().start();
  const runtime = new WorkerRuntime(
    {
      ...engine,
      prepareJob: (request) => ({
        ...prepareTrainingJob(request.params as TrainingStartRequestDto, {
          data_dir: tmp.dir,
          models_dir: join(tmp.dir, 'models'),
        }),
      }),
    },
    testRuntimeConfig(backend.baseUrl, join(tmp.dir, 'checkpoints'), { worker_id: workerId }),
    { logger: recordingLogger(), defaultMetrics: false },
  );
  const { app } = await createWorkerApp(
    WorkerRuntimeModule.forRoot({ engine: runtime.engine, runtime }),
    false,
  );
  await app.listen(0, '127.0.0.1');
  const h = {
    backend,
    app,
    runtime,
    url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
  };
  harnesses.push(h);
  return h;
}

async function start(
  h: Harness,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await signedFetch(`${h.url}/trainings/start`, { body: dispatchBody(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function completion(h: Harness, id: string): Promise<Record<string, unknown>> {
  const done = await h.backend.waitFor(
    (r) => r.path === `/api/v1/operations/${id}/complete`,
    60_000,
  );
  await until(() => h.runtime.currentOperationId === null);
  return done.body as Record<string, unknown>;
}

const SMALL = {
  symbol: 'SYNTH-TRAIN',
  timeframe: '1h',
  start_date: '2024-01-01',
  end_date: '2024-02-01',
  features: ['returns_1', 'sma_ratio_10', 'rsi_14'],
  model: { hidden_layers: [4] },
  epochs: 5,
  batch_size: 32,
  seed: 7,
};

describe('training worker', () => {
  it('trains a model, reports every epoch and saves the model file to the models dir', async () => {
    const h = await harness(
      createTrainingEngine({ runNvidiaSmi: () => null }),
      'training-worker-t1',
    );
    const res = await start(h, {
      operation_id: 'op-tr-1',
      lease_token: 'lease-1',
      attempt: 1,
      ...SMALL,
      model_name: 'unit-mlp',
    });
    expect(res.status).toBe(200);
    const report = await completion(h, 'op-tr-1');
    expect(report.status).toBe('completed');
    const result = report.result as Record<string, unknown> & { history: unknown[] };
    const modelPath = join(tmp.dir, 'models', 'unit-mlp.json');
    expect(result).toMatchObject({
      model_name: 'unit-mlp',
      epochs_run: 5,
      bars: 744,
      data_source: { kind: 'synthetic' },
    });
    expect(JSON.stringify(result)).not.toContain(tmp.dir); // no server paths in a result
    expect(result.history).toHaveLength(5);
    const validation = result.validation as { samples: number; confusion_matrix: number[][] };
    expect(validation.samples).toBe((result.samples as { validation: number }).validation);
    expect(validation.confusion_matrix.flat().reduce((a, b) => a + b, 0)).toBe(validation.samples);
    expect(result.scaling).toEqual({
      mean: expect.any(Array),
      std: expect.any(Array),
    });
    expect(existsSync(modelPath)).toBe(true);
    const model = loadModel(modelPath);
    expect(model.features.names).toEqual(SMALL.features);
    expect(model.normalisation).toEqual(result.scaling); // the scaling travels with the model
    expect(model.training.operation_id).toBe('op-tr-1');
    expect(model.layers.map((l) => [l.inputs, l.outputs])).toEqual([
      [3, 4],
      [4, 1],
    ]);
    // Same bars and config directly through the engine: identical metrics (deterministic seed).
    const bars = loadBars({ ...SMALL, dataDir: tmp.dir });
    const direct = trainModel(bars, trainingConfig(SMALL as never));
    expect(result.train_loss).toBe(direct.result!.train_loss);
    expect(result.val_accuracy).toBe(direct.result!.val_accuracy);
    const epochs = h.backend
      .matching('POST', /\/operations\/op-tr-1\/progress$/)
      .map(
        (r) =>
          (r.body as { progress: { items_processed: number; details: Record<string, unknown> } })
            .progress,
      );
    // Reports are coalesced while one is in flight: increasing epochs, always ending with the last.
    const seen = epochs.map((p) => p.items_processed);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen[seen.length - 1]).toBe(5);
    expect(epochs[0].details).toEqual({
      epoch: seen[0],
      train_loss: expect.any(Number),
      val_loss: expect.any(Number),
      train_accuracy: expect.any(Number),
      val_accuracy: expect.any(Number),
      best_epoch: expect.any(Number),
      improved: expect.any(Boolean),
    });
  });

  it('cancels between epochs with a cancellation checkpoint, and resumes from it to the same model', async () => {
    const h = await harness(
      createTrainingEngine({ runNvidiaSmi: () => null }),
      'training-worker-t2',
    );
    const params = {
      ...SMALL,
      symbol: 'SYNTH-RESUME',
      timeframe: '5m',
      end_date: '2024-02-15',
      model: { hidden_layers: [16, 8] },
      epochs: 25,
      early_stopping: { patience: 1000 },
      model_name: 'resumed',
    };
    await start(h, { operation_id: 'op-tr-2', lease_token: 'lease-2a', attempt: 1, ...params });
    await h.backend.waitFor((r) => r.path === '/api/v1/operations/op-tr-2/progress');
    const del = await signedFetch(`${h.url}/api/v1/operations/op-tr-2/cancel`, {
      method: 'DELETE',
    });
    expect(del.status).toBe(200);
    const cancelled = await completion(h, 'op-tr-2');
    expect(cancelled.status).toBe('cancelled');
    const cp = cancelled.checkpoint as { type: string; unit: number; created_at: string };
    expect(cp.type).toBe('cancellation');
    expect(cp.unit).toBeGreaterThanOrEqual(1);
    expect(cp.unit).toBeLessThan(25);

    h.backend.requests.length = 0;
    await start(h, {
      operation_id: 'op-tr-2',
      lease_token: 'lease-2b',
      attempt: 2,
      resume_from: cp,
      ...params,
    });
    const resumed = await completion(h, 'op-tr-2');
    expect(resumed).toMatchObject({ lease_token: 'lease-2b', status: 'completed' });
    const result = resumed.result as Record<string, unknown>;
    expect(result).toMatchObject({ resumed_from_epoch: cp.unit, epochs_run: 25 });
    const firstEpoch = (
      h.backend.requests.find((r) => r.path.endsWith('/progress'))!.body as {
        progress: { items_processed: number };
      }
    ).progress.items_processed;
    expect(firstEpoch).toBe(cp.unit + 1);
    const direct = trainModel(
      loadBars({ ...params, dataDir: tmp.dir }),
      trainingConfig(params as never),
    );
    expect(result.train_loss).toBe(direct.result!.train_loss);
    expect(result.val_loss).toBe(direct.result!.val_loss);
  });

  it('registers with the GPU found by nvidia-smi (real H100 output) or none when it is missing', async () => {
    const gpu = await harness(
      createTrainingEngine({ runNvidiaSmi: () => H100 }),
      'training-worker-gpu',
    );
    gpu.runtime.start();
    const reg = await gpu.backend.waitFor((r) => r.path.endsWith('/workers/register'));
    expect(reg.body).toMatchObject({
      worker_type: 'training',
      capabilities: {
        gpu: true,
        gpu_type: 'NVIDIA H100 80GB HBM3',
        gpu_count: 1,
        gpu_names: ['NVIDIA H100 80GB HBM3'],
        cpu_count: expect.any(Number),
        memory_gb: expect.any(Number),
      },
    });
    const cpu = await harness(
      createTrainingEngine({
        runNvidiaSmi: () => Promise.reject(new Error('spawn nvidia-smi ENOENT')),
      }),
      'training-worker-cpu',
    );
    cpu.runtime.start();
    const reg2 = await cpu.backend.waitFor((r) => r.path.endsWith('/workers/register'));
    expect(reg2.body).toMatchObject({ capabilities: { gpu: false, gpu_type: null, gpu_count: 0 } });
  });

  it('rejects an invalid request with 400 naming the field', async () => {
    const h = await harness(
      createTrainingEngine({ runNvidiaSmi: () => null }),
      'training-worker-t4',
    );
    const res = await start(h, {
      operation_id: 'op-bad',
      lease_token: 'l',
      attempt: 1,
      ...SMALL,
      features: ['macd'],
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(String(res.body.message)).toMatch(/^params.features must only contain: returns_1, /);
  });

  it('still serves a 0.1 backend: /training/start with the flat body', async () => {
    const h = harnesses[0];
    const res = await signedFetch(`${h.url}/training/start`, {
      body: {
        task_id: 'op-tr-legacy',
        lease_token: 'lease-legacy',
        attempt: 1,
        ...SMALL,
        epochs: 2,
      },
    });
    expect(res.status).toBe(200);
    const report = await completion(h, 'op-tr-legacy');
    expect(report).toMatchObject({ lease_token: 'lease-legacy', status: 'completed' });
  });

  it('fails a symbol without data within a second, naming the file it looked for', async () => {
    const h = harnesses[0];
    const t0 = Date.now();
    const res = await start(h, {
      operation_id: 'op-tr-nodata',
      lease_token: 'lease-nodata',
      attempt: 1,
      ...SMALL,
      symbol: 'NOPE',
    });
    expect(res.status).toBe(200);
    const report = await completion(h, 'op-tr-nodata');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(report).toMatchObject({ status: 'failed', result: null });
    // The file name only: no server paths in answers (issue 15).
    expect(report.error_message).toBe(
      'No data for symbol NOPE timeframe 1h: expected file NOPE_1h.csv (or use a SYNTH-* symbol)',
    );
  });

  it('takes the data and models dirs from DataSettings', () => {
    const job = withEnv({ KTRDR_DATA_DIR: '/srv/d', KTRDR_DATA_MODELS_DIR: '/srv/models' }, () =>
      trainingEngine.prepareJob!(
        dispatchBody({
          operation_id: 'op-dirs',
          lease_token: 'l',
          attempt: 1,
          ...SMALL,
        }) as unknown as WorkerTrainingStartRequestDto,
      ),
    );
    expect(job).toEqual({ data_dir: '/srv/d', models_dir: '/srv/models' });
  });
});
