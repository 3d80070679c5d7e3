import { PgliteExecutor } from './pglite-executor';
import type { PgliteExecutorOptions } from './pglite-executor';
import { SqlOperationsRepository } from './sql-operations.repository';
import type { SqlOperationsRepositoryOptions } from './sql-operations.repository';

/**
 * Embedded driver (default): PGlite, file-backed in `dir` (created when missing) or in memory when
 * `dir` is `memory://`. One process at a time may open a given directory.
 */
export class PgliteOperationsRepository extends SqlOperationsRepository {
  constructor(options: PgliteExecutorOptions & SqlOperationsRepositoryOptions) {
    super(new PgliteExecutor({ dir: options.dir, logger: options.logger }), options);
  }
}
