/** Shared test helpers: temp dirs, an in-memory Output, a Context, and a fake docker on PATH. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { childProcessEnv } from '@ktrdr/config';
import { Context } from '../../src/commands';
import { createExec } from '../../src/exec';
import { Output } from '../../src/output';
import { PortChecker } from '../../src/ports';
import type { HttpTransport } from '@ktrdr/contracts/constants';
import { HttpDeps } from '../../src/stack-health';

export function tempDir(prefix = 'kinfra-test-'): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

export class TextSink {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
}

export interface TestContext extends Context {
  stdout: TextSink;
  stderr: TextSink;
}

export const freePorts: PortChecker = async (port) => ({ port, free: true });

/** One request as a fake transport saw it. */
export interface SeenRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
}

/** An answer of a fake backend: a status and a JSON body, or an Error (no answer). */
export type FakeAnswer = { status: number; body?: unknown } | Error;

/**
 * A transport that never reaches the network: each request gets `respond`'s answer (its body as
 * JSON text) or, for an Error, rejects the way a refused connection does.
 */
export function fakeTransport(
  respond: (request: SeenRequest, n: number) => FakeAnswer,
  seen: SeenRequest[] = [],
): HttpTransport {
  return async (url, init) => {
    const request = { url, method: init.method, headers: init.headers };
    seen.push(request);
    const r = respond(request, seen.length);
    if (r instanceof Error) throw r;
    return {
      status: r.status,
      statusText: '',
      headers: { get: () => null },
      text: r.body === undefined ? '' : JSON.stringify(r.body),
    };
  };
}

/** HTTP deps that never reach the network: every request fails, time advances only through sleep. */
export function fakeHttp(
  respond: (url: string) => FakeAnswer = () => new Error('connect ECONNREFUSED'),
): HttpDeps & { requests: string[]; seen: SeenRequest[] } {
  let now = 0;
  const seen: SeenRequest[] = [];
  return {
    get requests() {
      return seen.map((r) => r.url);
    },
    seen,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    transport: fakeTransport((r) => respond(r.url), seen),
  };
}

/** The repository's stack definition, which kinfra runs (infra/compose/docker-compose.yml). */
export const STACK_FILE_OF_REPO = path.resolve(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  'infra',
  'compose',
  'docker-compose.yml',
);

export function makeContext(
  sandboxesDir: string,
  cwd: string,
  overrides: Partial<Context> = {},
  colours = false,
): TestContext {
  const stdout = new TextSink();
  const stderr = new TextSink();
  return {
    sandboxesDir,
    cwd,
    out: new Output(stdout, stderr, colours),
    exec: createExec(childProcessEnv()),
    checkPort: freePorts,
    http: fakeHttp(),
    now: () => new Date('2026-01-02T03:04:05.000Z'),
    lockOptions: { timeoutMs: 5_000 },
    stackFile: STACK_FILE_OF_REPO,
    ...overrides,
    stdout,
    stderr,
  };
}

export interface FakeDockerBehaviour {
  /** `docker compose version` fails (no v2 plugin). */
  v2_missing?: boolean;
  /** Output of `ps -q` (container ids, one per line). */
  ps_ids?: string;
  /** What `docker inspect` prints (a JSON value or raw text); unset: it fails ("No such object"). */
  inspect?: unknown;
  /** Exit code per compose subcommand (up, down, ps). */
  exit_codes?: Record<string, number>;
}

export interface FakeDocker {
  dir: string;
  /** Environment for child processes: PATH holds only the fake programs. */
  env: Record<string, string>;
  calls(): { program: string; args: string[] }[];
  setBehaviour(b: FakeDockerBehaviour): void;
}

const FAKE_SCRIPT = (node: string): string => `#!${node}
// Fake docker / docker-compose for kinfra tests: records argv, answers version/ps/up/down.
const fs = require('node:fs');
const path = require('node:path');
const program = path.basename(__filename);
const args = process.argv.slice(2);
fs.appendFileSync(path.join(__dirname, 'calls.jsonl'), JSON.stringify({ program, args }) + '\\n');
let behaviour = {};
try { behaviour = JSON.parse(fs.readFileSync(path.join(__dirname, 'behaviour.json'), 'utf8')); } catch {}
const rest = program === 'docker' ? args.slice(1) : args;
if (program === 'docker' && args[0] === 'inspect') {
  if (behaviour.inspect === undefined) { process.stderr.write('Error: No such object: ' + args[1] + '\\n'); process.exit(1); }
  process.stdout.write(typeof behaviour.inspect === 'string' ? behaviour.inspect : JSON.stringify(behaviour.inspect));
  process.exit(0);
}
if (program === 'docker' && args[0] !== 'compose') { process.stderr.write('fake docker: only compose and inspect\\n'); process.exit(1); }
if (rest[0] === 'version') {
  if (program === 'docker' && behaviour.v2_missing) { process.stderr.write("docker: 'compose' is not a docker command.\\n"); process.exit(1); }
  process.stdout.write(program === 'docker' ? 'Docker Compose version v2.99.0-fake\\n' : 'docker-compose version 1.29.2-fake\\n');
  process.exit(0);
}
// skip global options (--project-name X --file X --env-file X)
let i = 0;
while (i < rest.length && rest[i].startsWith('--')) i += 2;
const sub = rest[i];
if (sub === 'ps') {
  if (rest.includes('-q')) process.stdout.write(behaviour.ps_ids || '');
  else process.stdout.write('NAME   STATUS\\n');
}
if (sub === 'up') process.stderr.write('fake: Creating containers\\n');
const codes = behaviour.exit_codes || {};
process.exit(codes[sub] === undefined ? 0 : codes[sub]);
`;

/**
 * Creates `docker` (and unless `withV1` is false, `docker-compose`) in a fresh directory inside
 * `parent` (a test's temp dir, removed with it).
 */
export function fakeDocker(parent: string, withV1 = true): FakeDocker {
  const dir = fs.mkdtempSync(path.join(parent, 'fake-docker-'));
  const script = FAKE_SCRIPT(process.execPath);
  const programs = withV1 ? ['docker', 'docker-compose'] : ['docker'];
  for (const p of programs) fs.writeFileSync(path.join(dir, p), script, { mode: 0o755 });
  return {
    dir,
    env: childProcessEnv({ PATH: dir }),
    calls: () => {
      const file = path.join(dir, 'calls.jsonl');
      if (!fs.existsSync(file)) return [];
      return fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { program: string; args: string[] });
    },
    setBehaviour: (b) => fs.writeFileSync(path.join(dir, 'behaviour.json'), JSON.stringify(b)),
  };
}
