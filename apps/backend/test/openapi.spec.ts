import { readFileSync } from 'node:fs';
import { OPENAPI_FILE, generateOpenApi, serialize } from '../src/openapi';

describe('OpenAPI document', () => {
  it('is generated without a listener or database and matches the committed docs/openapi.json', async () => {
    const doc = await generateOpenApi();
    expect(doc.info.title).toBe('KTRDR backend');
    // Every operation documents a 2xx response and has a summary.
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [verb, op] of Object.entries(
        methods as Record<string, { summary?: string; responses?: object }>,
      )) {
        expect({ at: `${verb} ${path}`, summary: typeof op.summary }).toEqual({
          at: `${verb} ${path}`,
          summary: 'string',
        });
        expect(Object.keys(op.responses ?? {}).some((code) => code.startsWith('2'))).toBe(true);
      }
    }
    const committed = readFileSync(OPENAPI_FILE, 'utf8');
    // On failure: pnpm --filter @ktrdr/backend build && pnpm --filter @ktrdr/backend docs:generate
    expect(serialize(doc) === committed).toBe(true);
  });
});
