import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';

/**
 * The compiled JavaScript file `file` next to the module in `dir` (`__dirname`), for code that must
 * start it as a thread entry. From dist that is `dir/file`; under ts-jest the module runs from src/,
 * where a thread still needs JavaScript, so the same place under dist/ is taken (a package's tests
 * build it first).
 */
export function compiledEntry(dir: string, file: string): string {
  const here = join(dir, file);
  if (existsSync(here)) return here;
  const parts = dir.split(sep);
  const src = parts.lastIndexOf('src');
  if (src < 0) return here;
  parts[src] = 'dist';
  return join(parts.join(sep), file);
}
