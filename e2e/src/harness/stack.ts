import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getTestSettings } from '@ktrdr/config';
import { WORKER_ROUTES } from '@ktrdr/contracts';
import {
  GenericContainer,
  Network,
  Wait,
  type StartedNetwork,
  type StartedTestContainer,
} from 'testcontainers';
import { API_PREFIX, BACKEND_ROUTES } from '@ktrdr/contracts';
import { BackendClient } from './api';
import { E2E_API_KEY_SHA256, E2E_WORKER_TOKEN } from './credentials';
import { docker, E2E_LABEL } from './docker-cli';
import { IMAGES, logDir } from './paths';
import { SERVICE_PORTS } from './ports';

export type WorkerKind = 'backtest' | 'training';

export interface ServiceHandle {
  alias: string;
  kind: 'backend' | WorkerKind;
  container: StartedTestContainer;
  /** Port inside the container. */
  port: number;
  /** Host-side URL through the random mapped port. */
  hostUrl: string;
  /** URL other containers use: http://{alias}:{port}. */
  internalUrl: string;
  removed: boolean;
}

/**
 * Short timeouts so faults resolve in seconds: health checks every second, 2 failures make a worker
 * temporarily unavailable, removal 20 s after the last good check, orphans after 6 s.
 */
export const E2E_BACKEND_ENV: Readonly<Record<string, string>> = Object.freeze({
  NO_COLOR: '1',
  KTRDR_DB_DRIVER: 'sqlite',
  KTRDR_LOG_LEVEL: 'log',
  KTRDR_WORKER_HEALTH_CHECK_INTERVAL: '1',
  KTRDR_WORKER_HEALTH_CHECK_TIMEOUT: '1',
  KTRDR_WORKER_HEALTH_CHECK_FAILURES: '2',
  KTRDR_WORKER_REMOVAL_THRESHOLD: '20',
  KTRDR_WORKER_DISPATCH_TIMEOUT: '5',
  KTRDR_ORPHAN_TIMEOUT_SECONDS: '6',
  KTRDR_ORPHAN_CHECK_INTERVAL_SECONDS: '1',
  KTRDR_API_SHUTDOWN_NOTIFY_TIMEOUT: '1',
  // Containers share no data directory: the credentials are configured explicitly.
  KTRDR_WORKER_REGISTRATION_TOKEN: E2E_WORKER_TOKEN,
  KTRDR_API_OPERATE_KEY_SHA256: E2E_API_KEY_SHA256,
});

export const E2E_WORKER_ENV: Readonly<Record<string, string>> = Object.freeze({
  NO_COLOR: '1',
  KTRDR_API_CLIENT_BASE_URL: `http://backend:${SERVICE_PORTS.backend}/${API_PREFIX}`,
  KTRDR_LOG_LEVEL: 'log',
  KTRDR_WORKER_HEARTBEAT_INTERVAL: '1',
  KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS: '5',
  KTRDR_WORKER_PROGRESS_INTERVAL_MS: '200',
  KTRDR_CHECKPOINT_DIR: '/data/checkpoints',
  KTRDR_WORKER_REGISTRATION_TOKEN: E2E_WORKER_TOKEN,
});

export interface WorkerOptions {
  /** Extra environment (wins over E2E_WORKER_ENV). */
  env?: Record<string, string>;
  /** Set KTRDR_WORKER_PUBLIC_BASE_URL=http://{alias}:{port} (default true). */
  advertise?: boolean;
  /** Port the worker listens on inside the container (default SERVICE_PORTS.worker). */
  port?: number;
  /** Files put into the container before it starts (e.g. a fake nvidia-smi). */
  files?: { content: string; target: string; mode?: number }[];
  /** Wait for this log line instead of HTTP /health. */
  waitForLog?: RegExp;
  /** Host directories mounted read-write (e.g. a checkpoint dir shared by several workers). */
  binds?: { source: string; target: string }[];
}

function suiteNameFromJest(): string {
  const testPath = expect.getState().testPath ?? 'unknown';
  return path
    .basename(testPath)
    .replace(/\.e2e\.ts$/, '')
    .replace(/\.[jt]s$/, '');
}

/**
 * One suite's containers: a fresh network, a backend (alias `backend`) and workers (their alias is
 * their DNS name on the network). Every container is labelled for cleanup; its logs are written to
 * {log dir}/{suite}/{alias}.log when it is removed and when the suite ends (the e2e reporter deletes
 * them again for suites that passed).
 */
export class Stack {
  readonly api = new BackendClient('http://127.0.0.1:0');
  readonly services = new Map<string, ServiceHandle>();
  private readonly logRoot: string;
  private counter = 0;
  private readonly tempDirs: string[] = [];

  private constructor(
    readonly suite: string,
    readonly network: StartedNetwork,
  ) {
    this.logRoot = path.join(logDir(), suite);
    fs.mkdirSync(this.logRoot, { recursive: true });
  }

  static async start(suite = suiteNameFromJest()): Promise<Stack> {
    const network = await new Network().start();
    console.log(`[e2e:${suite}] network ${network.getName()}`);
    return new Stack(suite, network);
  }

  get backend(): ServiceHandle {
    const b = this.services.get('backend');
    if (!b) throw new Error('backend not started');
    return b;
  }

  service(alias: string): ServiceHandle {
    const s = this.services.get(alias);
    if (!s) throw new Error(`no service "${alias}" in this stack`);
    return s;
  }

  private labels(alias: string): Record<string, string> {
    return {
      [E2E_LABEL]: 'true',
      [`${E2E_LABEL}.suite`]: this.suite,
      [`${E2E_LABEL}.alias`]: alias,
    };
  }

  private containerName(alias: string): string {
    this.counter += 1;
    const rand = Math.random().toString(36).slice(2, 7);
    return `ktrdr-e2e-${this.suite}-${alias}-${rand}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
  }

  private register(handle: ServiceHandle): ServiceHandle {
    const host = handle.container.getHost();
    const mapped = handle.container.getMappedPort(handle.port);
    handle.hostUrl = `http://${host}:${mapped}`;
    console.log(
      `[e2e:${this.suite}] ${handle.alias}: container port ${handle.port} -> host ${host}:${mapped} (${handle.container.getName()})`,
    );
    this.services.set(handle.alias, handle);
    return handle;
  }

  async startBackend(env: Record<string, string> = {}): Promise<ServiceHandle> {
    const port = SERVICE_PORTS.backend;
    const container = await new GenericContainer(IMAGES.backend)
      .withName(this.containerName('backend'))
      .withLabels(this.labels('backend'))
      .withNetwork(this.network)
      .withNetworkAliases('backend')
      .withEnvironment({ ...E2E_BACKEND_ENV, ...env })
      .withExposedPorts(port)
      .withWaitStrategy(
        Wait.forHttp(`/${API_PREFIX}/${BACKEND_ROUTES.health}`, port).forStatusCode(200),
      )
      .withStartupTimeout(60_000)
      .start();
    const handle = this.register({
      alias: 'backend',
      kind: 'backend',
      container,
      port,
      hostUrl: '',
      internalUrl: `http://backend:${port}`,
      removed: false,
    });
    this.api.setBaseUrl(handle.hostUrl);
    return handle;
  }

  async startWorker(
    kind: WorkerKind,
    alias: string,
    opts: WorkerOptions = {},
  ): Promise<ServiceHandle> {
    const port = opts.port ?? SERVICE_PORTS.worker;
    const env: Record<string, string> = { ...E2E_WORKER_ENV };
    if (opts.advertise !== false) env.KTRDR_WORKER_PUBLIC_BASE_URL = `http://${alias}:${port}`;
    Object.assign(env, opts.env ?? {});
    let builder = new GenericContainer(
      kind === 'backtest' ? IMAGES.backtestWorker : IMAGES.trainingWorker,
    )
      .withName(this.containerName(alias))
      .withLabels(this.labels(alias))
      .withNetwork(this.network)
      .withNetworkAliases(alias)
      // The hostname equals the alias, so the default advertised URL http://{hostname}:{port}
      // resolves on the network too (as the short container id does under compose).
      .withHostname(alias)
      .withEnvironment(env)
      .withExposedPorts(port)
      .withWaitStrategy(
        opts.waitForLog
          ? Wait.forLogMessage(opts.waitForLog)
          : Wait.forHttp(WORKER_ROUTES.health, port).forStatusCode(200),
      )
      .withStartupTimeout(60_000);
    if (opts.files && opts.files.length > 0)
      builder = builder.withCopyContentToContainer(opts.files);
    if (opts.binds && opts.binds.length > 0) {
      builder = builder.withBindMounts(opts.binds.map((b) => ({ ...b, mode: 'rw' as const })));
    }
    const container = await builder.start();
    return this.register({
      alias,
      kind,
      container,
      port,
      hostUrl: '',
      internalUrl: `http://${alias}:${port}`,
      removed: false,
    });
  }

  /**
   * A host directory the containers (uid 1000) can write, shared by every container it is mounted
   * in; removed in close(). Used for KTRDR_CHECKPOINT_DIR shared by workers, as in compose.
   */
  sharedDir(name: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ktrdr-e2e-${this.suite}-${name}-`));
    fs.chmodSync(dir, 0o777);
    this.tempDirs.push(dir);
    return dir;
  }

  /** The container's whole log (stdout and stderr), read through the Docker CLI. */
  async logs(alias: string): Promise<string> {
    const s = this.service(alias);
    const r = await docker(['logs', s.container.getId()]);
    return r.stdout + r.stderr;
  }

  private async saveLogs(s: ServiceHandle): Promise<void> {
    const r = await docker(['logs', '--timestamps', s.container.getId()]);
    if (r.code !== 0) return;
    // One file per container: an alias reused after a restart-with-new-id keeps both logs.
    const file = `${s.alias}-${s.container.getId().slice(0, 12)}.log`;
    fs.writeFileSync(path.join(this.logRoot, file), r.stdout + r.stderr);
  }

  /** SIGKILL, as a crash: no shutdown hooks run. The container stays (its logs are kept). */
  async kill(alias: string): Promise<void> {
    const s = this.service(alias);
    const r = await docker(['kill', '--signal', 'KILL', s.container.getId()]);
    if (r.code !== 0) throw new Error(`docker kill ${alias} failed: ${r.stderr}`);
    console.log(`[e2e:${this.suite}] ${alias} killed (SIGKILL)`);
  }

  /** Graceful stop (SIGTERM, then SIGKILL after `timeoutSeconds`), logs saved, container removed. */
  async remove(alias: string, timeoutSeconds = 10): Promise<void> {
    const s = this.service(alias);
    if (s.removed) return;
    await this.saveLogs(s);
    await s.container.stop({ timeout: timeoutSeconds * 1000 });
    s.removed = true;
    this.services.delete(alias);
  }

  /** Restarts the backend container (its SQLite file survives) and follows its new host port. */
  async restartBackend(): Promise<void> {
    const b = this.backend;
    await b.container.restart({ timeout: 10_000 });
    this.register(b);
    this.api.setBaseUrl(b.hostUrl);
  }

  /** Saves every container's logs and removes the containers and the network. */
  async close(): Promise<void> {
    const all = [...this.services.values()];
    await Promise.all(all.map((s) => this.saveLogs(s).catch(() => undefined)));
    if (getTestSettings().keep_containers) {
      console.log(`[e2e:${this.suite}] keeping containers (KTRDR_TEST_KEEP_CONTAINERS)`);
      return;
    }
    await Promise.all(all.map((s) => s.container.stop({ timeout: 2_000 }).catch(() => undefined)));
    this.services.clear();
    await this.network.stop().catch(() => undefined);
    for (const d of this.tempDirs) fs.rmSync(d, { recursive: true, force: true });
  }
}
