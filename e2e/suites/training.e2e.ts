/**
 * Training end to end, and GPU-first selection: a training worker that claims a GPU (a fake
 * nvidia-smi in its container reports an H100) gets trainings first; the CPU worker gets the next
 * one while the GPU worker is busy.
 */
import {
  BACKEND_ROUTES,
  OperationStatus,
  WorkerStatus,
  WorkerType,
  type WorkerDto,
} from '@ktrdr/contracts';
import { FAKE_NVIDIA_SMI, LONG_TRAINING, SHORT_TRAINING } from '../src/harness/fixtures';
import { Stack } from '../src/harness/stack';

let stack: Stack;
let gpu: WorkerDto;
let cpu: WorkerDto;

beforeAll(async () => {
  stack = await Stack.start();
  await stack.startBackend();
  await Promise.all([
    stack.startWorker('training', 'tr-cpu'),
    stack.startWorker('training', 'tr-gpu', {
      files: [{ content: FAKE_NVIDIA_SMI, target: '/usr/local/bin/nvidia-smi', mode: 0o755 }],
    }),
  ]);
  const { workers } = await stack.api.waitForWorkers(
    (ws) =>
      ws.filter((w) => w.worker_type === WorkerType.TRAINING && w.status === WorkerStatus.AVAILABLE)
        .length === 2,
    'two training workers available',
    30_000,
  );
  gpu = workers.find((w) => w.endpoint_url === 'http://tr-gpu:5003')!;
  cpu = workers.find((w) => w.endpoint_url === 'http://tr-cpu:5003')!;
}, 180_000);

afterAll(async () => stack?.close(), 60_000);

it('the worker with nvidia-smi reports a GPU, the other does not', () => {
  expect(gpu.capabilities).toEqual(expect.objectContaining({ gpu: true, gpu_count: 1 }));
  expect(gpu.capabilities.gpu_names).toEqual(['NVIDIA H100 80GB HBM3']);
  expect(cpu.capabilities).toEqual(expect.objectContaining({ gpu: false }));
});

it('a training goes to the GPU worker first and completes with a model', async () => {
  const start = await stack.api.startTraining({ ...SHORT_TRAINING, model_name: 'e2e-mlp' });
  expect(start.worker_id).toBe(gpu.worker_id);
  const op = await stack.api.waitForTerminal(start.operation_id, 120_000);
  expect(op.status).toBe(OperationStatus.COMPLETED);
  expect(op.worker_id).toBe(gpu.worker_id);
  const res = await stack.api.get<{ data: { result: Record<string, unknown> } }>(
    BACKEND_ROUTES.operationResults,
    {
      id: start.operation_id,
    },
  );
  expect(res.status).toBe(200);
  const r = res.body.data.result as {
    epochs_run: number;
    train_loss: number;
    train_accuracy: number;
    feature_names: string[];
    samples: { train: number; validation: number };
  };
  expect(r.epochs_run).toBeGreaterThanOrEqual(1);
  expect(r.epochs_run).toBeLessThanOrEqual(SHORT_TRAINING.epochs);
  expect(Number.isFinite(r.train_loss)).toBe(true);
  expect(r.train_loss).toBeGreaterThan(0);
  expect(r.train_accuracy).toBeGreaterThanOrEqual(0);
  expect(r.train_accuracy).toBeLessThanOrEqual(1);
  expect(r.feature_names).toEqual(SHORT_TRAINING.features);
  expect(r.samples.train).toBeGreaterThan(r.samples.validation);
  expect(r.samples.validation).toBeGreaterThan(0);
});

it('while the GPU worker is busy, the next training goes to the CPU worker', async () => {
  const long = await stack.api.startTraining({ ...LONG_TRAINING });
  expect(long.worker_id).toBe(gpu.worker_id);
  await stack.api.waitForStatus(long.operation_id, [OperationStatus.RUNNING], 20_000);
  const short = await stack.api.startTraining({ ...SHORT_TRAINING });
  expect(short.worker_id).toBe(cpu.worker_id);
  const done = await stack.api.waitForTerminal(short.operation_id, 120_000);
  expect(done.status).toBe(OperationStatus.COMPLETED);
  // Cancel the long one: the GPU worker is free again.
  const del = await stack.api.delete(BACKEND_ROUTES.operation, { id: long.operation_id });
  expect(del.status).toBe(200);
  const cancelled = await stack.api.waitForTerminal(long.operation_id, 30_000);
  expect(cancelled.status).toBe(OperationStatus.CANCELLED);
  await stack.api.waitForWorkers(
    (ws) => ws.some((w) => w.worker_id === gpu.worker_id && w.status === WorkerStatus.AVAILABLE),
    'GPU worker available again',
    15_000,
  );
});
