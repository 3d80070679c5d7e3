/** Finding and driving Docker Compose: the v2 plugin (`docker compose`) or v1 (`docker-compose`). */
import * as path from 'node:path';
import { Exec, ExecOptions, ExecResult } from './exec';
import { COMPOSE_FILE, ENV_FILE } from './render';
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

/** Full argument list for a compose subcommand of a slot's project. */
export function composeArgs(
  compose: ComposeCommand,
  slot: number,
  slotDir: string,
  subcommand: readonly string[],
): string[] {
  return [
    ...compose.prefix,
    '--project-name',
    composeProjectName(slot),
    '--file',
    path.join(slotDir, COMPOSE_FILE),
    '--env-file',
    path.join(slotDir, ENV_FILE),
    ...subcommand,
  ];
}

export function runCompose(
  exec: Exec,
  compose: ComposeCommand,
  slot: number,
  slotDir: string,
  subcommand: readonly string[],
  options?: ExecOptions,
): Promise<ExecResult> {
  return exec(compose.program, composeArgs(compose, slot, slotDir, subcommand), {
    cwd: slotDir,
    ...options,
  });
}

/** A printable command line (for messages such as "see: docker compose ... logs"). */
export function composeCommandLine(
  compose: ComposeCommand,
  slot: number,
  slotDir: string,
  subcommand: readonly string[],
): string {
  return [compose.program, ...composeArgs(compose, slot, slotDir, subcommand)]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(' ');
}
