import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// Real signals, so a real process: jest's sandbox `process` does not install OS signal handlers.
// The child runs the BUILT module (the test script builds it first).
const DIST = join(__dirname, '..', 'dist', 'startup-signals.js');

function run(script: string): string[] {
  const res = spawnSync(
    process.execPath,
    [
      '-e',
      `const { holdStartupSignals } = require(${JSON.stringify(DIST)});
       const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));
       (async () => { ${script} })().then(() => process.exit(0));`,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  if (res.signal !== null) return [`killed by ${res.signal}`];
  return res.stdout.split('\n').filter((l) => l !== '');
}

describe('holdStartupSignals (in a child process)', () => {
  beforeAll(() => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: build @ktrdr/config first`);
  });

  it('a signal during start-up is kept (the process lives) and handed to the handler', () => {
    expect(
      run(`const held = holdStartupSignals();
           process.kill(process.pid, 'SIGTERM');
           await tick(); // dispatched to the holder
           held.handOver((s) => console.log('handled ' + s));
           console.log('listeners ' + process.listenerCount('SIGTERM'));`),
    ).toEqual(['handled SIGTERM', 'listeners 1']);
  });

  it('a signal delivered but not yet dispatched at hand-over reaches the handler once', () => {
    expect(
      run(`const held = holdStartupSignals();
           process.kill(process.pid, 'SIGINT');
           held.handOver((s) => console.log('handled ' + s)); // same turn: not dispatched yet
           await tick();`),
    ).toEqual(['handled SIGINT']);
  });

  it('without a signal the handler is only installed, and gets later ones', () => {
    expect(
      run(`const held = holdStartupSignals();
           held.handOver((s) => console.log('handled ' + s));
           await tick();
           console.log('nothing yet');
           process.kill(process.pid, 'SIGTERM');
           await tick();`),
    ).toEqual(['nothing yet', 'handled SIGTERM']);
  });

  it('without it, the same signal kills the process (what it prevents)', () => {
    expect(
      run(`process.kill(process.pid, 'SIGTERM'); await tick(); console.log('alive');`),
    ).toEqual(['killed by SIGTERM']);
  });
});
