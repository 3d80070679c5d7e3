import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { getDataSettings } from '@ktrdr/config';
import {
  OperationType,
  WORKER_ROUTES,
  WORKER_START,
  WorkerCapabilitiesDto,
  WorkerType,
} from '@ktrdr/contracts';
import { detectCapabilities, DetectCapabilitiesOptions } from '@ktrdr/training-engine';
import type { WorkerEngine } from '@ktrdr/worker-runtime';
import { prepareTrainingJob, type TrainingJobData, type TrainingStartRequest } from './job';

export const SERVICE_NAME = 'training-worker';

/** The compiled job module: next to this file in dist, taken from dist under ts-jest. */
export function jobModulePath(dir = __dirname): string {
  const here = join(dir, 'job.js');
  return existsSync(here) ? here : join(dir, '..', 'dist', 'job.js');
}

/**
 * The training engine for the runtime. Capabilities come from nvidia-smi (GPU name, count and
 * memory) plus CPU/RAM; training itself runs on the CPU.
 */
export function createTrainingEngine(
  detect: DetectCapabilitiesOptions = {},
): WorkerEngine<TrainingStartRequest, TrainingJobData> {
  return {
    serviceName: SERVICE_NAME,
    workerType: WorkerType.TRAINING,
    operationType: OperationType.TRAINING,
    startRoute: WORKER_START[OperationType.TRAINING].route,
    legacyStartRoutes: [WORKER_ROUTES.trainingStartLegacy],
    startRequestDto: WORKER_START[OperationType.TRAINING].request,
    jobModulePath: jobModulePath(),
    unitName: 'epochs',
    capabilities: async (): Promise<WorkerCapabilitiesDto> => ({
      ...(await detectCapabilities(detect)),
    }),
    prepareJob: (request): TrainingJobData => {
      const data = getDataSettings();
      const job: TrainingJobData = { data_dir: data.dir, models_dir: data.models_dir };
      return prepareTrainingJob(request.params, job);
    },
  };
}

export const trainingEngine = createTrainingEngine();
