/**
 * The rendered files checked by the real tools when they are installed (Debian: docker-compose,
 * prometheus → promtool). Where a tool is missing its test is reported as skipped, not passed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childProcessEnv } from '@ktrdr/config';
import { renderSlotFiles, slotRenderInput } from '../src/slot-env';
import { STACK_FILE_OF_REPO, tempDir } from './support/helpers';

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
          STACK_FILE_OF_REPO,
          '--env-file',
          path.join(slotDir, '.env.sandbox'),
          'config',
        ],
        { cwd: path.dirname(STACK_FILE_OF_REPO), env, encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const perKind = slot === 6 ? 4 : slot === 5 ? 2 : 1;
      expect(r.stdout.match(new RegExp(`^    scale: ${perKind}$`, 'gm'))).toHaveLength(2);
      expect(r.stdout).toContain(`127.0.0.1:${8000 + slot}:8000`);
      // Each service's traces are named after the slot.
      expect(r.stdout.match(/KTRDR_OTEL_SERVICE_NAME: .*/g)?.sort()).toEqual(
        ['backend', 'backtest-worker', 'training-worker'].map(
          (svc) => `KTRDR_OTEL_SERVICE_NAME: ktrdr-slot-${slot}-${svc}`,
        ),
      );
    },
  );

  (HAVE_PROMTOOL ? it : it.skip)('promtool check config accepts the stack Prometheus file', () => {
    const r = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], {
      cwd: path.join(path.dirname(STACK_FILE_OF_REPO), '..', 'prometheus'),
      env,
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });
});
