import { execFile, spawn } from 'node:child_process';

/** Label on every container and network the e2e suites create (cleanup is by label). */
export const E2E_LABEL = 'dev.ktrdr.e2e';
/** Compose projects started by the compose suite (cleaned up by their compose project label). */
export const COMPOSE_PROJECT_PREFIX = 'ktrdr-e2e-compose-';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs `docker <args>`; never throws for a non-zero exit (the caller checks `code`). */
export function docker(args: string[], timeoutMs = 60_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      'docker',
      args,
      { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const e = err as
          (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : 1) : 0,
          stdout: String(stdout),
          stderr: String(stderr) + (e && typeof e.code === 'string' ? ` (${e.code})` : ''),
          timedOut: Boolean(e?.killed),
        });
      },
    );
  });
}

/** True when a Docker Engine answers. */
export async function dockerAvailable(): Promise<boolean> {
  const r = await docker(['info', '--format', '{{.ServerVersion}}'], 15_000);
  return r.code === 0 && r.stdout.trim() !== '';
}

/** Removes every container (then network) carrying the e2e label. Returns how many containers went. */
export async function removeLabelled(label = E2E_LABEL): Promise<number> {
  const ids = (await docker(['ps', '-aq', '--filter', `label=${label}`])).stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length > 0) await docker(['rm', '-f', '-v', ...ids], 120_000);
  const nets = (await docker(['network', 'ls', '-q', '--filter', `label=${label}`])).stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of nets) await docker(['network', 'rm', n]);
  // Compose projects of the compose suite (ktrdr-e2e-compose-*): containers, networks, volumes.
  const projects = (
    await docker([
      'ps',
      '-a',
      '--filter',
      'label=com.docker.compose.project',
      '--format',
      '{{.Label "com.docker.compose.project"}}',
    ])
  ).stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((p) => p.startsWith(COMPOSE_PROJECT_PREFIX));
  for (const project of new Set(projects)) {
    const filter = `label=com.docker.compose.project=${project}`;
    const cids = (await docker(['ps', '-aq', '--filter', filter])).stdout
      .split('\n')
      .filter(Boolean);
    if (cids.length > 0) await docker(['rm', '-f', '-v', ...cids], 120_000);
    ids.push(...cids);
    const pnets = (await docker(['network', 'ls', '-q', '--filter', filter])).stdout
      .split('\n')
      .filter(Boolean);
    for (const n of pnets) await docker(['network', 'rm', n]);
    const vols = (await docker(['volume', 'ls', '-q', '--filter', filter])).stdout
      .split('\n')
      .filter(Boolean);
    if (vols.length > 0) await docker(['volume', 'rm', '-f', ...vols]);
  }
  // Testcontainers networks carry its own label; prune only the ones no container uses any more.
  await docker(['network', 'prune', '-f', '--filter', 'label=org.testcontainers=true']);
  return ids.length;
}

/**
 * Runs a container in the foreground (`docker run` without -d) and returns its exit code and output;
 * used for containers that are expected to exit (invalid configuration). The container is removed
 * afterwards; a container still running after `timeoutMs` is killed and reported as timed out.
 */
export async function runToExit(
  image: string,
  env: Record<string, string>,
  name: string,
  timeoutMs = 30_000,
): Promise<CommandResult> {
  const args = ['run', '--name', name, '--label', `${E2E_LABEL}=true`, '--network', 'none'];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  args.push(image);
  return new Promise((resolve) => {
    const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      void docker(['kill', name]);
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      void docker(['rm', '-f', name]).then(() =>
        resolve({ code: code ?? 1, stdout, stderr, timedOut }),
      );
    });
  });
}

/** The image HEALTHCHECK status of a container: starting, healthy, unhealthy (or none). */
export async function healthStatus(id: string): Promise<string> {
  const r = await docker([
    'inspect',
    '--format',
    '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}',
    id,
  ]);
  return r.code === 0 ? r.stdout.trim() : 'unknown';
}

/** State of a container as `docker inspect` reports it. */
export async function containerState(
  id: string,
): Promise<{ running: boolean; exitCode: number; oomKilled: boolean } | null> {
  const r = await docker(['inspect', '--format', '{{json .State}}', id]);
  if (r.code !== 0) return null;
  const s = JSON.parse(r.stdout) as { Running: boolean; ExitCode: number; OOMKilled: boolean };
  return { running: s.Running, exitCode: s.ExitCode, oomKilled: s.OOMKilled };
}
