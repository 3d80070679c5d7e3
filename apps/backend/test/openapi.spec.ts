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

  it('gives every free-form object an example (Swagger UI shows no additionalProp1) and documents the results', async () => {
    const doc = await generateOpenApi();
    const schemas = doc.components?.schemas as Record<string, { properties?: object }>;
    // The operation and result schemas, and everything they reference.
    const todo = [
      'OperationResponseDto',
      'OperationListResponseDto',
      'OperationResultsResponseDto',
      'TradeListResponseDto',
      'ModelListResponseDto',
      'CompleteOperationRequestDto',
      'ArtifactChunkRequestDto',
      'BacktestStartRequestDto',
    ];
    const seen = new Set<string>();
    const bare: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}[${i}]`));
      if (node === null || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      if ('additionalProperties' in o && !('example' in o)) bare.push(at);
      if (typeof o.$ref === 'string') todo.push(o.$ref.split('/').pop() as string);
      for (const [k, v] of Object.entries(o)) if (k !== 'example') walk(v, `${at}.${k}`);
    };
    while (todo.length > 0) {
      const name = todo.pop() as string;
      if (seen.has(name)) continue;
      seen.add(name);
      walk(schemas[name], name);
    }
    expect(seen.size).toBeGreaterThan(20);
    expect(bare).toEqual([]);
    expect(Object.keys(schemas.BacktestResultDto.properties ?? {})).toEqual(
      expect.arrayContaining(['sharpe_ratio', 'benchmark', 'excess_return', 'trades_summary']),
    );
    expect(Object.keys(schemas.TrainingResultDto.properties ?? {})).toEqual(
      expect.arrayContaining(['history', 'best_epoch', 'validation', 'scaling']),
    );
    const results = JSON.stringify(schemas.OperationResultsDto);
    expect(results).toContain('#/components/schemas/BacktestResultDto');
    expect(results).toContain('#/components/schemas/TrainingResultDto');
  }, 60_000);
});
