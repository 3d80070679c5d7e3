/**
 * Finding and driving Docker Compose — the v2 plugin (`docker compose`) or v1 (`docker-compose`) —
 * and Docker itself (`docker inspect`) for a slot. The stack is always infra/compose/docker-compose.yml,
 * made a slot's stack by the slot's .env.sandbox (--env-file) and project name.
 */
import * as path from 'node:path';
import { errorText } from '@ktrdr/contracts/constants';
import { Exec, ExecOptions, ExecResult } from './exec';
import { ENV_FILE, readSlotEnv } from './slot-env';
import { composeProjectName } from './slots';

export interface ComposeCommand {
  /** Program to run: docker or docker-compose. */
  readonly program: string;
  /** Arguments before compose's own options: ['compose'] for v2, [] for v1. */
  readonly prefix: readonly string[];
  readonly flavour: 'v2' | 'v1';
  /** What the output says (e.g. "docker compose (v2 plugin)"). */
  readonly label: string;
  readonly version: string;
}

export class ComposeNotFoundError extends Error {
  constructor() {
    super(
      'Docker Compose was not found: neither "docker compose" (the v2 plugin) nor "docker-compose" (v1) ' +
        'runs on this PATH. Install one of them (e.g. the docker-compose-plugin or docker-compose package).',
    );
    this.name = 'ComposeNotFoundError';
  }
}

function firstLine(r: ExecResult): string {
  return (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
}

export async function detectCompose(exec: Exec): Promise<ComposeCommand> {
  const v2 = await exec('docker', ['compose', 'version']);
  if (v2.code === 0) {
    return {
      program: 'docker',
      prefix: ['compose'],
      flavour: 'v2',
      label: 'docker compose (v2 plugin)',
      version: firstLine(v2),
    };
  }
  const v1 = await exec('docker-compose', ['version']);
  if (v1.code === 0) {
    return {
      program: 'docker-compose',
      prefix: [],
      flavour: 'v1',
      label: 'docker-compose (v1)',
      version: firstLine(v1),
    };
  }
  throw new ComposeNotFoundError();
}

/** Where a slot's stack is: the stack definition and the slot directory holding .env.sandbox. */
export interface SlotStack {
  slot: number;
  slotDir: string;
  /** infra/compose/docker-compose.yml of the repository. */
  stackFile: string;
}

/** Full argument list for a compose subcommand of a slot's project. */
export function composeArgs(
  compose: ComposeCommand,
  stack: SlotStack,
  subcommand: readonly string[],
): string[] {
  return [
    ...compose.prefix,
    '--project-name',
    composeProjectName(stack.slot),
    '--file',
    stack.stackFile,
    '--env-file',
    path.join(stack.slotDir, ENV_FILE),
    ...subcommand,
  ];
}

export function runCompose(
  exec: Exec,
  compose: ComposeCommand,
  stack: SlotStack,
  subcommand: readonly string[],
  options?: ExecOptions,
): Promise<ExecResult> {
  return exec(compose.program, composeArgs(compose, stack, subcommand), {
    // Relative paths of the stack file (../prometheus, ../grafana) resolve against its directory.
    cwd: path.dirname(stack.stackFile),
    unsetEnv: Object.keys(readSlotEnv(stack.slotDir)),
    ...options,
  });
}

/** A printable command line (for messages such as "see: docker compose ... logs"). */
export function composeCommandLine(
  compose: ComposeCommand,
  stack: SlotStack,
  subcommand: readonly string[],
): string {
  return [compose.program, ...composeArgs(compose, stack, subcommand)]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(' ');
}

/** The container ids of a slot's project (`ps -q`); [] when compose fails. */
export async function projectContainers(
  exec: Exec,
  compose: ComposeCommand,
  stack: SlotStack,
): Promise<string[]> {
  const ids = await runCompose(exec, compose, stack, ['ps', '-q']);
  if (ids.code !== 0) return [];
  return ids.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `docker inspect` of containers: the parsed JSON array, or an error message. */
export async function inspectContainers(
  exec: Exec,
  ids: readonly string[],
): Promise<{ ok: true; json: unknown } | { ok: false; error: string }> {
  if (ids.length === 0) return { ok: true, json: [] };
  const r = await exec('docker', ['inspect', ...ids]);
  if (r.code !== 0) {
    return { ok: false, error: `docker inspect failed (${r.code}): ${firstLine(r)}` };
  }
  try {
    return { ok: true, json: JSON.parse(r.stdout) as unknown };
  } catch (err) {
    return { ok: false, error: `docker inspect printed no JSON: ${errorText(err)}` };
  }
}
