import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledEntry } from '../src';

describe('compiledEntry', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ktrdr-entry-'));
    mkdirSync(join(root, 'pkg', 'src', 'workers'), { recursive: true });
    mkdirSync(join(root, 'pkg', 'dist', 'workers'), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('takes the file next to the module when it is there (running from dist)', () => {
    const dist = join(root, 'pkg', 'dist', 'workers');
    writeFileSync(join(dist, 'thread.js'), '');
    expect(compiledEntry(dist, 'thread.js')).toBe(join(dist, 'thread.js'));
  });

  it('from src/ (ts-jest) takes the same place under dist/', () => {
    expect(compiledEntry(join(root, 'pkg', 'src', 'workers'), 'thread.js')).toBe(
      join(root, 'pkg', 'dist', 'workers', 'thread.js'),
    );
    expect(compiledEntry(join(root, 'pkg', 'src'), 'job.js')).toBe(
      join(root, 'pkg', 'dist', 'job.js'),
    );
  });

  it('outside a src/ tree it names the file next to the module', () => {
    expect(compiledEntry(join(root, 'pkg'), 'x.js')).toBe(join(root, 'pkg', 'x.js'));
  });
});
