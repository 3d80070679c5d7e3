import { SqliteExecutor } from './sqlite-executor';
import type { SqliteExecutorOptions } from './sqlite-executor';
import { SqlOperationsRepository } from './sql-operations.repository';
import type { SqlOperationsRepositoryOptions } from './sql-operations.repository';

/**
 * Embedded driver (default): SQLite in `dir/ktrdr.sqlite` (the directory is created when
 * missing), or in memory when `dir` is `memory://`.
 */
export class SqliteOperationsRepository extends SqlOperationsRepository {
  constructor(options: SqliteExecutorOptions & SqlOperationsRepositoryOptions) {
    super(new SqliteExecutor({ dir: options.dir, logger: options.logger }), options);
  }
}
