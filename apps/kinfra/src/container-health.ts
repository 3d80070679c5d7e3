/**
 * Per-container health of a slot from `docker inspect` JSON: State.Status, State.Health.Status and
 * RestartCount of every container of the project. A slot is "up" only when every container runs and
 * none is unhealthy; a container that restarts, is unhealthy, exited or dead makes it "degraded",
 * naming the service. Pure: tested with fixtures of real `docker inspect` output.
 */

export interface ContainerState {
  /** Container name without the leading slash (ktrdr-slot-1_prometheus_1). */
  name: string;
  /** The compose service (label com.docker.compose.service), or the name when unlabelled. */
  service: string;
  /** created | running | paused | restarting | removing | exited | dead */
  status: string;
  /** starting | healthy | unhealthy; undefined without a health check. */
  health: string | undefined;
  restart_count: number;
  exit_code: number | undefined;
}

export interface ContainerProblem {
  service: string;
  container: string;
  /** restarting | unhealthy | exited | dead | paused | created | starting */
  state: string;
  restart_count: number;
  /** "prometheus restarting (3 restarts)" */
  message: string;
}

export type SlotHealthState = 'up' | 'starting' | 'degraded' | 'down';

export interface SlotHealth {
  state: SlotHealthState;
  containers: ContainerState[];
  problems: ContainerProblem[];
  /** "up", "starting: backend starting", "degraded: prometheus restarting (3 restarts)", "down" */
  summary: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Parses `docker inspect` output (an array of container objects); throws on another shape. */
export function parseInspect(json: unknown): ContainerState[] {
  if (!Array.isArray(json)) throw new Error('docker inspect: expected a JSON array');
  return json.map((c: unknown, i) => {
    if (!isRecord(c) || !isRecord(c.State)) {
      throw new Error(`docker inspect: entry ${i} has no State`);
    }
    const state = c.State;
    const labels = isRecord(c.Config) && isRecord(c.Config.Labels) ? c.Config.Labels : {};
    const name = (str(c.Name) ?? str(c.Id) ?? `container ${i}`).replace(/^\//, '');
    const health = isRecord(state.Health) ? str(state.Health.Status) : undefined;
    return {
      name,
      service: str(labels['com.docker.compose.service']) ?? name,
      status: str(state.Status) ?? 'unknown',
      health,
      restart_count: typeof c.RestartCount === 'number' ? c.RestartCount : 0,
      exit_code: typeof state.ExitCode === 'number' ? state.ExitCode : undefined,
    };
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function problemOf(c: ContainerState): ContainerProblem | undefined {
  let state: string | undefined;
  if (c.status === 'restarting') state = 'restarting';
  else if (c.status === 'running' && c.health === 'unhealthy') state = 'unhealthy';
  else if (c.status === 'running' && c.health === 'starting') state = 'starting';
  else if (c.status !== 'running') state = c.status;
  if (state === undefined) return undefined;
  const details: string[] = [];
  if (c.restart_count > 0) details.push(plural(c.restart_count, 'restart'));
  if ((state === 'exited' || state === 'dead') && c.exit_code !== undefined) {
    details.push(`exit code ${c.exit_code}`);
  }
  return {
    service: c.service,
    container: c.name,
    state,
    restart_count: c.restart_count,
    message: `${c.service} ${state}${details.length > 0 ? ` (${details.join(', ')})` : ''}`,
  };
}

/**
 * The slot's state from its containers: down (none), degraded (any restarting, unhealthy, exited,
 * dead, paused or never started), starting (health checks not passed yet), else up.
 */
export function assessContainers(containers: readonly ContainerState[]): SlotHealth {
  const sorted = [...containers].sort(
    (a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name),
  );
  if (sorted.length === 0) {
    return { state: 'down', containers: [], problems: [], summary: 'down: no containers' };
  }
  const problems = sorted.map(problemOf).filter((p): p is ContainerProblem => p !== undefined);
  const bad = problems.filter((p) => p.state !== 'starting');
  if (bad.length > 0) {
    return {
      state: 'degraded',
      containers: sorted,
      problems,
      summary: `degraded: ${bad.map((p) => p.message).join(', ')}`,
    };
  }
  if (problems.length > 0) {
    return {
      state: 'starting',
      containers: sorted,
      problems,
      summary: `starting: ${problems.map((p) => p.message).join(', ')}`,
    };
  }
  return { state: 'up', containers: sorted, problems: [], summary: 'up' };
}
