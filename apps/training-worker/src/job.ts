/**
 * The training job, run inside the runtime's worker_thread. Loads bars (CSV or SYNTH-*),
 * trains the MLP with the runtime's abort flag, reports every epoch (losses, accuracy) as
 * progress, writes periodic checkpoints when due, and saves the model file (format
 * `ktrdr-mlp` v1, see @ktrdr/training-engine) to the models dir as `{model_name}.json`.
 */
import type { OperationType, TrainingStartRequestDto, WorkerStartRequest } from '@ktrdr/contracts';
import { checkBarsAvailable, loadBars } from '@ktrdr/market-data';
import {
  resolveTrainingConfig,
  saveModel,
  TrainingConfig,
  TrainingState,
  trainModel,
} from '@ktrdr/training-engine';
import type { JobContext, JobInput, JobOutcome } from '@ktrdr/worker-runtime';

/** The wire default of `batch_size` (TrainingStartRequestDto documents 64). */
export const DEFAULT_BATCH_SIZE = 64;

export interface TrainingJobData {
  data_dir: string;
  models_dir: string;
}

/** Model name: the requested one, else derived from the operation id (file-name safe). */
export function modelNameFor(operationId: string, requested?: string): string {
  return requested ?? `model-${operationId}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
}

export function trainingConfig(p: TrainingStartRequestDto): TrainingConfig {
  return resolveTrainingConfig({
    features: p.features ? [...p.features] : undefined,
    model: p.model ? { hidden_layers: [...p.model.hidden_layers] } : undefined,
    epochs: p.epochs,
    learning_rate: p.learning_rate,
    batch_size: p.batch_size ?? DEFAULT_BATCH_SIZE,
    validation_split: p.validation_split,
    early_stopping: p.early_stopping
      ? {
          patience: p.early_stopping.patience,
          min_delta:
            p.early_stopping.min_delta ?? resolveTrainingConfig({}).early_stopping.min_delta,
        }
      : undefined,
    seed: p.seed,
  });
}

/**
 * Fail fast (main thread, before the job thread starts): the data file (or SYNTH-*) and its header
 * must exist; throws naming what is missing and where it looked.
 */
export function preflight(p: TrainingStartRequestDto, data: TrainingJobData): void {
  checkBarsAvailable({
    symbol: p.symbol,
    timeframe: p.timeframe,
    start_date: p.start_date,
    end_date: p.end_date,
    dataDir: data.data_dir,
  });
}

export function prepareTrainingJob(
  request: TrainingStartRequestDto,
  data: TrainingJobData,
): TrainingJobData {
  preflight(request, data);
  return { ...data };
}

function fmt(x: number | null): string {
  return x === null ? 'n/a' : x.toFixed(4);
}

/** The start request of a training (what the training engine validates). */
export type TrainingStartRequest = WorkerStartRequest<OperationType.TRAINING>;

/** What the training job receives: the training's parameters and the engine's prepareJob data. */
export type TrainingJobInput = JobInput<TrainingStartRequest['params'], TrainingJobData>;

export function runJob(input: TrainingJobInput, ctx: JobContext): JobOutcome {
  const p = input.params;
  const data = input.data;
  const bars = ctx.phase(
    'load_data',
    () =>
      loadBars({
        symbol: p.symbol,
        timeframe: p.timeframe,
        start_date: p.start_date,
        end_date: p.end_date,
        dataDir: data.data_dir,
      }),
    { symbol: p.symbol, timeframe: p.timeframe },
  );
  const config = trainingConfig(p);
  const resumeFrom = (input.resume_state ?? undefined) as TrainingState | undefined;
  const resumedEpoch = resumeFrom?.epoch ?? 0;
  const outcome = ctx.phase(
    'run',
    () =>
      trainModel(bars, config, {
        signal: ctx.signal,
        onEpoch: (m, snapshot) => {
          // One event per epoch on the run span of the operation's trace.
          ctx.event('epoch', {
            epoch: m.epoch,
            total_epochs: m.total_epochs,
            train_loss: m.train_loss,
            val_loss: m.val_loss,
            train_accuracy: m.train_accuracy,
            val_accuracy: m.val_accuracy,
            improved: m.improved,
          });
          ctx.progress({
            percentage: Math.min(100, (m.epoch / m.total_epochs) * 100),
            current_step: `epoch ${m.epoch}/${m.total_epochs}`,
            items_processed: m.epoch,
            items_total: m.total_epochs,
            message: `train_loss=${fmt(m.train_loss)} val_loss=${fmt(m.val_loss)} train_acc=${fmt(m.train_accuracy)} val_acc=${fmt(m.val_accuracy)}`,
            details: {
              epoch: m.epoch,
              train_loss: m.train_loss,
              val_loss: m.val_loss,
              train_accuracy: m.train_accuracy,
              val_accuracy: m.val_accuracy,
              best_epoch: m.best_epoch,
              improved: m.improved,
            },
          });
          if (ctx.checkpointDue(m.epoch - resumedEpoch)) ctx.checkpoint(m.epoch, snapshot());
        },
        resumeFrom,
      }),
    { bars: bars.length, epochs: config.epochs, resumed_from_epoch: resumedEpoch },
  );
  if (outcome.outcome === 'aborted') {
    const state = outcome.state ?? null;
    return { status: 'aborted', unit: state?.epoch ?? 0, state };
  }
  const name = modelNameFor(input.operation_id, p.model_name);
  const model = outcome.model!;
  model.training.operation_id = input.operation_id;
  ctx.phase('save_model', () => saveModel(data.models_dir, model, `${name}.json`), {
    model_name: name,
  });
  const full = outcome.result!;
  return {
    status: 'completed',
    result: {
      // Every epoch (at most 10,000 by the request's bounds); the model is named, never located.
      ...full,
      model_name: name,
      data_source: bars.source ? { ...bars.source } : { kind: 'synthetic' },
      symbol: p.symbol,
      timeframe: p.timeframe,
      start_date: p.start_date,
      end_date: p.end_date,
      bars: bars.length,
      config: { ...config },
      resumed_from_epoch: resumeFrom ? resumedEpoch : null,
    },
  };
}
