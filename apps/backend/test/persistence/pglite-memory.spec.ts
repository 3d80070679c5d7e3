import { PGLITE_MEMORY_DIR } from '../../src/persistence/pglite-executor';
import { PgliteOperationsRepository } from '../../src/persistence/pglite-operations.repository';
import { describeRepositoryContract } from './repository.contract';

describeRepositoryContract('PGlite in memory', {
  persistent: false,
  shared: false,
  create: (now) => new PgliteOperationsRepository({ dir: PGLITE_MEMORY_DIR, now }),
});
