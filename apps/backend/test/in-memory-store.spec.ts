import { describeRepositoryContract } from './persistence/repository.contract';
import { InMemoryOperationsRepository } from './support/in-memory-operations.repository';

// The store the service tests run on keeps the same contract as the SQL drivers (the migration
// tests excepted: it has no schema).
describeRepositoryContract('in-memory test store', {
  persistent: false,
  shared: false,
  sql: false,
  create: (now) => new InMemoryOperationsRepository(now),
  reset: async (repo) => (repo as InMemoryOperationsRepository).clear(),
});
