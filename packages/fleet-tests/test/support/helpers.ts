/** Shared helpers of the fleet tests: paths, running the deploy scripts, temp dirs, a fake backend. */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { childProcessEnv } from '@ktrdr/config';

export const REPO = path.resolve(__dirname, '..', '..', '..', '..');
export const DEPLOY = path.join(REPO, 'deploy');
export const FAKE_BIN = path.join(__dirname, '..', 'fixtures', 'fake-bin');
export const KINFRA_MAIN = path.join(
  path.dirname(require.resolve('@ktrdr/kinfra/package.json')),
  'dist',
  'main.js',
);

export function has(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

export function tempDir(prefix = 'ktrdr-fleet-'): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout lines starting with "+ " (the printed commands), without the prefix. */
  commands: string[];
}

/** The environment of a script run: the fakes first on PATH (unless `fakes: false`). */
export function scriptEnv(
  extra: Record<string, string | undefined> = {},
  fakes = true,
): Record<string, string> {
  const base = childProcessEnv({});
  const pathVar = fakes ? `${FAKE_BIN}:${base.PATH ?? ''}` : (base.PATH ?? '');
  return childProcessEnv({ PATH: pathVar, ...extra });
}

function result(code: number, stdout: string, stderr: string): RunResult {
  return {
    code,
    stdout,
    stderr,
    commands: stdout
      .split('\n')
      .filter((l) => l.startsWith('+ '))
      .map((l) => l.slice(2)),
  };
}

/** Runs a script synchronously (for scripts that do not call back into this process). */
export function runScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  cwd = REPO,
): RunResult {
  const r = spawnSync('bash', [script, ...args], { env, cwd, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return result(r.status ?? 1, r.stdout, r.stderr);
}

/** Runs a script asynchronously (for scripts that call the fake backend served by this process). */
export function runScriptAsync(
  script: string,
  args: string[],
  env: Record<string, string>,
  cwd = REPO,
  timeoutMs = 120_000,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(result(code ?? 1, stdout, stderr));
    });
  });
}

/** Lines of the fake tools' call log. */
export function fakeCalls(log: string): string[] {
  return fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
}

export interface FakeWorkerRecord {
  worker_id: string;
  worker_type: string;
  status: string;
  current_operation_id: string | null;
  registered_at: string;
  draining: boolean;
  metadata: Record<string, unknown>;
}

/**
 * A loopback backend answering GET /api/v1/workers/{id}, POST …/drain and DELETE …/drain (undrain) from
 * a map. `refuse` makes a drain or undrain call fail (key "POST id" or "DELETE id" → HTTP status).
 * `POST /fake/restart?host=H&type=T&release=SHA` stands in for a restarted worker registering again: the
 * worker that `place(host, type, id)` put there gets a newer registered_at, draining false, available,
 * metadata.release = SHA (what a stand-in restart command on a fake host calls).
 */
export class FakeBackend {
  readonly workers = new Map<string, FakeWorkerRecord>();
  readonly requests: { method: string; path: string }[] = [];
  readonly refuse = new Map<string, number>();
  private readonly placement = new Map<string, string>();
  private server: Server | null = null;
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/api/v1`;
  }

  add(id: string, type: string, over: Partial<FakeWorkerRecord> = {}): FakeWorkerRecord {
    const w: FakeWorkerRecord = {
      worker_id: id,
      worker_type: type,
      status: 'available',
      current_operation_id: null,
      registered_at: new Date().toISOString(),
      draining: false,
      metadata: {},
      ...over,
    };
    this.workers.set(id, w);
    return w;
  }

  /** The worker `id` runs on `host` as its `type` unit (for /fake/restart). */
  place(host: string, type: string, id: string): void {
    this.placement.set(`${host} ${type}`, id);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.startsWith('/fake/restart?') && method === 'POST') return this.restarted(url, send);
    const m = /^\/api\/v1\/workers\/([^/]+)(\/drain)?$/.exec(url);
    if (!m) return send(404, { statusCode: 404, error: 'Not Found', message: 'no route' });
    const id = decodeURIComponent(m[1] as string);
    const refused = m[2] ? this.refuse.get(`${method} ${id}`) : undefined;
    if (refused !== undefined)
      return send(refused, { statusCode: refused, message: `refused by the test (${method})` });
    const w = this.workers.get(id);
    if (!w) return send(404, { statusCode: 404, error: 'Not Found', message: 'not registered' });
    if (m[2] && method === 'POST') w.draining = true;
    if (m[2] && method === 'DELETE') w.draining = false;
    return send(200, w);
  }

  private restarted(url: string, send: (status: number, body: unknown) => void): void {
    const q = new URL(url, 'http://fake').searchParams;
    const id = this.placement.get(`${q.get('host') ?? ''} ${q.get('type') ?? ''}`);
    const w = id === undefined ? undefined : this.workers.get(id);
    if (!w) return send(404, { message: `no worker placed on ${q.get('host')} ${q.get('type')}` });
    // A new registration: strictly later than the previous one (what the ready wait compares).
    const at = Math.max(Date.now(), Date.parse(w.registered_at) + 1);
    Object.assign(w, {
      registered_at: new Date(at).toISOString(),
      draining: false,
      status: 'available',
      current_operation_id: null,
      metadata: { ...w.metadata, release: q.get('release') ?? '' },
    });
    return send(200, w);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

/** A fleet file (proxmox-lxc) whose backend is `backendUrl`. */
export function fleetFile(dir: string, backendUrl: string): string {
  const file = path.join(dir, 'workers.test.yaml');
  fs.writeFileSync(
    file,
    `backend_url: ${backendUrl}
health_check: { interval: 10, timeout: 5, failure_threshold: 3, removal_threshold: 300 }
deployment:
  type: proxmox-lxc
  proxmox:
    template_id: 9000
    storage: fast-zfs
    bridge: vmbr1
    network: { subnet: 10.77.0.0/24, gateway: 10.77.0.1 }
    workers:
      backtesting: { count: 2, id_start: 301, cores: 2, memory_mb: 2048, ip_range: 10.77.0.101-10.77.0.110 }
      training: { count: 1, id_start: 401, cores: 8, memory_mb: 16384, ip_range: 10.77.0.121-10.77.0.130 }
`,
  );
  return file;
}

/** A git repository with a zero-dependency pnpm project whose build:workers writes dist/. */
export function fixtureRepo(dir: string): {
  path: string;
  commit: (label: string, build?: string, files?: Record<string, string>) => string;
} {
  const repo = path.join(dir, 'source');
  fs.mkdirSync(repo, { recursive: true });
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, {
      cwd: repo,
      encoding: 'utf8',
      env: childProcessEnv({
        GIT_AUTHOR_NAME: 'fleet-tests',
        GIT_AUTHOR_EMAIL: 'fleet-tests@localhost',
        GIT_COMMITTER_NAME: 'fleet-tests',
        GIT_COMMITTER_EMAIL: 'fleet-tests@localhost',
      }),
    });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(
    path.join(repo, 'package.json'),
    JSON.stringify(
      {
        name: 'fleet-fixture',
        private: true,
        version: '1.0.0',
        scripts: { 'build:workers': 'node build.js' },
      },
      null,
      2,
    ),
  );
  fs.writeFileSync(
    path.join(repo, 'pnpm-lock.yaml'),
    "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\nimporters:\n\n  .: {}\n",
  );
  fs.writeFileSync(path.join(repo, '.gitignore'), 'node_modules\ndist\n');
  return {
    path: repo,
    commit(
      label: string,
      build = `require('fs').mkdirSync('dist',{recursive:true});require('fs').writeFileSync('dist/label.txt',${JSON.stringify(label)});`,
      files: Record<string, string> = {},
    ) {
      fs.writeFileSync(path.join(repo, 'build.js'), build);
      for (const [name, content] of Object.entries(files))
        fs.writeFileSync(path.join(repo, name), content);
      fs.writeFileSync(path.join(repo, 'LABEL'), label);
      git('add', '-A');
      git('commit', '-q', '-m', label);
      return git('rev-parse', 'HEAD');
    },
  };
}
