export * from './operations.repository';
export * from './sql-executor';
export { MIGRATIONS, applyMigrations, MIGRATION_LOCK_KEY } from './migrations';
export type { Migration, MigrationOutcome } from './migrations';
export { PostgresExecutor } from './postgres-executor';
export type { PostgresConnectionOptions } from './postgres-executor';
export {
  SqlOperationsRepository,
  DuplicateOperationError,
  InvalidOperationInputError,
  rowToRecord,
} from './sql-operations.repository';
export type { SqlOperationsRepositoryOptions } from './sql-operations.repository';
export { SqliteExecutor, SQLITE_MEMORY_DIR, SQLITE_FILE } from './sqlite-executor';
export type { SqliteExecutorOptions } from './sqlite-executor';
export { SqliteOperationsRepository } from './sqlite-operations.repository';
export { PostgresOperationsRepository } from './postgres-operations.repository';
export { createOperationsRepository } from './repository.factory';
export type { DatabaseSettingsValues } from './repository.factory';
export { PersistenceModule, PersistenceLifecycle } from './persistence.module';
export type { PersistenceModuleOptions } from './persistence.module';
