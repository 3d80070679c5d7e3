import { Test } from '@nestjs/testing';
import { withEnv } from '@ktrdr/config';
import { OperationType } from '@ktrdr/contracts';
import { OPERATIONS_REPOSITORY } from '../../src/persistence/operations.repository';
import type { OperationsRepository } from '../../src/persistence/operations.repository';
import { PersistenceModule } from '../../src/persistence/persistence.module';
import { SqliteOperationsRepository } from '../../src/persistence/sqlite-operations.repository';
import { PostgresOperationsRepository } from '../../src/persistence/postgres-operations.repository';
import { createOperationsRepository } from '../../src/persistence/repository.factory';
import type { DatabaseSettingsValues } from '../../src/persistence/repository.factory';
import { captureLogger, closedPort } from '../support/persistence-helpers';
import { STORE_TIMEOUT_MS } from '../support/repository.contract';
import { storedParams } from '../support/params';

jest.setTimeout(STORE_TIMEOUT_MS);

const base: DatabaseSettingsValues = {
  driver: 'sqlite',
  dir: 'memory://',
  host: 'localhost',
  port: 5432,
  name: 'ktrdr',
  user: 'ktrdr',
  password: 'sup3r-secret-pw',
};

describe('createOperationsRepository', () => {
  it('builds the embedded driver in memory for memory://', () => {
    const repo = createOperationsRepository(base);
    expect(repo).toBeInstanceOf(SqliteOperationsRepository);
    expect(repo.description).toBe('SQLite in memory');
  });

  it('builds the file-backed embedded driver with an absolute directory', () => {
    const repo = createOperationsRepository({ ...base, dir: 'relative/db' });
    expect(repo.description).toMatch(/^SQLite at \/.*relative\/db\/ktrdr\.sqlite$/);
  });

  it('builds the PostgreSQL driver from host/port/name/user; the description has no password', () => {
    const repo = createOperationsRepository({
      ...base,
      driver: 'postgres',
      host: 'db.internal',
      port: 6543,
    });
    expect(repo).toBeInstanceOf(PostgresOperationsRepository);
    expect(repo.description).toBe('PostgreSQL at ktrdr@db.internal:6543/ktrdr');
    expect(repo.description).not.toContain('sup3r');
  });

  it('reads getDatabaseSettings() by default', () => {
    const repo = withEnv(
      {
        KTRDR_DB_DRIVER: 'postgres',
        KTRDR_DB_HOST: 'pg.example',
        KTRDR_DB_NAME: 'ops',
        KTRDR_DB_PASSWORD: 'x9',
      },
      () => createOperationsRepository(),
    );
    expect(repo.description).toBe('PostgreSQL at ktrdr@pg.example:5432/ops');
  });
});

describe('PostgreSQL start-up errors', () => {
  it('names host:port and KTRDR_DB_HOST/KTRDR_DB_PORT when nothing listens, without the password', async () => {
    const port = await closedPort();
    const logger = captureLogger();
    const repo = createOperationsRepository(
      { ...base, driver: 'postgres', host: '127.0.0.1', port },
      { logger },
    );
    const failure = await repo.init().then(
      () => new Error('init() should have failed'),
      (err: unknown) => err as Error,
    );
    expect(failure.message).toMatch(
      new RegExp(
        `Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port} \\(check KTRDR_DB_HOST and KTRDR_DB_PORT.*ECONNREFUSED`,
      ),
    );
    expect(failure.message).not.toContain('sup3r');
    expect(logger.lines.join('\n')).not.toContain('sup3r');
    await repo.close();
  });

  it('explains an invalid connection string', () => {
    expect(() => new PostgresOperationsRepository({ connectionString: 'not a url' })).toThrow(
      /Invalid PostgreSQL connection string/,
    );
    expect(
      () =>
        new PostgresOperationsRepository({
          connectionString: 'postgres://h/db',
          schema: 'x; DROP',
        }),
    ).toThrow(/Invalid PostgreSQL schema name/);
  });
});

describe('PersistenceModule', () => {
  it('provides an initialised repository and closes it on application shutdown', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [PersistenceModule.forRoot({ settings: base })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const repo = app.get<OperationsRepository>(OPERATIONS_REPOSITORY);
    const created = await repo.create({
      operation_id: 'op_m',
      operation_type: OperationType.TRAINING,
      params: storedParams({}),
    });
    expect(created.status).toBe('pending');
    await repo.ping();
    await app.close();
    await expect(repo.get('op_m')).rejects.toThrow(/closed/);
  });

  it('uses the configured store when imported without options', async () => {
    const moduleRef = await withEnv({ KTRDR_DB_DIR: 'memory://' }, () =>
      Test.createTestingModule({ imports: [PersistenceModule] }).compile(),
    );
    const repo = moduleRef.get<OperationsRepository>(OPERATIONS_REPOSITORY);
    expect((repo as SqliteOperationsRepository).description).toBe('SQLite in memory');
    expect((await repo.list({ limit: 1, offset: 0 })).total_count).toBe(0);
    await moduleRef.close();
  });

  it('fails the application start with the reason when PostgreSQL is unreachable', async () => {
    const port = await closedPort();
    await expect(
      Test.createTestingModule({
        imports: [
          PersistenceModule.forRoot({
            settings: { ...base, driver: 'postgres', host: '127.0.0.1', port },
          }),
        ],
      }).compile(),
    ).rejects.toThrow(
      new RegExp(`Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}.*KTRDR_DB_HOST`),
    );
  });

  it('accepts a ready-made repository and leaves it open when told to', async () => {
    const own = new SqliteOperationsRepository({ dir: 'memory://' });
    const moduleRef = await Test.createTestingModule({
      imports: [PersistenceModule.forRoot({ repository: own, closeOnShutdown: false })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    expect(app.get(OPERATIONS_REPOSITORY)).toBe(own);
    await app.close();
    await own.ping(); // still open
    await own.close();
  });
});
