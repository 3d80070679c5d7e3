// What the backend benches share: the built backend's modules, credentials of their own (never used
// elsewhere), settings that carry them, and the app started in-process on an ephemeral loopback port.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { root } from './lib.mjs';

export const backendDir = path.join(root, 'apps/backend');
/** `require` from the backend package (Nest and friends are its dependencies, not the root's). */
export const backendRequire = createRequire(path.join(backendDir, 'package.json'));

export const BENCH_TOKEN = 'bench-registration-token-0123456789abcdef';
export const BENCH_KEY = 'bench-operate-key-0123456789abcdef0123456';
/** Headers of a client with an operate key that is also a worker (registration token). */
export const AUTH = { authorization: `Bearer ${BENCH_KEY}`, 'x-ktrdr-worker-token': BENCH_TOKEN };

/** The built backend's modules; exits 1 naming the build when it has not been built. */
export function loadBackend() {
  const dist = (file) => backendRequire(path.join(backendDir, 'dist', file));
  try {
    backendRequire('reflect-metadata');
    return {
      nest: backendRequire('@nestjs/core'),
      AppModule: dist('app.module.js').AppModule,
      configureApp: dist('app.setup.js').configureApp,
      DEFAULT_BACKEND_SETTINGS: dist('config/defaults.js').DEFAULT_BACKEND_SETTINGS,
      SqliteOperationsRepository: dist('persistence/sqlite-operations.repository.js')
        .SqliteOperationsRepository,
      PostgresOperationsRepository: dist('persistence/postgres-operations.repository.js')
        .PostgresOperationsRepository,
      WorkerRegistry: dist('workers/worker-registry.js').WorkerRegistry,
      HealthMonitorService: dist('workers/health-monitor.service.js').HealthMonitorService,
    };
  } catch (err) {
    console.error(
      `Cannot load the built backend (${err.message}).\nBuild it first: pnpm turbo run build --filter=@ktrdr/backend...`,
    );
    process.exit(1);
  }
}

/** `settings` with the bench's API key (operate) and worker registration token. */
export function withBenchAuth(settings) {
  return {
    ...settings,
    worker: { ...settings.worker, registration_token: BENCH_TOKEN },
    auth: {
      ...settings.auth,
      keys: [
        {
          name: 'bench',
          role: 'operate',
          sha256: createHash('sha256').update(BENCH_KEY).digest('hex'),
        },
      ],
    },
  };
}

/**
 * Starts the backend in-process on 127.0.0.1 (no background loops unless asked) with the bench's
 * credentials; the store defaults to in-memory SQLite (the embedded default). Returns the Nest app and its base URL.
 */
export async function startBackend(
  backend,
  { settings, repository, backgroundTasks = false } = {},
) {
  const nestApp = await backend.nest.NestFactory.create(
    backend.AppModule.forRoot({
      settings: withBenchAuth(settings ?? backend.DEFAULT_BACKEND_SETTINGS),
      repository: repository ?? new backend.SqliteOperationsRepository({ dir: 'memory://' }),
      backgroundTasks,
    }),
    { logger: ['error'] },
  );
  backend.configureApp(nestApp);
  await nestApp.listen(0, '127.0.0.1');
  return { nestApp, base: `http://127.0.0.1:${nestApp.getHttpServer().address().port}` };
}

/** Runs a bench's main(): exit 0 when it resolves, the error and exit 1 when it throws. */
export function run(main) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
}
