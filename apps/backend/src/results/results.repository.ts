import type { ArtifactKind } from '@ktrdr/contracts';
import type { OperationsRepository } from '../persistence/operations.repository';
import { SqlOperationsRepository } from '../persistence/sql-operations.repository';
import type { SqlExecutor } from '../persistence/sql-executor';

export interface ChunkMeta {
  chunk_index: number;
  first_row: number;
  row_count: number;
  total_rows: number;
}

/** One stored chunk of an artifact, its numbers still encoded. */
export interface ArtifactChunk extends ChunkMeta {
  /** The numbers in the binary chunk form (contracts' artifact-chunk.ts); null for older chunks. */
  data: Uint8Array | null;
  /** The JSON array of rows of a chunk stored before the binary form (migration 5); '' since. */
  rows: string;
}

export interface NewArtifactChunk extends ChunkMeta {
  operation_id: string;
  kind: ArtifactKind;
  lease_token: string;
  /** The numbers in the binary chunk form. */
  data: Uint8Array;
}

/**
 * Where result artifacts live (table `operation_artifacts`, migration 3, on the operations
 * store's connection; rows go with their operation when it is purged). Chunks are keyed by
 * operation, kind and chunk index and belong to one lease: a chunk from a newer dispatch replaces
 * the older dispatch's chunks.
 */
export interface ResultsRepository {
  /**
   * Stores (or replaces) one chunk for `lease_token`, first deleting chunks of this operation
   * that other leases uploaded. Returns the rows stored for this operation, kind and lease.
   */
  putChunk(chunk: NewArtifactChunk): Promise<number>;
  /** Chunks (without their rows) in row order. */
  listChunks(operationId: string, kind: ArtifactKind, leaseToken: string): Promise<ChunkMeta[]>;
  /** Chunks overlapping rows [from, to), with their rows, in row order. */
  readChunks(
    operationId: string,
    kind: ArtifactKind,
    leaseToken: string,
    from: number,
    to: number,
  ): Promise<ArtifactChunk[]>;
}

export const RESULTS_REPOSITORY = Symbol('RESULTS_REPOSITORY');

/** The SQL implementation (the same statements on every driver). */
export class SqlResultsRepository implements ResultsRepository {
  constructor(private readonly executor: SqlExecutor) {}

  async putChunk(c: NewArtifactChunk): Promise<number> {
    return this.executor.transaction(async (tx) => {
      await tx.query(
        'DELETE FROM operation_artifacts WHERE operation_id = $1::text AND lease_token <> $2::text',
        [c.operation_id, c.lease_token],
      );
      await tx.query(
        `INSERT INTO operation_artifacts
           (operation_id, kind, chunk_index, lease_token, first_row, row_count, total_rows, rows,
            data, created_at)
         VALUES ($1::text, $2::text, $3::int, $4::text, $5::bigint, $6::int, $7::bigint, '',
                 $8::bytea, $9::timestamptz)
         ON CONFLICT (operation_id, kind, chunk_index) DO UPDATE
           SET lease_token = EXCLUDED.lease_token, first_row = EXCLUDED.first_row,
               row_count = EXCLUDED.row_count, total_rows = EXCLUDED.total_rows,
               rows = EXCLUDED.rows, data = EXCLUDED.data, created_at = EXCLUDED.created_at`,
        [
          c.operation_id,
          c.kind,
          c.chunk_index,
          c.lease_token,
          c.first_row,
          c.row_count,
          c.total_rows,
          // node-postgres sends a Buffer as bytea; libsql binds it as a blob.
          Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength),
          new Date().toISOString(),
        ],
      );
      const { rows } = await tx.query<{ stored: unknown }>(
        `SELECT COALESCE(sum(row_count), 0)::bigint AS stored FROM operation_artifacts
          WHERE operation_id = $1::text AND kind = $2::text AND lease_token = $3::text`,
        [c.operation_id, c.kind, c.lease_token],
      );
      return Number(rows[0]?.stored ?? 0);
    });
  }

  async listChunks(
    operationId: string,
    kind: ArtifactKind,
    leaseToken: string,
  ): Promise<ChunkMeta[]> {
    const { rows } = await this.executor.query(
      `SELECT chunk_index, first_row, row_count, total_rows FROM operation_artifacts
        WHERE operation_id = $1::text AND kind = $2::text AND lease_token = $3::text
        ORDER BY first_row, chunk_index`,
      [operationId, kind, leaseToken],
    );
    return rows.map((r) => ({
      chunk_index: Number(r.chunk_index),
      first_row: Number(r.first_row),
      row_count: Number(r.row_count),
      total_rows: Number(r.total_rows),
    }));
  }

  async readChunks(
    operationId: string,
    kind: ArtifactKind,
    leaseToken: string,
    from: number,
    to: number,
  ): Promise<ArtifactChunk[]> {
    const { rows } = await this.executor.query(
      `SELECT chunk_index, first_row, row_count, total_rows, rows, data FROM operation_artifacts
        WHERE operation_id = $1::text AND kind = $2::text AND lease_token = $3::text
          AND first_row < $5::bigint AND first_row + row_count > $4::bigint
        ORDER BY first_row, chunk_index`,
      [operationId, kind, leaseToken, from, to],
    );
    return rows.map((r) => ({
      chunk_index: Number(r.chunk_index),
      first_row: Number(r.first_row),
      row_count: Number(r.row_count),
      total_rows: Number(r.total_rows),
      data: r.data == null ? null : toBytes(r.data),
      rows: String(r.rows),
    }));
  }
}

/** A blob as the driver returns it (Buffer from node-postgres and libsql, ArrayBuffer otherwise). */
function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new Error(`operation_artifacts.data is not binary (${typeof value})`);
}

/** The results store that goes with an operations store: the same database, on its connection. */
export function resultsRepositoryFor(operations: OperationsRepository): ResultsRepository {
  if (operations instanceof SqlOperationsRepository) {
    return new SqlResultsRepository(operations.executor);
  }
  throw new Error(
    'Result artifacts live in the operations database: the operations store must be a SqlOperationsRepository',
  );
}
