import { getDatabaseSettings } from '@ktrdr/config';
import { PostgresOperationsRepository } from './postgres-operations.repository';
import { SqliteOperationsRepository } from './sqlite-operations.repository';
import type { SqlOperationsRepository } from './sql-operations.repository';
import type { SqlOperationsRepositoryOptions } from './sql-operations.repository';

export type DatabaseSettingsValues = ReturnType<typeof getDatabaseSettings>;

/**
 * The repository the settings ask for (not yet initialised: call `init()`):
 * `KTRDR_DB_DRIVER=sqlite` (default) → SQLite in `KTRDR_DB_DIR/ktrdr.sqlite` (`memory://` = in memory);
 * `KTRDR_DB_DRIVER=postgres` → PostgreSQL at `KTRDR_DB_HOST:KTRDR_DB_PORT`, database `KTRDR_DB_NAME`.
 */
export function createOperationsRepository(
  settings: DatabaseSettingsValues = getDatabaseSettings(),
  options: SqlOperationsRepositoryOptions = {},
): SqlOperationsRepository {
  switch (settings.driver) {
    case 'postgres':
      return new PostgresOperationsRepository({
        host: settings.host,
        port: settings.port,
        database: settings.name,
        user: settings.user,
        password: settings.password,
        ...options,
      });
    case 'sqlite':
      return new SqliteOperationsRepository({ dir: settings.dir, ...options });
    default: {
      const driver: never = settings.driver;
      throw new Error(`KTRDR_DB_DRIVER must be sqlite or postgres (got '${String(driver)}')`);
    }
  }
}
