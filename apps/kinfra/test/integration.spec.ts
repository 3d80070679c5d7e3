/**
 * The BUILT command (node apps/kinfra/dist/main.js) with a temporary HOME: the provisioning flow of the
 * issue, line by line, then slots, claim, release, and down/status against a fake docker on PATH.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { childProcessEnv } from '@ktrdr/config';
import { STACK_FILE_OF_REPO, fakeDocker, tempDir } from './support/helpers';

// Spawns node processes (the CLI, the fake docker); generous under a shared, loaded CPU.
jest.setTimeout(60_000);

const MAIN = path.resolve(__dirname, '..', 'dist', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

describe('built kinfra CLI with a temporary HOME', () => {
  let home: string;
  let env: Record<string, string>;

  const kinfra = (args: string[], cwd = home, extraEnv: Record<string, string> = {}): Run => {
    const r = spawnSync(process.execPath, [MAIN, ...args], {
      cwd,
      env: { ...env, ...extraEnv },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return {
      code: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      lines: r.stdout.split('\n').filter((l) => l !== ''),
    };
  };

  beforeAll(() => {
    if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: build @ktrdr/kinfra first`);
    home = tempDir('kinfra-home-');
    // Only HOME decides where the sandboxes go; nothing from the real shell may redirect them.
    env = childProcessEnv({ HOME: home, KTRDR_SANDBOXES_DIR: undefined, NO_COLOR: undefined });
  });
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  it('starts with a node shebang', () => {
    expect(fs.readFileSync(MAIN, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('--help exits 0; an unknown command exits non-zero with help', () => {
    const help = kinfra(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: kinfra');
    expect(kinfra(['sandbox', 'up', '--help']).code).toBe(0);
    const bad = kinfra(['sandbox', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("error: unknown command 'nope'");
    expect(bad.stderr).toContain('Usage: kinfra sandbox');
  });

  it('provision --dry-run lists every slot and creates nothing', () => {
    const r = kinfra(['sandbox', 'provision', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([
      'Would create slot 1 (light): API=8001, DB=5433',
      'Would create slot 2 (light): API=8002, DB=5434',
      'Would create slot 3 (light): API=8003, DB=5435',
      'Would create slot 4 (light): API=8004, DB=5436',
      'Would create slot 5 (standard): API=8005, DB=5437',
      'Would create slot 6 (heavy): API=8006, DB=5438',
    ]);
    expect(fs.existsSync(path.join(home, '.ktrdr'))).toBe(false);
  });

  it('provision creates six slots under $HOME/.ktrdr/sandboxes', () => {
    const r = kinfra(['sandbox', 'provision']);
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([
      'Created slot 1 (light)',
      'Created slot 2 (light)',
      'Created slot 3 (light)',
      'Created slot 4 (light)',
      'Created slot 5 (standard)',
      'Created slot 6 (heavy)',
      'Created 6 slot(s)',
    ]);
    expect(r.stdout).not.toContain('\u001b['); // not a TTY: no colours
    const dir = path.join(home, '.ktrdr', 'sandboxes');
    for (let n = 1; n <= 6; n++) {
      const env = fs.readFileSync(path.join(dir, `slot-${n}`, '.env.sandbox'), 'utf8');
      expect(env).toContain(`SLOT_ID=${n}\n`);
      expect(env).toContain(`KTRDR_API_PORT=${8000 + n}\n`);
      expect(env).toContain(`COMPOSE_PROJECT_NAME=ktrdr-slot-${n}\n`);
      expect(fs.existsSync(path.join(dir, `slot-${n}`, '.env.sandbox'))).toBe(true);
    }
    const reg = JSON.parse(fs.readFileSync(path.join(dir, 'registry.json'), 'utf8'));
    expect(reg.version).toBe(2);
    expect(Object.keys(reg.slots)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(reg.slots['5']).toEqual({
      slot_id: 5,
      profile: 'standard',
      workers: { backtest: 2, training: 2 },
      ports: { api: 8005, db: 5437, grafana: 3005, jaeger_ui: 16691, prometheus: 9095 },
      claimed_by: null,
      claimed_at: null,
      status: 'stopped',
      infrastructure_path: path.join(dir, 'slot-5'),
    });
  });

  it('provision again skips every slot and creates nothing', () => {
    const dir = path.join(home, '.ktrdr', 'sandboxes');
    const before = fs.readFileSync(path.join(dir, 'slot-1', '.env.sandbox'), 'utf8');
    fs.appendFileSync(path.join(dir, 'slot-1', '.env.sandbox'), '# local edit\n');
    const r = kinfra(['sandbox', 'provision']);
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([
      'Slot 1 already exists, skipping',
      'Slot 2 already exists, skipping',
      'Slot 3 already exists, skipping',
      'Slot 4 already exists, skipping',
      'Slot 5 already exists, skipping',
      'Slot 6 already exists, skipping',
      'Skipped 6 existing slot(s)',
    ]);
    expect(fs.readFileSync(path.join(dir, 'slot-1', '.env.sandbox'), 'utf8')).toBe(
      `${before}# local edit\n`,
    );
  });

  it('slots, claim and release', () => {
    const worktree = path.join(home, 'worktree');
    fs.mkdirSync(worktree);
    const claim = kinfra(['sandbox', 'claim', '--profile', 'standard'], worktree);
    expect(claim.code).toBe(0);
    expect(claim.lines[0]).toBe(`Claimed slot 5 (standard) for ${worktree}`);

    const slots = kinfra(['sandbox', 'slots']);
    expect(slots.code).toBe(0);
    expect(slots.lines[0]).toMatch(/^Slot\s+Profile\s+API Port\s+Claimed By\s+Status$/);
    expect(slots.lines).toHaveLength(8);
    expect(slots.lines[6]).toMatch(new RegExp(`^5\\s+standard\\s+8005\\s+${worktree}\\s+stopped$`));

    const json = JSON.parse(kinfra(['sandbox', 'slots', '--json']).stdout);
    expect(json.slots[4]).toMatchObject({ slot_id: 5, claimed_by: worktree });

    const notMine = kinfra(['sandbox', 'release', '5']);
    expect(notMine.code).toBe(1);
    expect(notMine.stderr).toContain(`Slot 5 is claimed by ${worktree}`);

    const release = kinfra(['sandbox', 'release', '5'], worktree);
    expect(release.code).toBe(0);
    expect(release.lines).toEqual([`Released slot 5 (was claimed by ${worktree})`]);
  });

  it('down and status drive compose through the docker found on PATH', () => {
    const docker = fakeDocker(home);
    const PATH = `${docker.dir}:${env.PATH ?? ''}`;
    const down = kinfra(['sandbox', 'down', '2'], home, { PATH });
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.lines).toEqual(['Stopped slot 2']);
    const status = kinfra(['sandbox', 'status', '2', '--json'], home, { PATH });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      slot_id: 2,
      containers: [],
      backend_healthy: false,
      expected_workers: 2,
    });
    const slotDir = path.join(home, '.ktrdr', 'sandboxes', 'slot-2');
    expect(docker.calls()[1]).toEqual({
      program: 'docker',
      args: [
        'compose',
        '--project-name',
        'ktrdr-slot-2',
        '--file',
        STACK_FILE_OF_REPO,
        '--env-file',
        path.join(slotDir, '.env.sandbox'),
        'down',
        '--remove-orphans',
      ],
    });
  });

  it('KTRDR_SANDBOXES_DIR overrides the location', () => {
    const other = path.join(home, 'elsewhere');
    const r = kinfra(['sandbox', 'provision'], home, { KTRDR_SANDBOXES_DIR: other });
    expect(r.lines[r.lines.length - 1]).toBe('Created 6 slot(s)');
    expect(fs.existsSync(path.join(other, 'registry.json'))).toBe(true);
  });

  it('parallel claims from different directories get different slots', async () => {
    const dirs = [1, 2, 3, 4].map((i) => path.join(home, `par-${i}`));
    dirs.forEach((d) => fs.mkdirSync(d));
    const outputs = await Promise.all(
      dirs.map(
        (cwd) =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, [MAIN, 'sandbox', 'claim', '--json'], {
              cwd,
              env,
            });
            let out = '';
            child.stdout.on('data', (c: Buffer) => (out += c.toString()));
            child.on('error', reject);
            child.on('close', (code) =>
              code === 0 ? resolve(out) : reject(new Error(`exit ${code}`)),
            );
          }),
      ),
    );
    const slots = outputs.map((o) => (JSON.parse(o) as { slot_id: number }).slot_id).sort();
    expect(slots).toEqual([1, 2, 3, 4]);
    const reg = JSON.parse(
      fs.readFileSync(path.join(home, '.ktrdr', 'sandboxes', 'registry.json'), 'utf8'),
    );
    expect([1, 2, 3, 4].map((n) => reg.slots[String(n)].claimed_by as string).sort()).toEqual(
      [...dirs].sort(),
    );
  });

  it('up refuses a taken slot port (naming it and its holder), and starts once the project runs', async () => {
    // A stand-in backend for slot 6 on its real API port (8006): while nothing of the project runs,
    // that port being taken must stop `up`; once compose reports containers, `up` waits on it.
    let workersTotal = 0;
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/v1/health') res.end('{"status":"ok"}');
      else if (req.url === '/api/v1/workers')
        res.end(JSON.stringify({ total: workersTotal, workers: [] }));
      else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(8006, '127.0.0.1', () => resolve(true));
    });
    const docker = fakeDocker(home);
    const PATH = `${docker.dir}:${env.PATH ?? ''}`;
    const runAsync = (args: string[]): Promise<Run> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [MAIN, ...args], {
          cwd: home,
          env: { ...env, PATH },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (code) =>
          resolve({ code, stdout, stderr, lines: stdout.split('\n').filter((l) => l !== '') }),
        );
      });
    try {
      const refused = await runAsync(['sandbox', 'up', '6']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /Refusing to start slot 6: port 8006 \(API\) is in use on 127\.0\.0\.1:8006/,
      );
      if (bound) expect(refused.stderr).toContain(`held by pid ${process.pid} (`);
      expect(docker.calls().some((c) => c.args.includes('up'))).toBe(false);
      if (!bound) return; // someone else holds 8006 on this machine: the refusal above is all we can check

      docker.setBehaviour({ ps_ids: 'c0ffee\n' });
      workersTotal = 8;
      const started = await runAsync(['sandbox', 'up', '6', '--timeout', '20']);
      expect(started.stderr).not.toContain('Error');
      expect(started.code).toBe(0);
      expect(started.lines[0]).toBe(
        'Slot 6 (heavy) is up: backend healthy, 8/8 workers registered',
      );
      expect(started.lines).toContain('  API:        http://127.0.0.1:8006/api/v1');
    } finally {
      await new Promise((r) => (bound ? server.close(() => r(undefined)) : r(undefined)));
    }
  });
});
