import * as fs from 'node:fs';
import * as path from 'node:path';
import { childProcessEnv } from '@ktrdr/config';
import { runCli } from '../src/cli';
import { createExec } from '../src/exec';
import { Output, coloursEnabled } from '../src/output';
import { PortChecker } from '../src/ports';
import { STACK_FILE_OF_REPO, fakeDocker, fakeHttp, makeContext, tempDir } from './support/helpers';

// Spawns node processes (the CLI, the fake docker); generous under a shared, loaded CPU.
jest.setTimeout(60_000);

function sandboxes(root: string): string {
  return path.join(root, 'sandboxes');
}

describe('kinfra CLI (in process)', () => {
  let root: string;
  let work: string;
  beforeEach(() => {
    root = tempDir();
    work = path.join(root, 'work');
    fs.mkdirSync(work);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const run = async (argv: string[], cwd = work, overrides = {}) => {
    const ctx = makeContext(sandboxes(root), cwd, overrides);
    const code = await runCli(argv, ctx);
    return { code, out: ctx.stdout.text, err: ctx.stderr.text, lines: ctx.stdout.lines() };
  };

  describe('help and usage', () => {
    it.each([
      [['--help']],
      [['sandbox', '--help']],
      [['sandbox', 'provision', '--help']],
      [['sandbox', 'slots', '--help']],
      [['sandbox', 'claim', '--help']],
      [['sandbox', 'release', '--help']],
      [['sandbox', 'up', '--help']],
      [['sandbox', 'down', '--help']],
      [['sandbox', 'status', '--help']],
    ])('%j exits 0 with usage', async (argv) => {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Usage: kinfra/);
    });

    it('--version prints the package version and exits 0', async () => {
      const r = await run(['--version']);
      expect(r.code).toBe(0);
      expect(r.out).toBe('0.2.0\n');
    });

    it('lists every sandbox command', async () => {
      const r = await run(['sandbox', '--help']);
      for (const c of ['provision', 'slots', 'claim', 'release', 'up', 'down', 'status']) {
        expect(r.out).toMatch(new RegExp(`\\n  ${c}\\b`));
      }
    });

    it.each([[['frobnicate']], [['sandbox', 'frobnicate']]])(
      'unknown command %j exits non-zero and shows help',
      async (argv) => {
        const r = await run(argv);
        expect(r.code).not.toBe(0);
        expect(r.err).toContain(`error: unknown command '${argv[argv.length - 1]}'`);
        expect(r.err).toContain('Usage: kinfra');
      },
    );

    it('a bad slot number is a usage error naming the argument', async () => {
      const r = await run(['sandbox', 'release', '9']);
      expect(r.code).toBe(1);
      expect(r.err).toContain("slot must be an integer from 1 to 6 (got '9')");
    });

    it('an unknown profile is refused', async () => {
      const r = await run(['sandbox', 'claim', '--profile', 'huge']);
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        "argument 'huge' is invalid. Allowed choices are light, standard, heavy",
      );
    });
  });

  describe('provision', () => {
    it('--dry-run prints every slot and creates nothing', async () => {
      const r = await run(['sandbox', 'provision', '--dry-run']);
      expect(r.code).toBe(0);
      expect(r.lines).toEqual([
        'Would create slot 1 (light): API=8001, DB=5433',
        'Would create slot 2 (light): API=8002, DB=5434',
        'Would create slot 3 (light): API=8003, DB=5435',
        'Would create slot 4 (light): API=8004, DB=5436',
        'Would create slot 5 (standard): API=8005, DB=5437',
        'Would create slot 6 (heavy): API=8006, DB=5438',
      ]);
      expect(fs.existsSync(sandboxes(root))).toBe(false);
    });

    it('creates six slots, then skips them; restores a missing registry entry and file', async () => {
      const first = await run(['sandbox', 'provision']);
      expect(first.code).toBe(0);
      expect(first.lines).toEqual([
        'Created slot 1 (light)',
        'Created slot 2 (light)',
        'Created slot 3 (light)',
        'Created slot 4 (light)',
        'Created slot 5 (standard)',
        'Created slot 6 (heavy)',
        'Created 6 slot(s)',
      ]);
      const second = await run(['sandbox', 'provision']);
      expect(second.lines).toEqual([
        ...[1, 2, 3, 4, 5, 6].map((n) => `Slot ${n} already exists, skipping`),
        'Skipped 6 existing slot(s)',
      ]);

      const regFile = path.join(sandboxes(root), 'registry.json');
      const reg = JSON.parse(fs.readFileSync(regFile, 'utf8'));
      reg.slots['3'].claimed_by = work;
      delete reg.slots['4'];
      fs.writeFileSync(regFile, JSON.stringify(reg));
      fs.rmSync(path.join(sandboxes(root), 'slot-2', '.env.sandbox'));
      const third = await run(['sandbox', 'provision']);
      expect(third.lines).toContain('Restored registry entry of slot 4');
      expect(third.lines).toContain('Restored missing file(s) of slot 2: .env.sandbox');
      const after = JSON.parse(fs.readFileSync(regFile, 'utf8'));
      expect(after.slots['4'].slot_id).toBe(4);
      expect(after.slots['3'].claimed_by).toBe(work); // existing entries are kept
      expect(fs.existsSync(path.join(sandboxes(root), 'slot-2', '.env.sandbox'))).toBe(true);
    });

    it('--json reports each slot', async () => {
      const r = await run(['sandbox', 'provision', '--json']);
      const body = JSON.parse(r.out);
      expect(body.dry_run).toBe(false);
      expect(body.slots.map((s: { action: string }) => s.action)).toEqual(Array(6).fill('created'));
    });

    it('a corrupt registry fails with the file and backup named, exit 1', async () => {
      fs.mkdirSync(sandboxes(root), { recursive: true });
      fs.writeFileSync(path.join(sandboxes(root), 'registry.json'), 'not json');
      const r = await run(['sandbox', 'provision']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /^Error: Registry file .*registry\.json is corrupt: not valid JSON .*A copy was saved as .*registry\.json\.corrupt-/,
      );
      expect(fs.readFileSync(path.join(sandboxes(root), 'registry.json'), 'utf8')).toBe('not json');
    });
  });

  describe('slots, claim, release', () => {
    beforeEach(async () => {
      expect((await run(['sandbox', 'provision'])).code).toBe(0);
    });

    it('shows a table of all six slots', async () => {
      const r = await run(['sandbox', 'slots']);
      expect(r.code).toBe(0);
      expect(r.lines[0]).toMatch(/^Slot\s+Profile\s+API Port\s+Claimed By\s+Status$/);
      expect(r.lines.slice(2).map((l) => l.split(/\s+/))).toEqual([
        ['1', 'light', '8001', '-', 'stopped'],
        ['2', 'light', '8002', '-', 'stopped'],
        ['3', 'light', '8003', '-', 'stopped'],
        ['4', 'light', '8004', '-', 'stopped'],
        ['5', 'standard', '8005', '-', 'stopped'],
        ['6', 'heavy', '8006', '-', 'stopped'],
      ]);
    });

    it('claims the first free slot, idempotently, and releases it', async () => {
      const c = await run(['sandbox', 'claim']);
      expect(c.code).toBe(0);
      expect(c.lines[0]).toBe(`Claimed slot 1 (light) for ${work}`);
      const again = await run(['sandbox', 'claim']);
      expect(again.lines[0]).toBe(`Slot 1 (light) is already claimed by ${work}`);
      const sub = path.join(work, 'packages', 'x');
      fs.mkdirSync(sub, { recursive: true });
      expect((await run(['sandbox', 'claim'], sub)).lines[0]).toBe(
        `Slot 1 (light) is already claimed by ${work}`,
      );

      const other = path.join(root, 'other');
      fs.mkdirSync(other);
      const c2 = await run(['sandbox', 'claim', '--json'], other);
      expect(JSON.parse(c2.out)).toMatchObject({
        slot_id: 2,
        claimed_by: other,
        already_claimed: false,
      });

      const slots = JSON.parse((await run(['sandbox', 'slots', '--json'])).out);
      expect(slots.slots.map((s: { claimed_by: string | null }) => s.claimed_by)).toEqual([
        work,
        other,
        null,
        null,
        null,
        null,
      ]);

      // someone else's slot: refused without --force
      const refused = await run(['sandbox', 'release', '2']);
      expect(refused.code).toBe(1);
      expect(refused.err).toContain(
        `Slot 2 is claimed by ${other} (since 2026-01-02T03:04:05.000Z), not by this directory (${work}). Use --force`,
      );
      const forced = await run(['sandbox', 'release', '2', '--force']);
      expect(forced.code).toBe(0);
      expect(forced.lines).toEqual([`Released slot 2 (was claimed by ${other})`]);

      // without a number: the slot this directory holds
      const own = await run(['sandbox', 'release']);
      expect(own.lines).toEqual([`Released slot 1 (was claimed by ${work})`]);
      expect((await run(['sandbox', 'release', '1'])).lines).toEqual(['Slot 1 is not claimed']);
    });

    it('claims at or above a profile, and fails with exit 1 when none is free', async () => {
      const r = await run(['sandbox', 'claim', '--profile', 'standard']);
      expect(r.lines[0]).toBe(`Claimed slot 5 (standard) for ${work}`);
      const dirs = ['a', 'b'].map((n) => path.join(root, n));
      dirs.forEach((d) => fs.mkdirSync(d));
      expect((await run(['sandbox', 'claim', '--profile', 'standard'], dirs[0])).lines[0]).toBe(
        `Claimed slot 6 (heavy) for ${dirs[0]}`,
      );
      const none = await run(['sandbox', 'claim', '--profile', 'standard'], dirs[1]);
      expect(none.code).toBe(1);
      expect(none.err).toContain(
        `No free slot with profile standard or above: slot 5 is claimed by ${work}, slot 6 is claimed by ${dirs[0]}.`,
      );
    });

    it('--slot N claims that slot, or refuses a taken / too small one', async () => {
      const other = path.join(root, 'other');
      fs.mkdirSync(other);
      expect((await run(['sandbox', 'claim', '--slot', '3'], other)).lines[0]).toBe(
        `Claimed slot 3 (light) for ${other}`,
      );
      const taken = await run(['sandbox', 'claim', '--slot', '3']);
      expect(taken.code).toBe(1);
      expect(taken.err).toContain(`Slot 3 is already claimed by ${other}`);
      const small = await run(['sandbox', 'claim', '--slot', '2', '--profile', 'heavy']);
      expect(small.code).toBe(1);
      expect(small.err).toContain('Slot 2 has profile light, below the requested profile heavy.');
    });

    it('a claim whose directory is gone is shown as stale and released', async () => {
      const gone = path.join(root, 'gone');
      fs.mkdirSync(gone);
      await run(['sandbox', 'claim', '--slot', '4'], gone);
      fs.rmSync(gone, { recursive: true });
      const r = await run(['sandbox', 'slots']);
      expect(r.lines.find((l) => l.startsWith('4 '))).toMatch(
        new RegExp(`^4\\s+light\\s+8004\\s+${gone} \\(stale, released\\)\\s+stopped$`),
      );
      const json = JSON.parse((await run(['sandbox', 'slots', '--json'])).out);
      expect(json.slots[3]).toMatchObject({ claimed_by: null, stale_claim_released: null });
    });

    it('claim before provision tells the user to provision', async () => {
      const empty = makeContext(path.join(root, 'nothing'), work);
      expect(await runCli(['sandbox', 'claim'], empty)).toBe(1);
      expect(empty.stderr.text).toContain(
        'No slots are provisioned. Run "kinfra sandbox provision" first.',
      );
    });
  });

  describe('up / down / status against a fake docker', () => {
    const healthy = (total: number) =>
      fakeHttp((url) =>
        url.endsWith('/health') ? { status: 200 } : { status: 200, body: { total, workers: [] } },
      );

    beforeEach(async () => {
      expect((await run(['sandbox', 'provision'])).code).toBe(0);
    });

    it('up starts the compose project, waits for backend and workers, prints the URLs', async () => {
      const docker = fakeDocker(root);
      const http = healthy(2);
      // a repository whose build script leaves a mark
      const repo = path.join(root, 'repo');
      fs.mkdirSync(path.join(repo, 'infra', 'scripts'), { recursive: true });
      fs.writeFileSync(
        path.join(repo, 'infra', 'scripts', 'build-images.sh'),
        'echo built > "$(dirname "$0")/built.txt"\necho building images\n',
      );
      const r = await run(['sandbox', 'up', '1', '--build'], work, {
        exec: createExec(
          childProcessEnv({ PATH: `${docker.dir}:${childProcessEnv().PATH ?? ''}` }),
        ),
        http,
        repoRoot: repo,
      });
      expect(fs.readFileSync(path.join(repo, 'infra', 'scripts', 'built.txt'), 'utf8')).toBe(
        'built\n',
      );
      expect(r.err).toContain('building images');
      expect(r.err).not.toContain('Error');
      expect(r.code).toBe(0);
      const dir = path.join(sandboxes(root), 'slot-1');
      const common = [
        '--project-name',
        'ktrdr-slot-1',
        '--file',
        STACK_FILE_OF_REPO,
        '--env-file',
        path.join(dir, '.env.sandbox'),
      ];
      expect(docker.calls()).toEqual([
        { program: 'docker', args: ['compose', 'version'] },
        { program: 'docker', args: ['compose', ...common, 'ps', '-q'] },
        {
          program: 'docker',
          args: ['compose', ...common, 'up', '-d', '--remove-orphans'],
        },
      ]);
      expect(r.err).toContain('fake: Creating containers'); // compose output is forwarded
      expect(r.lines[0]).toBe('Slot 1 (light) is up: backend healthy, 2/2 workers registered');
      expect(r.lines.slice(1)).toEqual([
        '  API:        http://127.0.0.1:8001/api/v1',
        '  Swagger UI: http://127.0.0.1:8001/api/docs',
        '  Grafana:    http://127.0.0.1:3001',
        '  Prometheus: http://127.0.0.1:9091',
        '  Jaeger UI:  http://127.0.0.1:16687',
        '  PostgreSQL: postgresql://ktrdr@127.0.0.1:5433/ktrdr',
      ]);
      expect(http.requests).toContain('http://127.0.0.1:8001/api/v1/health');
      const reg = JSON.parse(fs.readFileSync(path.join(sandboxes(root), 'registry.json'), 'utf8'));
      expect(reg.slots['1'].status).toBe('running');

      const down = await run(['sandbox', 'down', '1', '-v'], work, {
        exec: createExec(docker.env),
      });
      expect(down.code).toBe(0);
      expect(down.lines).toEqual(['Stopped slot 1 and removed its volumes']);
      expect(docker.calls().slice(-1)[0]).toEqual({
        program: 'docker',
        args: ['compose', ...common, 'down', '--remove-orphans', '--volumes'],
      });
      const reg2 = JSON.parse(fs.readFileSync(path.join(sandboxes(root), 'registry.json'), 'utf8'));
      expect(reg2.slots['1'].status).toBe('stopped');
    });

    it('falls back to docker-compose v1 when the v2 plugin is missing', async () => {
      const docker = fakeDocker(root);
      docker.setBehaviour({ v2_missing: true });
      const r = await run(['sandbox', 'up', '6', '--json'], work, {
        exec: createExec(docker.env),
        http: healthy(8),
      });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({
        slot_id: 6,
        compose: 'docker-compose (v1)',
        expected_workers: 8,
        workers_registered: 8,
        urls: { api: 'http://127.0.0.1:8006/api/v1' },
      });
      const dir = path.join(sandboxes(root), 'slot-6');
      const common = [
        '--project-name',
        'ktrdr-slot-6',
        '--file',
        STACK_FILE_OF_REPO,
        '--env-file',
        path.join(dir, '.env.sandbox'),
      ];
      expect(docker.calls()).toEqual([
        { program: 'docker', args: ['compose', 'version'] },
        { program: 'docker-compose', args: ['version'] },
        { program: 'docker-compose', args: [...common, 'ps', '-q'] },
        { program: 'docker-compose', args: [...common, 'up', '-d', '--remove-orphans'] },
      ]);
    });

    it('fails clearly when no compose is installed', async () => {
      const docker = fakeDocker(root, false);
      docker.setBehaviour({ v2_missing: true });
      const r = await run(['sandbox', 'up', '1'], work, { exec: createExec(docker.env) });
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        'Docker Compose was not found: neither "docker compose" (the v2 plugin) nor "docker-compose" (v1)',
      );
    });

    it('refuses to start when a slot port is taken, naming the port and its holder', async () => {
      const docker = fakeDocker(root);
      const checkPort: PortChecker = async (port) =>
        port === 3002
          ? {
              port,
              free: false,
              address: '0.0.0.0:3002',
              reason: 'in use',
              holder: 'pid 4242 (grafana)',
            }
          : { port, free: true };
      const r = await run(['sandbox', 'up', '2'], work, {
        exec: createExec(docker.env),
        checkPort,
      });
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        'Refusing to start slot 2: port 3002 (Grafana) is in use on 0.0.0.0:3002, held by pid 4242 (grafana).',
      );
      expect(docker.calls().some((c) => c.args.includes('up'))).toBe(false);
    });

    it('skips the port check when the project already has containers', async () => {
      const docker = fakeDocker(root);
      docker.setBehaviour({ ps_ids: 'abc123\n' });
      const busy: PortChecker = async (port) => ({
        port,
        free: false,
        address: 'x',
        reason: 'in use',
      });
      const r = await run(['sandbox', 'up', '1'], work, {
        exec: createExec(docker.env),
        checkPort: busy,
        http: healthy(2),
      });
      expect(r.code).toBe(0);
    });

    it('times out when workers do not register, marks the slot failed, exit 1', async () => {
      const docker = fakeDocker(root);
      const r = await run(['sandbox', 'up', '5', '--timeout', '5'], work, {
        exec: createExec(docker.env),
        http: healthy(3),
      });
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        'Slot 5 did not become ready: only 3 of 4 workers registered after 5s',
      );
      expect(r.err).toContain('docker compose --project-name ktrdr-slot-5');
      const reg = JSON.parse(fs.readFileSync(path.join(sandboxes(root), 'registry.json'), 'utf8'));
      expect(reg.slots['5'].status).toBe('failed');
    });

    it('--build outside a checkout is a clear error', async () => {
      const docker = fakeDocker(root);
      const r = await run(['sandbox', 'up', '1', '--build'], work, {
        exec: createExec(docker.env),
        repoRoot: undefined,
      });
      expect(r.code).toBe(1);
      expect(r.err).toContain("--build needs the repository's infra/scripts/build-images.sh");
    });

    it('reports a failing compose up with its exit code', async () => {
      const docker = fakeDocker(root);
      docker.setBehaviour({ exit_codes: { up: 3 } });
      const r = await run(['sandbox', 'up', '1'], work, { exec: createExec(docker.env) });
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/docker compose .* up -d --remove-orphans failed with exit code 3/);
    });

    it('up/down/status without a number use the slot this directory holds', async () => {
      const docker = fakeDocker(root);
      const noSlot = await run(['sandbox', 'status'], work, { exec: createExec(docker.env) });
      expect(noSlot.code).toBe(1);
      expect(noSlot.err).toContain('No slot given and none is claimed by this directory');
      await run(['sandbox', 'claim', '--slot', '3']);
      docker.setBehaviour({ ps_ids: 'c1\nc2\n' });
      const sub = path.join(work, 'sub');
      fs.mkdirSync(sub);
      const r = await run(['sandbox', 'status', '--json'], sub, {
        exec: createExec(docker.env),
        http: healthy(2),
      });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({
        slot_id: 3,
        containers: ['c1', 'c2'],
        backend_healthy: true,
        workers_registered: 2,
        expected_workers: 2,
        compose_project: 'ktrdr-slot-3',
      });
    });

    it('status names a restarting prometheus: the slot is degraded although the backend answers', async () => {
      const docker = fakeDocker(root);
      const c = (service: string, state: Record<string, unknown>, restarts = 0): unknown => ({
        Id: service,
        Name: `/ktrdr-slot-1_${service}_1`,
        RestartCount: restarts,
        State: state,
        Config: { Labels: { 'com.docker.compose.service': service } },
      });
      docker.setBehaviour({
        ps_ids: 'b\np\n',
        inspect: [
          c('backend', { Status: 'running', Health: { Status: 'healthy' } }),
          c('prometheus', { Status: 'restarting', ExitCode: 1 }, 3),
        ],
      });
      const r = await run(['sandbox', 'status', '1'], work, {
        exec: createExec(docker.env),
        http: healthy(2),
      });
      expect(r.code).toBe(0);
      expect(r.lines).toContain('State: degraded: prometheus restarting (3 restarts)');
      expect(docker.calls()).toContainEqual({ program: 'docker', args: ['inspect', 'b', 'p'] });
    });

    it("up refuses another directory's slot without --force", async () => {
      const other = path.join(root, 'other');
      fs.mkdirSync(other);
      await run(['sandbox', 'claim', '--slot', '1'], other);
      const docker = fakeDocker(root);
      const r = await run(['sandbox', 'up', '1'], work, { exec: createExec(docker.env) });
      expect(r.code).toBe(1);
      expect(r.err).toContain(`Slot 1 is claimed by ${other}, not by this directory`);
      expect(docker.calls()).toEqual([]);
    });
  });
});

describe('colours', () => {
  it('only on a TTY and never with NO_COLOR', () => {
    expect(coloursEnabled(true, false)).toBe(true);
    expect(coloursEnabled(false, false)).toBe(false);
    expect(coloursEnabled(undefined, false)).toBe(false);
    expect(coloursEnabled(true, true)).toBe(false);
  });

  it('errors are red only when colours are on', async () => {
    const root = tempDir();
    try {
      const plain = makeContext(path.join(root, 's'), root, {}, false);
      await runCli(['sandbox', 'release', '1'], plain);
      expect(plain.stderr.text).toBe(
        'Error: Slot 1 is not provisioned. Run "kinfra sandbox provision" first.\n',
      );
      const coloured = makeContext(path.join(root, 's'), root, {}, true);
      await runCli(['sandbox', 'release', '1'], coloured);
      expect(coloured.stderr.text).toContain('\u001b[31mError:\u001b[39m');
      expect(
        new Output({ write: () => true }, { write: () => true }, false).paint('red', 'x'),
      ).toBe('x');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
