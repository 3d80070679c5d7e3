/**
 * The rendered files checked by the real tools when they are installed (Debian: docker-compose,
 * prometheus → promtool). Where a tool is missing its test is reported as skipped, not passed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childProcessEnv } from '@ktrdr/config';
import { renderSlotFiles, slotRenderInput } from '../src/render';
import { tempDir } from './helpers';

// Spawns node processes (the CLI, the fake docker); generous under a shared, loaded CPU.
jest.setTimeout(60_000);

const env = childProcessEnv();
const has = (cmd: string, args: string[]): boolean =>
  spawnSync(cmd, args, { env, encoding: 'utf8' }).status === 0;
const HAVE_COMPOSE_V1 = has('docker-compose', ['version']);
const HAVE_PROMTOOL = has('promtool', ['--version']);

describe('rendered slot files under the real tools', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    for (const slot of [1, 5, 6]) {
      const slotDir = path.join(dir, `slot-${slot}`);
      for (const [rel, content] of Object.entries(renderSlotFiles(slotRenderInput(slot)))) {
        fs.mkdirSync(path.dirname(path.join(slotDir, rel)), { recursive: true });
        fs.writeFileSync(path.join(slotDir, rel), content);
      }
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  (HAVE_COMPOSE_V1 ? it.each([1, 5, 6]) : it.skip.each([1, 5, 6]))(
    'docker-compose (v1) config accepts slot %d',
    (slot) => {
      const slotDir = path.join(dir, `slot-${slot}`);
      const r = spawnSync(
        'docker-compose',
        [
          '-p',
          `ktrdr-slot-${slot}`,
          '-f',
          'docker-compose.yml',
          '--env-file',
          '.env.sandbox',
          'config',
          '--services',
        ],
        { cwd: slotDir, env, encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const services = r.stdout.trim().split('\n').sort();
      expect(services).toContain('backend');
      expect(services.filter((s) => s.includes('-worker-'))).toHaveLength(
        slot === 6 ? 8 : slot === 5 ? 4 : 2,
      );
    },
  );

  (HAVE_PROMTOOL ? it.each([1, 6]) : it.skip.each([1, 6]))(
    'promtool check config accepts the Prometheus file of slot %d',
    (slot) => {
      const r = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], {
        cwd: path.join(dir, `slot-${slot}`),
        env,
        encoding: 'utf8',
      });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('SUCCESS');
    },
  );
});
