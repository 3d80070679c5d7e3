import { SQLITE_MEMORY_DIR } from '../../src/persistence/sqlite-executor';
import { SqliteOperationsRepository } from '../../src/persistence/sqlite-operations.repository';
import { describeRepositoryContract } from '../support/repository.contract';

describeRepositoryContract('SQLite in memory', {
  persistent: false,
  shared: false,
  create: (clock) => new SqliteOperationsRepository({ dir: SQLITE_MEMORY_DIR, clock }),
});
