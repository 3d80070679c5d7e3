import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  errorText,
  type ModelDto,
  type ModelListResponseDto,
  type ModelMetricsDto,
  OperationStatus,
  OperationType,
} from '@ktrdr/contracts';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import {
  OPERATIONS_REPOSITORY,
  type OperationsRepository,
} from '../persistence/operations.repository';

/** Completed trainings looked at (newest first) and the largest model file read. */
const MAX_TRAININGS = 10_000;
const MAX_MODEL_FILE_BYTES = 50 * 1024 * 1024;

type Json = Record<string, unknown>;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function metricsOf(src: Json | undefined): ModelMetricsDto {
  return {
    best_epoch: num(src?.best_epoch),
    epochs_run: num(src?.epochs_run),
    train_loss: num(src?.train_loss),
    val_loss: num(src?.val_loss),
    train_accuracy: num(src?.train_accuracy),
    val_accuracy: num(src?.val_accuracy),
  };
}

/**
 * The model registry: models named by the completed trainings in the operations store, merged
 * with the `ktrdr-mlp` files in the models directory (when the backend can see it). No server
 * path is ever part of an answer: a model is known by its name.
 */
@Injectable()
export class ModelsService {
  private readonly logger = new Logger(ModelsService.name);

  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly operations: OperationsRepository,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
  ) {}

  async list(): Promise<ModelListResponseDto> {
    const byName = new Map<string, ModelDto>();
    for (let offset = 0; offset < MAX_TRAININGS; offset += 1000) {
      const page = await this.operations.list({
        operation_type: OperationType.TRAINING,
        status: [OperationStatus.COMPLETED],
        limit: 1000,
        offset,
      });
      for (const op of page.data) {
        const r = op.result ?? {};
        const name = str(r.model_name);
        if (!name || byName.has(name)) continue; // newest training of a name wins
        const config = (r.config ?? {}) as Json;
        const layers = ((config.model ?? {}) as Json).hidden_layers;
        byName.set(name, {
          model_name: name,
          operation_id: op.operation_id,
          created_at: op.completed_at ? op.completed_at.toISOString() : null,
          symbol: str(r.symbol),
          timeframe: str(r.timeframe),
          features: Array.isArray(r.feature_names) ? (r.feature_names as string[]) : [],
          hidden_layers: Array.isArray(layers) ? (layers as number[]) : [],
          metrics: metricsOf(r),
          file_present: false,
        });
      }
      if (page.data.length < 1000) break;
    }
    for (const file of await this.modelFiles()) {
      const known = byName.get(file.model_name);
      if (known) {
        known.file_present = true;
        // the file is the model the name refers to now: its training wins if it says which
        known.operation_id = file.operation_id ?? known.operation_id;
        known.created_at = file.created_at ?? known.created_at;
      } else {
        byName.set(file.model_name, file);
      }
    }
    const data = [...byName.values()].sort(
      (a, b) =>
        (b.created_at ?? '').localeCompare(a.created_at ?? '') ||
        a.model_name.localeCompare(b.model_name),
    );
    return { success: true, data, total_count: data.length };
  }

  /** `ktrdr-mlp` model files of the models dir (unreadable or foreign files are skipped). */
  private async modelFiles(): Promise<ModelDto[]> {
    const dir = this.settings.models_dir;
    if (!dir) return [];
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
    } catch {
      return []; // no models yet (or not mounted here)
    }
    const out: ModelDto[] = [];
    for (const file of names) {
      const path = join(dir, file);
      try {
        if ((await stat(path)).size > MAX_MODEL_FILE_BYTES) continue;
        const m = JSON.parse(await readFile(path, 'utf8')) as Json;
        if (m.format !== 'ktrdr-mlp') continue;
        const training = (m.training ?? {}) as Json;
        const layers = Array.isArray(m.layers) ? (m.layers as Json[]) : [];
        out.push({
          model_name: file.slice(0, -'.json'.length),
          operation_id: str(training.operation_id),
          created_at: str(m.created_at),
          symbol: str(training.symbol),
          timeframe: str(training.timeframe),
          features: Array.isArray((m.features as Json | undefined)?.names)
            ? ((m.features as Json).names as string[])
            : [],
          hidden_layers: layers.slice(0, -1).map((l) => Number(l.outputs)),
          metrics: metricsOf(training),
          file_present: true,
        });
      } catch (err) {
        this.logger.warn(`Skipping model file ${file}: ${errorText(err)}`);
      }
    }
    return out;
  }
}
