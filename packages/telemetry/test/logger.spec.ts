import { ServiceLogger } from '../src/logger';

/** What the logger writes to stdout and stderr while `fn` runs. */
function capture(fn: () => void): string {
  const out: string[] = [];
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((s) => s.write.bind(s));
  for (const s of streams)
    s.write = ((chunk: string) => {
      out.push(String(chunk));
      return true;
    }) as typeof s.write;
  try {
    fn();
  } finally {
    streams.forEach((s, i) => (s.write = writes[i]!));
  }
  return out.join('');
}

describe('ServiceLogger', () => {
  it('shows Nest module and route lines only at debug; our own lines at log', () => {
    const quiet = capture(() => {
      const logger = new ServiceLogger('log', false, false);
      logger.log('Mapped {/api/v1/workers, GET} route', 'RouterExplorer');
      logger.log('InstanceModule dependencies initialized', 'InstanceLoader');
      logger.log('KTRDR backend listening', 'Bootstrap');
      logger.debug('a debug line', 'Bootstrap');
    });
    expect(quiet).toContain('KTRDR backend listening');
    expect(quiet).not.toContain('Mapped');
    expect(quiet).not.toContain('InstanceModule');
    expect(quiet).not.toContain('a debug line');
    const verbose = capture(() => {
      const logger = new ServiceLogger('debug', false, false);
      logger.log('Mapped {/api/v1/workers, GET} route', 'RouterExplorer');
      logger.debug('a debug line', 'Bootstrap');
    });
    expect(verbose).toContain('Mapped {/api/v1/workers, GET} route');
    expect(verbose).toContain('a debug line');
  });

  it('colours only on a terminal, never in JSON', () => {
    const ESC = '\u001b[';
    const piped = capture(() => new ServiceLogger('log', false, false).warn('piped', 'Test'));
    expect(piped).toContain('piped');
    expect(piped).not.toContain(ESC);
    const tty = capture(() => new ServiceLogger('log', false, true).warn('tty', 'Test'));
    expect(tty).toContain(ESC);
    const json = capture(() => new ServiceLogger('log', true, true).warn('json', 'Test'));
    expect(json).not.toContain(ESC);
    expect(JSON.parse(json.trim())).toMatchObject({
      level: 'warn',
      message: 'json',
      context: 'Test',
    });
  });

  it('warn level drops log lines', () => {
    const warnOnly = capture(() => {
      const logger = new ServiceLogger('warn', false, false);
      logger.log('an info line', 'Test');
      logger.warn('a warning', 'Test');
    });
    expect(warnOnly).toContain('a warning');
    expect(warnOnly).not.toContain('an info line');
  });
});
