import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as constants from '../src/constants';
import * as everything from '../src/index';

/** The files `@ktrdr/contracts/constants` loads, followed through their relative imports. */
function importGraph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(join(__dirname, '..', 'src', file), 'utf8');
  for (const m of text.matchAll(/from '(\.\/[^']+)'/g)) importGraph(`${m[1]!.slice(2)}.ts`, seen);
  return seen;
}

describe('@ktrdr/contracts/constants', () => {
  it('loads no decorators: no Nest, class-validator or class-transformer import', () => {
    const files = importGraph('constants.ts');
    expect([...files].sort()).toEqual([
      'constants.ts',
      'enums.ts',
      'error-text.ts',
      'events.ts',
      'http-exchange.ts',
      'routes.ts',
    ]);
    for (const f of files) {
      expect(readFileSync(join(__dirname, '..', 'src', f), 'utf8')).not.toMatch(
        /from '(@nestjs|class-validator|class-transformer|reflect-metadata)/,
      );
    }
  });

  it('exports the same values as the main entry', () => {
    for (const [name, value] of Object.entries(constants)) {
      expect((everything as Record<string, unknown>)[name]).toBe(value);
    }
    expect(constants.EVENT_TYPES).toContain('operation.progress');
    expect(constants.BACKEND_ROUTES.events).toBe('events');
  });
});
