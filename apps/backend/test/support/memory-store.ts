import type { Clock } from '@ktrdr/config';
import { SQLITE_MEMORY_DIR } from '../../src/persistence/sqlite-executor';
import { SqliteOperationsRepository } from '../../src/persistence/sqlite-operations.repository';

/**
 * The store the service tests run on: the real embedded driver, in memory (it opens in a few
 * milliseconds, on first use), so those tests exercise the same SQL as production.
 */
export function memoryStore(clock?: Clock): SqliteOperationsRepository {
  return new SqliteOperationsRepository({ dir: SQLITE_MEMORY_DIR, ...(clock ? { clock } : {}) });
}
