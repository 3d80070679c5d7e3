import {
  artifactRows,
  decodeArtifactChunk,
  encodeArtifactChunk,
  encodeArtifactRows,
  viewArtifactChunk,
} from '../src/artifact-chunk';

describe('binary artifact chunks', () => {
  const time = new Float64Array([1704067200000, 1704070800000, 1704074400000, 1704078000000]);
  const equity = [100000, 100125.5, 99980.25, -0.1 + 0.2];

  it('round-trips rows [from, to) of typed and plain columns bit for bit, both encoders alike', () => {
    const bytes = encodeArtifactChunk([time, equity], 1, 4);
    expect(bytes.byteLength).toBe(3 * 2 * 8);
    const rows = artifactRows(decodeArtifactChunk(bytes, 'equity'));
    expect(rows).toEqual([1, 2, 3].map((i) => [time[i], equity[i]]));
    expect(Buffer.from(encodeArtifactRows(rows, 2)).equals(Buffer.from(bytes))).toBe(true);
    expect(artifactRows(decodeArtifactChunk(bytes, 'equity'), 1, 2)).toEqual([rows[1]]);
  });

  it('reads bytes at an unaligned offset (a copy) the same as aligned ones', () => {
    const bytes = encodeArtifactChunk([time, equity], 0, 4);
    const padded = new Uint8Array(bytes.byteLength + 3);
    padded.set(bytes, 3);
    const unaligned = padded.subarray(3);
    expect(artifactRows(viewArtifactChunk(unaligned, 2))).toEqual(
      artifactRows(viewArtifactChunk(bytes, 2)),
    );
  });

  it('names what is wrong: partial rows, a value that is not finite', () => {
    const bytes = encodeArtifactChunk([time, equity], 0, 4);
    expect(() => decodeArtifactChunk(bytes.subarray(0, 20), 'equity')).toThrow(
      /^body must be whole rows of 2 little-endian float64 values \(16 bytes each, time, equity\); got 20 bytes$/,
    );
    const bad = encodeArtifactChunk([time, [1, 2, Infinity, 4]], 0, 4);
    expect(() => decodeArtifactChunk(bad, 'equity')).toThrow(
      'body has a value that is not a finite number: row 2, equity',
    );
  });
});
