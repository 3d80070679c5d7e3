import type { Bars } from './bars';

/** Bytes held by the columns of `bars` (whole buffers: a view keeps its buffer alive). */
export function barsBytes(bars: Bars): number {
  const buffers = new Set<ArrayBufferLike>();
  for (const col of [bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume]) {
    buffers.add(col.buffer);
  }
  let bytes = 0;
  for (const b of buffers) bytes += b.byteLength;
  return bytes;
}

/**
 * Loaded bars kept between jobs, bounded by the bytes of their columns; the least recently used
 * entry goes first. Keys are built by the loader (see `loadBars`): a CSV file by path, inode,
 * size and mtime, a SYNTH series by symbol, timeframe and range. The bars handed out are shared:
 * callers must not write to them (the engines only read).
 */
export class BarsCache {
  private readonly entries = new Map<string, { bars: Bars; bytes: number }>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get(key: string): Bars | undefined {
    const e = this.entries.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.bars;
  }

  /** Keeps `bars` under `key` unless they alone exceed the budget; evicts the oldest to fit. */
  set(key: string, bars: Bars): void {
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.bytes;
    }
    const bytes = barsBytes(bars);
    if (bytes > this.maxBytes) return;
    for (const [k, e] of this.entries) {
      if (this.bytes + bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.bytes;
    }
    this.entries.set(key, { bars, bytes });
    this.bytes += bytes;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
