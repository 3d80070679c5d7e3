import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointType, ID_PATTERN } from '@ktrdr/contracts';
import type { CheckpointMeta } from './types';

/** A checkpoint read back from disk. */
export interface StoredCheckpoint {
  meta: CheckpointMeta;
  state: unknown;
}

const CURRENT = 'current';
const STATE_FILE = 'state.json';
const META_FILE = 'metadata.json';

/**
 * Checkpoints under `{dir}/{operation_id}/current/{state.json, metadata.json}`.
 *
 * Writes are atomic: both files go to a temp directory next to `current`, which is then renamed
 * into place (the previous `current` is moved aside first and removed after), so a reader never
 * sees a half-written checkpoint. If a crash happens between the two renames, `read` falls back
 * to the moved-aside copy.
 */
export class CheckpointStore {
  constructor(
    readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  operationDir(operationId: string): string {
    if (!ID_PATTERN.test(operationId)) throw new Error(`invalid operation id ${operationId}`);
    return join(this.dir, operationId);
  }

  async write(
    operationId: string,
    type: CheckpointType,
    unit: number,
    state: unknown,
  ): Promise<CheckpointMeta> {
    const opDir = this.operationDir(operationId);
    await mkdir(opDir, { recursive: true });
    const meta: CheckpointMeta = { type, created_at: new Date(this.now()).toISOString(), unit };
    const suffix = randomBytes(4).toString('hex');
    const tmp = join(opDir, `.tmp-${suffix}`);
    const old = join(opDir, `.old-${suffix}`);
    const current = join(opDir, CURRENT);
    try {
      await mkdir(tmp);
      await writeFile(join(tmp, STATE_FILE), JSON.stringify(state));
      await writeFile(join(tmp, META_FILE), JSON.stringify(meta, null, 2) + '\n');
      let movedAside = false;
      try {
        await rename(current, old);
        movedAside = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      await rename(tmp, current);
      if (movedAside) await rm(old, { recursive: true, force: true });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return meta;
  }

  /** The latest checkpoint of an operation, or null when there is none (or it is unreadable). */
  async read(operationId: string): Promise<StoredCheckpoint | null> {
    const opDir = this.operationDir(operationId);
    const candidates = [join(opDir, CURRENT)];
    try {
      for (const name of await readdir(opDir)) {
        if (name.startsWith('.old-')) candidates.push(join(opDir, name));
      }
    } catch {
      return null;
    }
    for (const dir of candidates) {
      try {
        const meta = JSON.parse(await readFile(join(dir, META_FILE), 'utf8')) as CheckpointMeta;
        const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as unknown;
        return { meta, state };
      } catch {
        // try the next candidate
      }
    }
    return null;
  }

  async remove(operationId: string): Promise<void> {
    await rm(this.operationDir(operationId), { recursive: true, force: true });
  }

  /**
   * Removes operation directories whose newest file is older than `maxAgeMs`. Returns the ids
   * removed. Directories in use (`keep`) are never removed.
   */
  async cleanup(maxAgeMs: number, keep: ReadonlySet<string> = new Set()): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch {
      return [];
    }
    const cutoff = this.now() - maxAgeMs;
    const removed: string[] = [];
    for (const name of entries) {
      if (keep.has(name) || !ID_PATTERN.test(name)) continue;
      const path = join(this.dir, name);
      try {
        const info = await stat(path);
        if (!info.isDirectory()) continue;
        const newest = await newestMtime(path);
        if (newest < cutoff) {
          await rm(path, { recursive: true, force: true });
          removed.push(name);
        }
      } catch {
        // vanished or unreadable: leave it
      }
    }
    return removed;
  }
}

async function newestMtime(path: string): Promise<number> {
  const info = await stat(path);
  let newest = info.mtimeMs;
  if (info.isDirectory()) {
    for (const name of await readdir(path)) {
      newest = Math.max(newest, await newestMtime(join(path, name)));
    }
  }
  return newest;
}
