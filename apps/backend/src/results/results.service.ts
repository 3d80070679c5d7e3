import { Readable } from 'node:stream';
import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import {
  ACTIVE_OPERATION_STATUSES,
  API_PREFIX,
  ARTIFACT_COLUMNS,
  ARTIFACT_KINDS,
  OperationStatus,
  OperationType,
  TRADES_PAGE_DEFAULT,
  ARTIFACT_CHUNK_MEDIA_TYPE,
  ID_PATTERN,
  LEASE_TOKEN_HEADER,
  artifactRows,
  decodeArtifactChunk,
  encodeArtifactRows,
  errorText,
  viewArtifactChunk,
  type ArtifactChunkAckDto,
  type ArtifactChunkQueryDto,
  type ArtifactChunkRequestDto,
  type ArtifactKind,
  type BacktestResultDto,
  type ListTradesQueryDto,
  type OperationResultsResponseDto,
  type TradeDto,
  type TradeListResponseDto,
  type TrainingResultDto,
} from '@ktrdr/contracts';
import {
  OPERATIONS_REPOSITORY,
  type OperationRecord,
  type OperationsRepository,
} from '../persistence/operations.repository';
import {
  RESULTS_REPOSITORY,
  type ArtifactChunk,
  type ChunkMeta,
  type ResultsRepository,
} from './results.repository';

const iso = (ms: number): string => new Date(ms).toISOString();

/** Serves results and stores the artifacts (trade list, full equity curve) workers upload. */
@Injectable()
export class ResultsService {
  private readonly logger = new Logger(ResultsService.name);

  constructor(
    @Inject(OPERATIONS_REPOSITORY) private readonly operations: OperationsRepository,
    @Inject(RESULTS_REPOSITORY) private readonly store: ResultsRepository,
  ) {}

  private async getRecord(operationId: string): Promise<OperationRecord> {
    const op = await this.operations.get(operationId);
    if (!op) throw new NotFoundException(`Operation ${operationId} not found`);
    return op;
  }

  /** The lease, state and type checks of every chunk upload; returns the artifact kind. */
  private async admitChunk(
    operationId: string,
    kind: string,
    leaseToken: string,
  ): Promise<ArtifactKind> {
    if (!(ARTIFACT_KINDS as readonly string[]).includes(kind)) {
      throw new BadRequestException(`kind must be one of: ${ARTIFACT_KINDS.join(', ')}`);
    }
    const k = kind as ArtifactKind;
    const op = await this.getRecord(operationId);
    if (op.lease_token !== leaseToken) {
      throw new ConflictException(
        `Stale lease for operation ${operationId}: the upload belongs to an older dispatch (current attempt ${op.attempt})`,
      );
    }
    if (!ACTIVE_OPERATION_STATUSES.includes(op.status)) {
      throw new ConflictException(
        `Operation ${operationId} is already ${op.status}; artifacts are accepted only while it runs`,
      );
    }
    if (op.operation_type !== OperationType.BACKTESTING) {
      throw new BadRequestException(
        `Operation ${operationId} is a ${op.operation_type}; only backtests upload ${k}`,
      );
    }
    return k;
  }

  /** Stores a checked chunk (binary form) and acknowledges it. */
  private async storeChunk(
    operationId: string,
    kind: ArtifactKind,
    leaseToken: string,
    meta: ChunkMeta & { chunk_count: number },
    data: Uint8Array,
  ): Promise<ArtifactChunkAckDto> {
    if (meta.chunk_index >= meta.chunk_count) {
      throw new BadRequestException('chunk_index must be less than chunk_count');
    }
    if (meta.first_row + meta.row_count > meta.total_rows) {
      throw new BadRequestException('first_row + rows must not exceed total_rows');
    }
    const rowsStored = await this.store.putChunk({
      operation_id: operationId,
      kind,
      lease_token: leaseToken,
      chunk_index: meta.chunk_index,
      first_row: meta.first_row,
      row_count: meta.row_count,
      total_rows: meta.total_rows,
      data,
    });
    return { acknowledged: true, kind, chunk_index: meta.chunk_index, rows_stored: rowsStored };
  }

  /**
   * A binary chunk (`PUT …/chunks/{index}`): the numbers as the worker's typed arrays hold them,
   * fenced by the lease in its header.
   */
  async putBinaryChunk(
    operationId: string,
    kind: string,
    index: string,
    leaseToken: string | undefined,
    query: ArtifactChunkQueryDto,
    body: unknown,
  ): Promise<ArtifactChunkAckDto> {
    if (!/^\d{1,7}$/.test(index)) {
      throw new BadRequestException('index must be a chunk index (0, 1, 2, …)');
    }
    if (typeof leaseToken !== 'string' || !ID_PATTERN.test(leaseToken)) {
      throw new BadRequestException(
        `${LEASE_TOKEN_HEADER} is required (a request header): the lease token of the dispatch the chunk belongs to`,
      );
    }
    if (!(body instanceof Uint8Array)) {
      throw new BadRequestException(
        `body must be binary (content-type: ${ARTIFACT_CHUNK_MEDIA_TYPE})`,
      );
    }
    const k = await this.admitChunk(operationId, kind, leaseToken);
    const expected = ARTIFACT_COLUMNS[k].join(',');
    if (query.columns !== expected) {
      throw new BadRequestException(
        `columns must be ${expected} for ${k} (the body's column order)`,
      );
    }
    let rows: number;
    try {
      rows = decodeArtifactChunk(body, k).rows;
    } catch (err) {
      throw new BadRequestException(errorText(err));
    }
    return this.storeChunk(
      operationId,
      k,
      leaseToken,
      {
        chunk_index: Number(index),
        chunk_count: query.chunk_count,
        first_row: query.first_row,
        total_rows: query.total_rows,
        row_count: rows,
      },
      body,
    );
  }

  /** A chunk in JSON (`POST …/artifacts/{kind}`, from older workers), validated row by row. */
  async putChunk(
    operationId: string,
    kind: string,
    body: ArtifactChunkRequestDto,
  ): Promise<ArtifactChunkAckDto> {
    const k = await this.admitChunk(operationId, kind, body.lease_token);
    const expected = ARTIFACT_COLUMNS[k];
    if (body.columns.length !== expected.length || body.columns.some((c, i) => c !== expected[i])) {
      throw new BadRequestException(`columns must be ${expected.join(',')} for ${k}`);
    }
    body.rows.forEach((row, i) => {
      if (
        !Array.isArray(row) ||
        row.length !== expected.length ||
        !row.every((x) => typeof x === 'number' && Number.isFinite(x))
      ) {
        throw new BadRequestException(
          `rows.${i} must be an array of ${expected.length} finite numbers (${expected.join(', ')})`,
        );
      }
    });
    return this.storeChunk(
      operationId,
      k,
      body.lease_token,
      { ...body, row_count: body.rows.length },
      encodeArtifactRows(body.rows as number[][], expected.length),
    );
  }

  private async completed(operationId: string): Promise<OperationRecord> {
    const op = await this.getRecord(operationId);
    if (op.status !== OperationStatus.COMPLETED) {
      const why =
        op.status === OperationStatus.FAILED || op.status === OperationStatus.CANCELLED
          ? `it is ${op.status}${op.error_message ? `: ${op.error_message}` : ''}`
          : `it is ${op.status}; results are available once it has completed`;
      throw new BadRequestException(`Operation ${operationId} has no results: ${why}`);
    }
    return op;
  }

  private async completedBacktest(operationId: string): Promise<OperationRecord> {
    const op = await this.completed(operationId);
    if (op.operation_type !== OperationType.BACKTESTING) {
      throw new BadRequestException(
        `Operation ${operationId} is a ${op.operation_type}; only backtests have trades and an equity curve`,
      );
    }
    return op;
  }

  /** Rows of `kind` stored for the operation's final lease. */
  private async storedRows(op: OperationRecord, kind: ArtifactKind): Promise<number> {
    if (!op.lease_token) return legacyTrades(op, kind)?.length ?? 0;
    const chunks = await this.store.listChunks(op.operation_id, kind, op.lease_token);
    if (chunks.length === 0) return legacyTrades(op, kind)?.length ?? 0;
    return chunks.reduce((a, c) => a + c.row_count, 0);
  }

  /** `GET /operations/{id}/results`: the full result in the `{success, data}` envelope. */
  async results(operationId: string): Promise<OperationResultsResponseDto> {
    const op = await this.completed(operationId);
    const result = { ...(op.result ?? {}) } as Record<string, unknown>;
    const base = `/${API_PREFIX}/operations/${encodeURIComponent(operationId)}/results`;
    let links = {};
    if (op.operation_type === OperationType.BACKTESTING) {
      links = {
        trades: `${base}/trades`,
        trades_csv: `${base}/trades.csv`,
        equity_csv: `${base}/equity.csv`,
      };
      // What is actually stored is the truth: a summary never claims rows that are not there.
      for (const [field, kind] of [
        ['trades_summary', 'trades'],
        ['equity_summary', 'equity'],
      ] as const) {
        const summary = result[field] as { total?: number; stored?: number } | undefined;
        if (!summary || typeof summary.total !== 'number') continue;
        const stored = await this.storedRows(op, kind);
        if (stored !== summary.stored) {
          this.logger.error(
            `Operation ${operationId}: ${kind} summary says ${summary.stored} stored rows, the store has ${stored}`,
          );
          result[field] = { ...summary, stored, omitted: summary.total - stored };
        }
      }
    }
    return {
      success: true,
      data: {
        operation_id: op.operation_id,
        operation_type: op.operation_type,
        status: op.status,
        completed_at: op.completed_at ? op.completed_at.toISOString() : null,
        result: result as unknown as BacktestResultDto | TrainingResultDto,
        links,
      },
    };
  }

  /** Rows [from, to) of an artifact, decoded. */
  private async rows(
    op: OperationRecord,
    kind: ArtifactKind,
    from: number,
    to: number,
  ): Promise<number[][]> {
    if (to <= from) return [];
    const chunks = op.lease_token
      ? await this.store.readChunks(op.operation_id, kind, op.lease_token, from, to)
      : [];
    if (chunks.length === 0) return (legacyTrades(op, kind) ?? []).slice(from, to);
    const out: number[][] = [];
    for (const c of chunks) {
      const a = Math.max(from, c.first_row) - c.first_row;
      const b = Math.min(to, c.first_row + c.row_count) - c.first_row;
      for (const row of chunkRows(kind, c, a, b)) out.push(row);
    }
    return out;
  }

  /** `GET /operations/{id}/results/trades?limit&offset`. */
  async trades(operationId: string, query: ListTradesQueryDto): Promise<TradeListResponseDto> {
    const op = await this.completedBacktest(operationId);
    const limit = query.limit ?? TRADES_PAGE_DEFAULT;
    const offset = query.offset ?? 0;
    const total = await this.storedRows(op, 'trades');
    const rows = await this.rows(op, 'trades', offset, Math.min(total, offset + limit));
    return { success: true, data: rows.map(toTrade), total_count: total, offset, limit };
  }

  /** A CSV download of every stored row of `kind`, streamed chunk by chunk. */
  async csv(
    operationId: string,
    kind: ArtifactKind,
  ): Promise<{ stream: Readable; filename: string }> {
    const op = await this.completedBacktest(operationId);
    const lease = op.lease_token;
    const chunks = lease ? await this.store.listChunks(op.operation_id, kind, lease) : [];
    const store = this.store;
    const header = kind === 'trades' ? ARTIFACT_COLUMNS.trades.join(',') : 'time,equity';
    const legacy = chunks.length === 0 ? legacyTrades(op, kind) : null;
    async function* lines(): AsyncGenerator<string> {
      yield `${header}\n`;
      if (legacy) {
        yield csvRows(kind, legacy);
      }
      for (const meta of chunks) {
        if (meta.row_count === 0) continue;
        const got = await store.readChunks(
          op.operation_id,
          kind,
          lease as string,
          meta.first_row,
          meta.first_row + meta.row_count,
        );
        const c = got.find((x) => x.chunk_index === meta.chunk_index);
        if (c) yield csvRows(kind, chunkRows(kind, c));
      }
    }
    return { stream: Readable.from(lines()), filename: `${operationId}_${kind}.csv` };
  }
}

/**
 * Trades of a result completed before trades became artifacts (they were inline in the result,
 * at most the first 100): served as they are so old operations still answer.
 */
function legacyTrades(op: OperationRecord, kind: ArtifactKind): number[][] | null {
  const trades = op.result?.trades;
  if (kind !== 'trades' || !Array.isArray(trades)) return null;
  return (trades as Record<string, unknown>[]).map((t) => [
    Date.parse(String(t.entry_time)),
    Date.parse(String(t.exit_time)),
    Number(t.entry_price),
    Number(t.exit_price),
    Number(t.quantity),
    Number(t.pnl),
    Number(t.return_pct),
    typeof t.bars_held === 'number' ? t.bars_held : 0,
  ]);
}

function toTrade(r: number[]): TradeDto {
  return {
    entry_time: iso(r[0]),
    exit_time: iso(r[1]),
    entry_price: r[2],
    exit_price: r[3],
    quantity: r[4],
    pnl: r[5],
    return_pct: r[6],
    bars_held: r[7],
  };
}

/** Rows [from, to) of a stored chunk, in column order (binary form, or the JSON of older chunks). */
function chunkRows(kind: ArtifactKind, c: ArtifactChunk, from = 0, to = c.row_count): number[][] {
  const width = ARTIFACT_COLUMNS[kind].length;
  if (c.data === null) return (JSON.parse(c.rows) as number[][]).slice(from, to);
  // Checked when it was stored (decodeArtifactChunk): read as it is.
  return artifactRows(viewArtifactChunk(c.data, width), from, to);
}

function csvRows(kind: ArtifactKind, rows: readonly number[][]): string {
  let out = '';
  for (const r of rows) {
    out +=
      kind === 'trades'
        ? `${iso(r[0])},${iso(r[1])},${r[2]},${r[3]},${r[4]},${r[5]},${r[6]},${r[7]}\n`
        : `${iso(r[0])},${r[1]}\n`;
  }
  return out;
}
