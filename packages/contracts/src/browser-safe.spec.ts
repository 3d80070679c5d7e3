import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// apps/dashboard imports these two modules at run time in the browser: they must stay free of
// imports (no NestJS, class-validator, reflect-metadata or decorators in the bundle).
describe('browser-safe entry points', () => {
  it.each(['enums.ts', 'routes.ts'])('%s imports nothing', (file) => {
    const source = readFileSync(join(__dirname, file), 'utf8');
    expect(source).not.toMatch(/^\s*import\s/m);
    expect(source).not.toMatch(/\brequire\(/);
  });

  it('are exported as @ktrdr/contracts/enums and @ktrdr/contracts/routes', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    for (const name of ['enums', 'routes']) {
      expect(pkg.exports[`./${name}`]).toEqual({
        types: `./dist/${name}.d.ts`,
        default: `./dist/${name}.js`,
      });
    }
  });
});
