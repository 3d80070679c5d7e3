import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';
import { errorText } from '@ktrdr/contracts';
import { AppModule } from './app.module';
import { applyGlobalPrefix, buildOpenApiDocument } from './app.setup';
import { DEFAULT_BACKEND_SETTINGS } from './config/defaults';
import { SQLITE_MEMORY_DIR } from './persistence/sqlite-executor';
import { SqliteOperationsRepository } from './persistence/sqlite-operations.repository';

/** Where the committed spec lives: docs/openapi.json at the repository root. */
export const OPENAPI_FILE = join(__dirname, '..', '..', '..', 'docs', 'openapi.json');

/**
 * Builds the document from the app module; no listener. The app is never initialised, so the
 * (in-memory SQLite) store is never opened.
 */
export async function generateOpenApi(): Promise<OpenAPIObject> {
  const app = await NestFactory.create(
    AppModule.forRoot({
      settings: DEFAULT_BACKEND_SETTINGS,
      repository: new SqliteOperationsRepository({ dir: SQLITE_MEMORY_DIR }),
      backgroundTasks: false,
    }),
    { logger: false },
  );
  try {
    applyGlobalPrefix(app);
    return buildOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

export function serialize(doc: OpenAPIObject): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

async function main(argv: string[]): Promise<number> {
  const mode = argv.includes('--write') ? 'write' : argv.includes('--check') ? 'check' : null;
  if (!mode) {
    console.error('usage: node dist/openapi.js --write | --check');
    return 2;
  }
  const text = serialize(await generateOpenApi());
  const shown = relative(process.cwd(), OPENAPI_FILE) || OPENAPI_FILE;
  if (mode === 'write') {
    writeFileSync(OPENAPI_FILE, text);
    console.log(`wrote ${shown}`);
    return 0;
  }
  let current = '';
  try {
    current = readFileSync(OPENAPI_FILE, 'utf8');
  } catch {
    console.error(`${shown} is missing: run \`pnpm --filter @ktrdr/backend docs:generate\``);
    return 1;
  }
  if (current !== text) {
    console.error(
      `${shown} is out of date with the backend's controllers and DTOs: run \`pnpm --filter @ktrdr/backend build && pnpm --filter @ktrdr/backend docs:generate\` and commit it`,
    );
    return 1;
  }
  console.log(`${shown} is up to date`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(errorText(err));
      process.exit(1);
    },
  );
}
