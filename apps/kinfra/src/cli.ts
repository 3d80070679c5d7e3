/** The `kinfra` command line (commander). runCli() never calls process.exit: it returns the exit code. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { errorText } from '@ktrdr/contracts/constants';
import {
  Context,
  KinfraError,
  claim,
  down,
  listSlots,
  provision,
  release,
  status,
  up,
} from './commands';
import {
  fleetDrain,
  fleetPlan,
  fleetUndrain,
  fleetWait,
  type PlanFormat,
  type WaitCondition,
} from './fleet';
import { RegistryCorruptError } from './registry';
import { LockError } from './file-lock';
import { PROFILE_NAMES, ProfileName, SLOT_COUNT, parseSlotArgument } from './slots';

export const DEFAULT_UP_TIMEOUT_SECONDS = 300;

function slotArg(raw: string): number {
  try {
    return parseSlotArgument(raw);
  } catch (err) {
    throw new InvalidArgumentError(errorText(err));
  }
}

function positiveSeconds(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`--timeout must be a positive number of seconds (got '${raw}')`);
  }
  return n;
}

function seconds(option: string): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(
        `${option} must be a positive number of seconds (got '${raw}')`,
      );
    return n;
  };
}

function isoTime(raw: string): string {
  if (raw !== '' && Number.isNaN(Date.parse(raw)))
    throw new InvalidArgumentError(`--registered-after must be an ISO-8601 time (got '${raw}')`);
  return raw;
}

/** The package version (package.json sits next to src/ and dist/). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

interface JsonOpt {
  json?: boolean;
}

export function buildProgram(ctx: Context): Command {
  const program = new Command('kinfra');
  program
    .description(
      'Sandbox slot pool (up to six isolated KTRDR stacks on one machine) and fleet plans (config/workers.<env>.yaml)',
    )
    .configureOutput({
      writeOut: (s) => ctx.out.stdout.write(s),
      writeErr: (s) => ctx.out.stderr.write(s),
      outputError: (s, write) => write(ctx.out.paint('red', s)),
    })
    .version(packageVersion(), '-V, --version', 'print the kinfra version')
    .exitOverride()
    .showHelpAfterError()
    .helpCommand(false);

  const sandbox = program
    .command('sandbox')
    .description('Provision, claim and run sandbox slots (slots 1-4 light, 5 standard, 6 heavy)');

  sandbox
    .command('provision')
    .description(
      `Create the ${SLOT_COUNT} slot directories (each holds .env.sandbox, for infra/compose) and registry.json`,
    )
    .option('--dry-run', 'show what would be created and create nothing', false)
    .option('--json', 'print the result as JSON', false)
    .action(async (opts: { dryRun: boolean } & JsonOpt) => {
      await provision(ctx, { dryRun: opts.dryRun, json: opts.json === true });
    });

  sandbox
    .command('slots')
    .description('Show all slots: profile, API port, claim and status (releases stale claims)')
    .option('--json', 'print the slots as JSON', false)
    .action(async (opts: JsonOpt) => {
      await listSlots(ctx, { json: opts.json === true });
    });

  sandbox
    .command('claim')
    .description('Claim the first free slot at or above a profile for the current directory')
    .addOption(
      new Option('--profile <profile>', 'the smallest acceptable profile')
        .choices(PROFILE_NAMES)
        .default('light'),
    )
    .option('--slot <n>', 'claim this slot', slotArg)
    .option('--json', 'print the claim as JSON', false)
    .action(async (opts: { profile: ProfileName; slot?: number } & JsonOpt) => {
      await claim(ctx, { profile: opts.profile, slot: opts.slot, json: opts.json === true });
    });

  sandbox
    .command('release')
    .description("Release a slot claimed by the current directory (--force: someone else's)")
    .argument('[slot]', 'slot number (default: the slot this directory holds)', slotArg)
    .option('--force', 'release even if another directory holds the claim', false)
    .option('--json', 'print the result as JSON', false)
    .action(async (slot: number | undefined, opts: { force: boolean } & JsonOpt) => {
      await release(ctx, { slot, force: opts.force, json: opts.json === true });
    });

  sandbox
    .command('up')
    .description(
      "Start a slot's compose project, wait for the backend and its workers, print the URLs",
    )
    .argument('[slot]', 'slot number (default: the slot this directory holds)', slotArg)
    .option(
      '--build',
      "build the ktrdr/*:local images first (the repository's infra/scripts/build-images.sh)",
      false,
    )
    .option(
      '--timeout <seconds>',
      'how long to wait for health and worker registration',
      positiveSeconds,
      DEFAULT_UP_TIMEOUT_SECONDS,
    )
    .option('--force', 'act on a slot claimed by another directory', false)
    .option('--json', 'print the result as JSON', false)
    .action(
      async (
        slot: number | undefined,
        opts: { build: boolean; timeout: number; force: boolean } & JsonOpt,
      ) => {
        await up(ctx, {
          slot,
          build: opts.build,
          timeoutSeconds: opts.timeout,
          force: opts.force,
          json: opts.json === true,
        });
      },
    );

  sandbox
    .command('down')
    .description("Stop a slot's compose project")
    .argument('[slot]', 'slot number (default: the slot this directory holds)', slotArg)
    .option('-v, --volumes', "also remove the slot's volumes (database, data)", false)
    .option('--force', 'act on a slot claimed by another directory', false)
    .option('--json', 'print the result as JSON', false)
    .action(
      async (slot: number | undefined, opts: { volumes: boolean; force: boolean } & JsonOpt) => {
        await down(ctx, {
          slot,
          volumes: opts.volumes,
          force: opts.force,
          json: opts.json === true,
        });
      },
    );

  sandbox
    .command('status')
    .description("Show a slot's containers, backend health and registered workers")
    .argument('[slot]', 'slot number (default: the slot this directory holds)', slotArg)
    .option('--json', 'print the status as JSON', false)
    .action(async (slot: number | undefined, opts: JsonOpt) => {
      await status(ctx, { slot, json: opts.json === true });
    });

  const fleet = program
    .command('fleet')
    .description(
      'Fleet environment files (config/workers.<env>.yaml): the provisioning plan, and the backend calls of a rolling deploy',
    );
  const fleetSource = (c: Command): Command =>
    c
      .option(
        '--env <env>',
        'environment: dev, prod (or development, production); default KTRDR_ENV',
      )
      .option('--file <file>', 'read this fleet file instead of the environment’s');

  fleetSource(
    fleet
      .command('plan')
      .description(
        'Print the provisioning plan of a fleet file (containers with VMID, worker id, IP, size; or compose scale)',
      ),
  )
    .addOption(
      new Option('--format <format>', 'table, tsv (for scripts) or json')
        .choices(['table', 'tsv', 'json'])
        .default('table'),
    )
    .option('--json', 'same as --format json', false)
    .action((opts: { env?: string; file?: string; format: PlanFormat; json: boolean }) => {
      fleetPlan(ctx, { env: opts.env, file: opts.file, format: opts.json ? 'json' : opts.format });
    });

  const drainCommand = (
    name: 'drain' | 'undrain',
    description: string,
    run: typeof fleetDrain,
  ): void => {
    fleetSource(
      fleet.command(name).description(description).argument('<worker_id>', `the worker to ${name}`),
    )
      .option(
        '--backend <url>',
        'backend API base with /api/v1 (default: backend_url of the fleet file)',
      )
      .option('--missing-ok', 'a worker the backend does not know is not an error', false)
      .option('--print <field>', 'print only this field of the worker record (e.g. registered_at)')
      .option('--json', 'print the worker record as JSON', false)
      .action(
        async (
          id: string,
          opts: {
            env?: string;
            file?: string;
            backend?: string;
            missingOk: boolean;
            print?: string;
            json: boolean;
          },
        ) => {
          await run(ctx, id, opts);
        },
      );
  };
  drainCommand(
    'drain',
    'POST /workers/{id}/drain: no new dispatches to the worker; its running operation finishes',
    fleetDrain,
  );
  drainCommand(
    'undrain',
    'DELETE /workers/{id}/drain: the worker takes operations again (undoes a drain)',
    fleetUndrain,
  );

  fleetSource(
    fleet
      .command('wait')
      .description(
        'Wait until a worker is idle (no operation) or ready (registered, available or busy, not draining)',
      )
      .argument('<worker_id>', 'the worker to watch'),
  )
    .addOption(
      new Option('--for <condition>', 'idle or ready')
        .choices(['idle', 'ready'])
        .makeOptionMandatory(),
    )
    .option(
      '--backend <url>',
      'backend API base with /api/v1 (default: backend_url of the fleet file)',
    )
    .option(
      '--registered-after <time>',
      'ready: registered after this backend time (ISO-8601)',
      isoTime,
    )
    .option('--release <commit>', 'ready: reporting this release in metadata.release')
    .option('--timeout <seconds>', 'give up after this long', seconds('--timeout'), 300)
    .option('--interval <seconds>', 'poll interval', seconds('--interval'), 1)
    .option('--json', 'print the worker record as JSON', false)
    .action(
      async (
        id: string,
        opts: {
          env?: string;
          file?: string;
          backend?: string;
          for: WaitCondition;
          registeredAfter?: string;
          release?: string;
          timeout: number;
          interval: number;
          json: boolean;
        },
      ) => {
        await fleetWait(ctx, id, {
          for: opts.for,
          env: opts.env,
          file: opts.file,
          backend: opts.backend,
          registeredAfter: opts.registeredAfter,
          release: opts.release,
          timeoutSeconds: opts.timeout,
          intervalSeconds: opts.interval,
          json: opts.json,
        });
      },
    );

  return program;
}

/** Parses `argv` (without node and script) and runs the command; returns the exit code. */
export async function runCli(argv: readonly string[], ctx: Context): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help (exit 0), version, or a usage error commander already printed (with help after it)
      return err.exitCode;
    }
    if (
      err instanceof KinfraError ||
      err instanceof RegistryCorruptError ||
      err instanceof LockError
    ) {
      ctx.out.error(err.message);
      return err instanceof KinfraError ? err.exitCode : 1;
    }
    const text = errorText(err);
    const code = (err as NodeJS.ErrnoException | null)?.code;
    ctx.out.error(
      `${text}${typeof code === 'string' && !text.includes(code) ? ` (${code})` : ''}` +
        ' — this looks like a bug or an environment problem; please report it with the command you ran.',
    );
    return 1;
  }
}
