import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGLITE_LOCK_FILE } from '../../src/persistence/pglite-lock';
import { PgliteOperationsRepository } from '../../src/persistence/pglite-operations.repository';
import {
  PGLITE_TIMEOUT_MS,
  checkAttemptsMigration,
  describeRepositoryContract,
} from './repository.contract';

// A data directory that does not exist yet: the repository must create it.
const base = mkdtempSync(join(tmpdir(), 'ktrdr-pglite-'));
const dir = join(base, 'nested', 'db');

describeRepositoryContract('PGlite file-backed', {
  persistent: true,
  shared: false,
  create: (now) => new PgliteOperationsRepository({ dir, now }),
  teardown: async () => rmSync(base, { recursive: true, force: true }),
});

describe('PGlite migrations of a store written by an older backend', () => {
  jest.setTimeout(PGLITE_TIMEOUT_MS);
  const root = mkdtempSync(join(tmpdir(), 'ktrdr-pglite-upgrade-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('schema 3 → 4: existing operations get an empty attempt history; claims record attempts', () =>
    checkAttemptsMigration(
      (migrations) => new PgliteOperationsRepository({ dir: join(root, 'db'), migrations }),
    ));
});

describe('PGlite data directory lock (one process per directory)', () => {
  jest.setTimeout(PGLITE_TIMEOUT_MS);
  const root = mkdtempSync(join(tmpdir(), 'ktrdr-pglite-lock-'));
  const lockDir = join(root, 'db');
  const lockFile = join(lockDir, PGLITE_LOCK_FILE);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a second repository on an open directory, then allows it after close', async () => {
    const first = new PgliteOperationsRepository({ dir: lockDir });
    await first.init();
    expect(existsSync(lockFile)).toBe(true);
    const second = new PgliteOperationsRepository({ dir: lockDir });
    await expect(second.init()).rejects.toThrow(
      /PGlite data directory .* \(KTRDR_DB_DIR\) is in use by another repository in this process.*KTRDR_DB_DRIVER=postgres/,
    );
    await first.close();
    expect(existsSync(lockFile)).toBe(false);
  });

  it('refuses a directory locked by another live process on this host', async () => {
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(lockFile, JSON.stringify({ pid: process.ppid, host: hostname() }));
    const repo = new PgliteOperationsRepository({ dir: lockDir });
    await expect(repo.init()).rejects.toThrow(new RegExp(`in use by process ${process.ppid}`));
    rmSync(lockFile);
  });

  it('takes over the lock of a process that no longer runs', async () => {
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(lockFile, JSON.stringify({ pid: deadPid, host: hostname() }));
    const repo = new PgliteOperationsRepository({ dir: lockDir });
    await repo.init();
    await repo.ping();
    await repo.close();
    expect(existsSync(lockFile)).toBe(false);
  });
});
