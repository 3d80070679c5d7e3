/**
 * `node dist/cli/generate-docs.js --write` regenerates docs/configuration.md and .env.example at the
 * repository root; `--check` exits 1 when either is stale.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { renderConfigurationMarkdown, renderEnvExample } from '../docs';

function repoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(nodePath.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = nodePath.dirname(dir);
    if (parent === dir) throw new Error(`no pnpm-workspace.yaml above ${start}`);
    dir = parent;
  }
}

function main(argv: readonly string[]): number {
  const mode = argv.includes('--check') ? 'check' : argv.includes('--write') ? 'write' : undefined;
  if (!mode) {
    console.error('usage: generate-docs --write | --check');
    return 2;
  }
  const root = repoRoot(__dirname);
  const files: [string, string][] = [
    ['docs/configuration.md', renderConfigurationMarkdown()],
    ['.env.example', renderEnvExample()],
  ];
  let stale = 0;
  for (const [rel, content] of files) {
    const file = nodePath.join(root, rel);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (mode === 'write') {
      if (current !== content) {
        fs.mkdirSync(nodePath.dirname(file), { recursive: true });
        fs.writeFileSync(file, content);
        console.log(`wrote ${rel}`);
      } else console.log(`${rel} is up to date`);
    } else if (current !== content) {
      console.error(`${rel} is stale: run \`pnpm docs:generate\` and commit the result.`);
      stale++;
    } else console.log(`${rel} is up to date`);
  }
  return stale > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
