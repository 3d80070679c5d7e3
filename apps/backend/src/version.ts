import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Version of @ktrdr/backend from its package.json (works from src/ and dist/). */
export function backendVersion(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}
