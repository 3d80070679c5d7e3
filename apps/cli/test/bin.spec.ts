import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(__dirname, '..', 'bin', 'ktrdr.js');

describe('bin/ktrdr.js (the command pnpm links, even before the first build)', () => {
  it('runs the built CLI', () => {
    const r = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('says how to build it when dist/ is missing', () => {
    const root = mkdtempSync(join(tmpdir(), 'ktrdr-bin-'));
    try {
      mkdirSync(join(root, 'bin'));
      copyFileSync(BIN, join(root, 'bin', 'ktrdr.js'));
      const r = spawnSync(process.execPath, [join(root, 'bin', 'ktrdr.js'), '--version'], {
        encoding: 'utf8',
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/ktrdr is not built yet .*dist\/main\.js is missing.*npm run dev/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
