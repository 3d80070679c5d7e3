import { assessContainers, parseInspect } from '../src/container-health';

/** Trimmed `docker inspect` output of a slot's containers (the fields kinfra reads). */
function container(service: string, state: Record<string, unknown>, restarts = 0): unknown {
  return {
    Id: `id-${service}`,
    Name: `/ktrdr-slot-1_${service}_1`,
    RestartCount: restarts,
    State: state,
    Config: { Labels: { 'com.docker.compose.service': service } },
  };
}
const healthy = { Status: 'running', ExitCode: 0, Health: { Status: 'healthy' } };

describe('per-container health of a slot', () => {
  it('a restarting prometheus makes the slot degraded, naming it', () => {
    const fixture = [
      container('backend', healthy),
      container('postgres', healthy),
      container(
        'prometheus',
        { Status: 'restarting', ExitCode: 1, Health: { Status: 'unhealthy' } },
        3,
      ),
    ];
    const h = assessContainers(parseInspect(fixture));
    expect(h.state).toBe('degraded');
    expect(h.summary).toBe('degraded: prometheus restarting (3 restarts)');
    expect(h.problems.map((p) => p.service)).toEqual(['prometheus']);
  });

  it('unhealthy and exited containers are named too; all healthy is up', () => {
    const bad = assessContainers(
      parseInspect([
        container('backend', { Status: 'running', Health: { Status: 'unhealthy' } }),
        container('grafana', { Status: 'exited', ExitCode: 2 }),
      ]),
    );
    expect(bad.summary).toBe('degraded: backend unhealthy, grafana exited (exit code 2)');
    expect(assessContainers(parseInspect([container('backend', healthy)])).summary).toBe('up');
    expect(
      assessContainers(
        parseInspect([container('backend', { Status: 'running', Health: { Status: 'starting' } })]),
      ).state,
    ).toBe('starting');
    expect(assessContainers([]).state).toBe('down');
  });

  it('rejects output that is not docker inspect JSON', () => {
    expect(() => parseInspect({})).toThrow('expected a JSON array');
    expect(() => parseInspect([{}])).toThrow('entry 0 has no State');
  });
});
