import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteOperationsRepository } from '../pglite-operations.repository';
import { describeRepositoryContract } from './repository.contract';

// A data directory that does not exist yet: the repository must create it.
const base = mkdtempSync(join(tmpdir(), 'ktrdr-pglite-'));
const dir = join(base, 'nested', 'db');

describeRepositoryContract('PGlite file-backed', {
  persistent: true,
  shared: false,
  create: (now) => new PgliteOperationsRepository({ dir, now }),
  teardown: async () => rmSync(base, { recursive: true, force: true }),
});
