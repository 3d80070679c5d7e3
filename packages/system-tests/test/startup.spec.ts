/**
 * The BUILT backend refuses a production start without usable API keys or registration token: exit
 * code 1 and a message that names the variable, before it listens. A valid production configuration
 * beside them starts (so the refusals are about the keys, not something else).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BACKEND_MAIN,
  freePort,
  launch,
  requireBuilt,
  sha256,
  stopAll,
  tail,
  waitFor,
} from './support/processes';

const TOKEN = 'startup-test-registration-token-0123456789';
const KEY = 'startup-test-operate-key-0123456789abcdef';

let root: string;

beforeAll(() => {
  requireBuilt(BACKEND_MAIN);
  root = mkdtempSync(join(tmpdir(), 'ktrdr-startup-'));
  mkdirSync(join(root, 'logs'));
  writeFileSync(join(root, 'empty-keys.json'), '[]');
  writeFileSync(
    join(root, 'keys.json'),
    JSON.stringify([{ name: 'ops', role: 'operate', sha256: sha256(KEY) }]),
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function backend(
  name: string,
  env: Record<string, string>,
): Promise<{ port: number; proc: ReturnType<typeof launch> }> {
  const port = await freePort();
  const proc = launch(
    name,
    BACKEND_MAIN,
    {
      KTRDR_LOG_LEVEL: 'log',
      KTRDR_DATA_DIR: join(root, `data-${name}`),
      KTRDR_DB_DIR: 'memory://',
      KTRDR_API_HOST: '127.0.0.1',
      KTRDR_API_PORT: String(port),
      ...env,
    },
    join(root, 'logs'),
  );
  return { port, proc };
}

const refusals: [string, Record<string, string>, RegExp][] = [
  [
    'no API key at all',
    { KTRDR_ENV: 'production', KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN },
    /KTRDR_API_KEYS_FILE/,
  ],
  [
    'a keys file that holds no keys',
    {
      KTRDR_ENV: 'production',
      KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN,
      KTRDR_API_KEYS_FILE: '{root}/empty-keys.json',
    },
    /KTRDR_API_KEYS_FILE: \S+empty-keys\.json holds no keys/,
  ],
  [
    'a keys file that does not exist',
    {
      KTRDR_ENV: 'production',
      KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN,
      KTRDR_API_KEYS_FILE: '{root}/missing.json',
    },
    /KTRDR_API_KEYS_FILE: cannot read \S+missing\.json \(ENOENT\)/,
  ],
  [
    'a registration token shorter than 32 characters',
    {
      KTRDR_ENV: 'production',
      KTRDR_WORKER_REGISTRATION_TOKEN: 'short-token',
      KTRDR_API_KEYS_FILE: '{root}/keys.json',
    },
    /KTRDR_WORKER_REGISTRATION_TOKEN/,
  ],
  [
    'an empty keys file in development too',
    { KTRDR_ENV: 'development', KTRDR_API_KEYS_FILE: '{root}/empty-keys.json' },
    /holds no keys/,
  ],
];

describe('backend start-up refusals', () => {
  it.each(refusals)(
    '%s: exit code 1, naming the variable',
    async (name, env, message) => {
      const withRoot = Object.fromEntries(
        Object.entries(env).map(([k, v]) => [k, v.replace('{root}', root)]),
      );
      const { proc } = await backend(name.replace(/\W+/g, '-'), withRoot);
      const exit = await Promise.race([
        proc.exited,
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000).unref()),
      ]);
      if (exit === 'timeout') await stopAll([proc], 1_000);
      const log = tail(proc);
      expect({ exit, listening: log.includes('listening on') }).toEqual({
        exit: { code: 1, signal: null },
        listening: false,
      });
      expect(log).toMatch(message);
      // Never a stack trace or a secret on the way out.
      expect(log).not.toMatch(/\n\s+at \S+ \(/);
      expect(log).not.toContain(TOKEN);
    },
    90_000,
  );

  it('a valid production configuration starts and serves with its key', async () => {
    const { port, proc } = await backend('valid-production', {
      KTRDR_ENV: 'production',
      KTRDR_WORKER_REGISTRATION_TOKEN: TOKEN,
      KTRDR_API_KEYS_FILE: join(root, 'keys.json'),
    });
    try {
      const base = `http://127.0.0.1:${port}/api/v1`;
      await waitFor(
        'the production backend',
        async () => ((await fetch(`${base}/health`)).ok ? true : undefined),
        60_000,
        () => tail(proc),
      );
      expect((await fetch(`${base}/operations`)).status).toBe(401);
      const ok = await fetch(`${base}/operations`, { headers: { authorization: `Bearer ${KEY}` } });
      expect(ok.status).toBe(200);
    } finally {
      await stopAll([proc]);
    }
    expect(await proc.exited).toEqual({ code: 0, signal: null });
  }, 90_000);
});
