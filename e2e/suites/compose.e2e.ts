/**
 * The compose stack (infra/compose/docker-compose.yml) as a user runs it, with
 * `--scale backtest-worker=3`: three distinct backtest workers and two training workers register,
 * Prometheus shows every target up (backend, each worker replica found through DNS, itself), and a
 * backtest runs through the stack on PostgreSQL. With the local Node image (no registry), the
 * third-party services use the offline stand-ins of infra/scripts/make-offline-images.sh and the
 * stack runs without Jaeger (no stand-in for it: tracing is off); with real images the backtest's
 * trace is looked up in Jaeger by its operation id.
 * Runs with docker compose v2 when present, else docker-compose v1.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { childProcessEnv, getTestSettings } from '@ktrdr/config';
import { BACKEND_ROUTES, OperationStatus, WorkerStatus, WorkerType } from '@ktrdr/contracts';
import { BackendClient, http } from '../src/harness/api';
import { E2E_API_KEY_SHA256 } from '../src/harness/credentials';
import { COMPOSE_PROJECT_PREFIX } from '../src/harness/docker-cli';
import { freePort } from '@ktrdr/test-support';
import { SHORT_BACKTEST } from '../src/harness/fixtures';
import { logDir, REPO_ROOT } from '../src/harness/paths';
import { waitFor } from '../src/harness/wait';

const COMPOSE_FILE = path.join(REPO_ROOT, 'infra/compose/docker-compose.yml');
const PROJECT = `${COMPOSE_PROJECT_PREFIX}${Math.random().toString(36).slice(2, 7)}`;

function composeCommand(): string[] | null {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0)
    return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0)
    return ['docker-compose'];
  return null;
}

const compose = composeCommand();
const describeIf = compose ? describe : describe.skip;
let env: Record<string, string> = {};
let api: BackendClient;
let prometheusUrl = '';
let jaegerUrl: string | null = null;

function run(args: string[], timeoutMs = 300_000): { code: number; out: string } {
  const [cmd, ...pre] = compose!;
  const r = spawnSync(cmd, [...pre, '-p', PROJECT, '-f', COMPOSE_FILE, ...args], {
    cwd: REPO_ROOT,
    env,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

describeIf(`compose stack (${compose?.join(' ') ?? 'no compose'})`, () => {
  beforeAll(async () => {
    const offline = getTestSettings().node_image.startsWith('ktrdr/');
    const overrides: Record<string, string> = {};
    if (offline) {
      const r = spawnSync('bash', [path.join(REPO_ROOT, 'infra/scripts/make-offline-images.sh')], {
        cwd: REPO_ROOT,
        stdio: 'inherit',
      });
      if (r.status !== 0) throw new Error('make-offline-images.sh failed');
      overrides.POSTGRES_IMAGE = 'ktrdr/postgres-offline:15';
      overrides.PROMETHEUS_IMAGE = 'ktrdr/prometheus-offline:2';
      overrides.GRAFANA_IMAGE = 'ktrdr/grafana-offline:local';
      // Jaeger cannot be pulled and has no stand-in: run without it and without tracing.
      overrides.KTRDR_OTEL_ENABLED = 'false';
    }
    const [apiPort, dbPort, promPort, grafanaPort, jaegerPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    Object.assign(overrides, {
      // The backend gets the e2e key's digest; the workers share the token generated in the volume.
      KTRDR_API_OPERATE_KEY_SHA256: E2E_API_KEY_SHA256,
      KTRDR_API_PORT: String(apiPort),
      KTRDR_DB_PORT: String(dbPort),
      KTRDR_PROMETHEUS_PORT: String(promPort),
      KTRDR_GRAFANA_PORT: String(grafanaPort),
      KTRDR_JAEGER_UI_PORT: String(jaegerPort),
    });
    if (!offline) jaegerUrl = `http://127.0.0.1:${jaegerPort}`;
    env = childProcessEnv(overrides);
    console.log(
      `[e2e:compose] project ${PROJECT}: backend :${apiPort}, postgres :${dbPort}, prometheus :${promPort}, grafana :${grafanaPort}${offline ? ' (offline stand-ins)' : ''}`,
    );
    const services = offline
      ? ['postgres', 'backend', 'backtest-worker', 'training-worker', 'prometheus', 'grafana']
      : [];
    const up = run(['up', '-d', '--scale', 'backtest-worker=3', ...services]);
    if (up.code !== 0) throw new Error(`compose up failed:\n${up.out}`);
    api = new BackendClient(`http://127.0.0.1:${apiPort}`);
    prometheusUrl = `http://127.0.0.1:${promPort}`;
    await api.waitForHealthy(120_000);
  }, 600_000);

  afterAll(async () => {
    if (!compose || Object.keys(env).length === 0) return;
    const dir = path.join(logDir(), 'compose');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'compose.log'),
      run(['logs', '--no-color', '--timestamps']).out,
    );
    if (!getTestSettings().keep_containers) run(['down', '-v', '--remove-orphans']);
  }, 180_000);

  it('--scale backtest-worker=3 gives three distinct registered backtest workers, plus two training workers', async () => {
    const { workers } = await api.waitForWorkers(
      (ws) =>
        ws.filter(
          (w) => w.worker_type === WorkerType.BACKTESTING && w.status === WorkerStatus.AVAILABLE,
        ).length === 3 &&
        ws.filter(
          (w) => w.worker_type === WorkerType.TRAINING && w.status === WorkerStatus.AVAILABLE,
        ).length === 2,
      '3 backtest + 2 training workers available',
      90_000,
    );
    expect(new Set(workers.map((w) => w.worker_id)).size).toBe(5);
    expect(new Set(workers.map((w) => w.endpoint_url)).size).toBe(5);
    for (const w of workers) expect(w.endpoint_url).toMatch(/^http:\/\/[a-z0-9-]+:5003$/);
  });

  it('Prometheus shows every target up: backend, each worker replica, itself', async () => {
    type Targets = {
      data: { activeTargets: { labels: { job: string }; health: string; scrapeUrl: string }[] };
    };
    const targets = await waitFor(
      'all 7 Prometheus targets up',
      async () =>
        (await http<Targets>('GET', `${prometheusUrl}/api/v1/targets`)).body.data.activeTargets,
      (ts) => ts.length === 7 && ts.every((t) => t.health === 'up'),
      { timeoutMs: 90_000, intervalMs: 2_000 },
    );
    const jobs = targets.map((t) => t.labels.job).sort();
    expect(jobs).toEqual([
      'backend',
      'backtest-worker',
      'backtest-worker',
      'backtest-worker',
      'prometheus',
      'training-worker',
      'training-worker',
    ]);
  });

  it('runs a backtest through the stack (backend on PostgreSQL)', async () => {
    const start = await api.startBacktest({ ...SHORT_BACKTEST });
    const op = await api.waitForTerminal(start.operation_id, 90_000);
    expect(op.status).toBe(OperationStatus.COMPLETED);
    const ready = await http<{ info: Record<string, { status: string }> }>(
      'GET',
      api.url(BACKEND_ROUTES.healthReady),
    );
    expect(ready.status).toBe(200);
    if (!jaegerUrl) {
      console.log('[e2e:compose] Jaeger not running (offline stand-ins): trace lookup skipped');
      return;
    }
    // The docs' recipe: the operation's traces by tag, spanning the backend and a worker.
    const tags = encodeURIComponent(JSON.stringify({ 'ktrdr.operation.id': start.operation_id }));
    type Traces = { data: { processes: Record<string, { serviceName: string }> }[] };
    const traces = await waitFor(
      `Jaeger trace of ${start.operation_id}`,
      async () =>
        (await http<Traces>('GET', `${jaegerUrl}/api/traces?service=backend&tags=${tags}`)).body
          .data,
      (d) =>
        d.some((t) => Object.values(t.processes).some((p) => p.serviceName === 'backtest-worker')),
      { timeoutMs: 60_000, intervalMs: 2_000 },
    );
    expect(traces.length).toBeGreaterThanOrEqual(1);
  });
});
