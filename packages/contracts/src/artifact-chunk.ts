/**
 * The binary form of an artifact chunk (`PUT /operations/{id}/artifacts/{kind}/chunks/{index}`):
 * the chunk's numbers as little-endian IEEE-754 doubles, column by column (all of the first
 * column's rows, then all of the second's, …, in ARTIFACT_COLUMNS[kind] order). The worker copies
 * its typed arrays into the body and the backend stores the same bytes: no number is printed or
 * parsed on the way (JSON cost ~0.4 s per million equity rows on each side).
 */
import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsString, Max, MaxLength, Min } from 'class-validator';
import { ARTIFACT_COLUMNS, MAX_ARTIFACT_CHUNK_ROWS, type ArtifactKind } from './results.dto';

/** Content type of a binary artifact chunk. */
export const ARTIFACT_CHUNK_MEDIA_TYPE = 'application/vnd.ktrdr.artifact-chunk';

/** Header carrying the lease a binary chunk belongs to (the JSON form has `lease_token` in its body). */
export const LEASE_TOKEN_HEADER = 'x-ktrdr-lease-token';

const BYTES_PER_VALUE = 8;

/** Largest binary chunk body: MAX_ARTIFACT_CHUNK_ROWS rows of the widest artifact. */
export const MAX_ARTIFACT_CHUNK_BYTES =
  MAX_ARTIFACT_CHUNK_ROWS *
  Math.max(...Object.values(ARTIFACT_COLUMNS).map((c) => c.length)) *
  BYTES_PER_VALUE;

/** Query of the binary chunk upload (the chunk index is in the path, the lease in a header). */
export class ArtifactChunkQueryDto {
  @ApiProperty({ minimum: 1, description: 'Chunks of this artifact in all', example: 21 })
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  chunk_count!: number;

  @ApiProperty({ minimum: 0, description: 'Row number of the first row of this chunk', example: 0 })
  @Type(() => Number)
  @IsInt()
  @Min(0)
  first_row!: number;

  @ApiProperty({ minimum: 0, description: 'Rows of this artifact in all', example: 1_000_000 })
  @Type(() => Number)
  @IsInt()
  @Min(0)
  total_rows!: number;

  @ApiProperty({
    description:
      'The column names, comma-separated: exactly ARTIFACT_COLUMNS[kind] (the order of the body)',
    example: ARTIFACT_COLUMNS.equity.join(','),
  })
  @IsString()
  @MaxLength(1000)
  columns!: string;
}

/** What a binary chunk upload says about its chunk (path, query and lease header together). */
export interface ArtifactChunkMeta {
  lease_token: string;
  chunk_index: number;
  chunk_count: number;
  first_row: number;
  total_rows: number;
  columns: readonly string[];
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndian(): void {
  // Every platform Node and the images run on is little-endian; a typed-array view is only the
  // wire's byte order there.
  if (!LITTLE_ENDIAN) throw new Error('artifact chunks need a little-endian platform');
}

/**
 * Rows [from, to) of `columns` (one array per column, equal lengths) as a chunk body: a copy of
 * each Float64Array's range, other arrays converted value by value.
 */
export function encodeArtifactChunk(
  columns: readonly ArrayLike<number>[],
  from: number,
  to: number,
): Uint8Array {
  requireLittleEndian();
  const rows = Math.max(0, to - from);
  const out = new Float64Array(rows * columns.length);
  columns.forEach((col, k) => {
    if (col instanceof Float64Array) out.set(col.subarray(from, from + rows), k * rows);
    else for (let i = 0; i < rows; i++) out[k * rows + i] = col[from + i]!;
  });
  return new Uint8Array(out.buffer);
}

/** A chunk's rows (JSON form) as a chunk body: the one storage form of every chunk. */
export function encodeArtifactRows(
  rows: readonly (readonly number[])[],
  width: number,
): Uint8Array {
  requireLittleEndian();
  const n = rows.length;
  const out = new Float64Array(n * width);
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    for (let k = 0; k < width; k++) out[k * n + i] = row[k]!;
  }
  return new Uint8Array(out.buffer);
}

/** A chunk's values: `rows` × `width`, value (row i, column k) at `values[k * rows + i]`. */
export interface ArtifactChunkValues {
  rows: number;
  width: number;
  values: Float64Array;
}

/**
 * The values of a chunk body of `width` columns, without checks (a chunk the backend stored after
 * `decodeArtifactChunk` accepted it): a view when the bytes are 8-byte aligned, else a copy. A
 * trailing partial row is ignored.
 */
export function viewArtifactChunk(bytes: Uint8Array, width: number): ArtifactChunkValues {
  requireLittleEndian();
  const rows = Math.floor(bytes.byteLength / (width * BYTES_PER_VALUE));
  const values =
    bytes.byteOffset % BYTES_PER_VALUE === 0
      ? new Float64Array(bytes.buffer, bytes.byteOffset, rows * width)
      : new Float64Array(bytes.slice(0, rows * width * BYTES_PER_VALUE).buffer);
  return { rows, width, values };
}

/**
 * Reads a chunk body of `kind` as it arrives. Throws an Error whose message names what is wrong
 * (`body …`): a length that is not whole rows, more than MAX_ARTIFACT_CHUNK_ROWS rows, or a value
 * that is not finite.
 */
export function decodeArtifactChunk(bytes: Uint8Array, kind: ArtifactKind): ArtifactChunkValues {
  const width = ARTIFACT_COLUMNS[kind].length;
  const rowBytes = width * BYTES_PER_VALUE;
  if (bytes.byteLength % rowBytes !== 0) {
    throw new Error(
      `body must be whole rows of ${width} little-endian float64 values (${rowBytes} bytes each, ${ARTIFACT_COLUMNS[kind].join(', ')}); got ${bytes.byteLength} bytes`,
    );
  }
  const chunk = viewArtifactChunk(bytes, width);
  if (chunk.rows > MAX_ARTIFACT_CHUNK_ROWS) {
    throw new Error(`body must hold at most ${MAX_ARTIFACT_CHUNK_ROWS} rows; got ${chunk.rows}`);
  }
  const { values, rows } = chunk;
  for (let j = 0; j < values.length; j++) {
    if (!Number.isFinite(values[j])) {
      const column = ARTIFACT_COLUMNS[kind][Math.floor(j / rows)];
      throw new Error(`body has a value that is not a finite number: row ${j % rows}, ${column}`);
    }
  }
  return chunk;
}

/** Rows [from, to) of a chunk, as arrays in column order. */
export function artifactRows(chunk: ArtifactChunkValues, from = 0, to = chunk.rows): number[][] {
  const { rows, width, values } = chunk;
  const out: number[][] = [];
  for (let i = Math.max(0, from); i < Math.min(to, rows); i++) {
    const row = new Array<number>(width);
    for (let k = 0; k < width; k++) row[k] = values[k * rows + i]!;
    out.push(row);
  }
  return out;
}
