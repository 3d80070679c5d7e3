/**
 * Several OS processes update the same registry at once (the built module in dist/, the same code the
 * CLI runs). Every update must survive: a shared counter ends at processes × rounds, and each process's
 * own last write is what the file holds.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childProcessEnv } from '@ktrdr/config';
import { emptyRegistry, newSlotEntry, readRegistry, serializeRegistry } from '../src/registry';
import { tempDir } from './support/helpers';

const DIST_REGISTRY = path.resolve(__dirname, '..', 'dist', 'registry.js');
const PROCESSES = 5;
const ROUNDS = 25;

const CHILD = `
const fs = require('node:fs');
const { updateRegistry } = require(process.argv[1]);
const [dir, me, rounds, go] = process.argv.slice(2);
(async () => {
  while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 2));
  for (let j = 1; j <= Number(rounds); j++) {
    await updateRegistry(dir, (r) => {
      r.slots[me].claimed_by = '/p/' + me + '/' + j;
      const shared = r.slots['6'];
      shared.claimed_at = String(Number(shared.claimed_at ?? '0') + 1);
    }, { timeoutMs: 60000, retryMs: 2 });
  }
})().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
`;

function runChild(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', CHILD, DIST_REGISTRY, ...args], {
      env: childProcessEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('registry under concurrent writers (parallel processes)', () => {
  let dir: string;
  beforeAll(() => {
    if (!fs.existsSync(DIST_REGISTRY)) {
      throw new Error(`${DIST_REGISTRY} is missing: run "pnpm --filter @ktrdr/kinfra build" first`);
    }
  });
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(`${PROCESSES} processes × ${ROUNDS} updates: no update is lost`, async () => {
    const reg = emptyRegistry();
    for (let s = 1; s <= 6; s++) reg.slots[String(s)] = newSlotEntry(dir, s);
    fs.writeFileSync(path.join(dir, 'registry.json'), serializeRegistry(reg));
    const go = path.join(dir, 'go');
    const children = Array.from({ length: PROCESSES }, (_, i) =>
      runChild([dir, String(i + 1), String(ROUNDS), go]),
    );
    await new Promise((r) => setTimeout(r, 300)); // let every child start and wait at the barrier
    fs.writeFileSync(go, '');
    const results = await Promise.all(children);
    for (const r of results) expect(r).toEqual({ code: 0, stderr: '' });

    const final = readRegistry(dir);
    expect(final.slots['6']?.claimed_at).toBe(String(PROCESSES * ROUNDS));
    for (let i = 1; i <= PROCESSES; i++) {
      expect(final.slots[String(i)]?.claimed_by).toBe(`/p/${i}/${ROUNDS}`);
    }
    // only the registry and the barrier file remain (no temp files, no lock)
    expect(fs.readdirSync(dir).sort()).toEqual(['go', 'registry.json']);
  }, 60_000);
});
