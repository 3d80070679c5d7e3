import { PostgresExecutor } from './postgres-executor';
import type { PostgresConnectionOptions } from './postgres-executor';
import { SqlOperationsRepository } from './sql-operations.repository';
import type { SqlOperationsRepositoryOptions } from './sql-operations.repository';

/** PostgreSQL driver (`KTRDR_DB_DRIVER=postgres`) through a `pg` connection pool. */
export class PostgresOperationsRepository extends SqlOperationsRepository {
  constructor(options: PostgresConnectionOptions & SqlOperationsRepositoryOptions) {
    super(new PostgresExecutor(options, options.logger), options);
  }
}
