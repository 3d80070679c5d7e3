import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtMains, freePort, isRunning, launch, logsOf, stopAll, tail, waitFor } from '../src';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ktrdr-test-support-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const script = (name: string, body: string): string => {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
};

it('freePort gives a port that can be listened on at once', async () => {
  const port = await freePort();
  expect(port).toBeGreaterThan(0);
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', resolve);
  });
  await new Promise((r) => srv.close(r));
});

it('builtMains resolves dist/main.js beside each package.json', () => {
  const mains = builtMains((id) => `/x/${id}`);
  expect(mains).toEqual({
    backend: '/x/@ktrdr/backend/dist/main.js',
    backtest: '/x/@ktrdr/backtest-worker/dist/main.js',
    training: '/x/@ktrdr/training-worker/dist/main.js',
  });
});

it('launch writes stdout and stderr to the log file and passes the environment', async () => {
  const main = script('echo.js', "console.log('out', process.env.KTRDR_X); console.error('err');");
  const p = launch('echo', main, { KTRDR_X: 'forty-two' }, dir);
  expect(await p.exited).toEqual({ code: 0, signal: null });
  await waitFor('log flushed', async () => (tail(p).includes('err') ? true : undefined), 5_000);
  expect(tail(p)).toContain('out forty-two');
  expect(logsOf([p])).toMatch(/^----- echo -----\n/);
});

it('waitFor returns the first defined value, and on timeout names what it waited for', async () => {
  let n = 0;
  await expect(waitFor('three calls', async () => (++n >= 3 ? n : undefined), 5_000)).resolves.toBe(
    3,
  );
  await expect(
    waitFor(
      'never',
      async () => {
        throw new Error('refused');
      },
      150,
      () => 'LOGS',
      20,
    ),
  ).rejects.toThrow(
    /timed out after 150 ms waiting for never \(last error: Error: refused\)\nLOGS/,
  );
});

it('stopAll sends SIGTERM, then SIGKILL to a process that ignores it', async () => {
  const polite = launch('polite', script('polite.js', 'setInterval(() => {}, 1000);'), {}, dir);
  const stubborn = launch(
    'stubborn',
    script(
      'stubborn.js',
      "process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000);",
    ),
    {},
    dir,
  );
  await waitFor(
    'stubborn up',
    async () => (tail(stubborn).includes('up') ? true : undefined),
    10_000,
  );
  await stopAll([polite, stubborn], 300);
  expect(await polite.exited).toEqual({ code: null, signal: 'SIGTERM' });
  expect(await stubborn.exited).toEqual({ code: null, signal: 'SIGKILL' });
  expect(isRunning(polite) || isRunning(stubborn)).toBe(false);
});
