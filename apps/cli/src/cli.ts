/** The `ktrdr` command line (commander). runCli() never calls process.exit: it returns the exit code. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Argument, Command, CommanderError, Option } from 'commander';
import { ApiClientSettings } from '@ktrdr/config';
import {
  BACKEND_ROUTES,
  errorText,
  OperationStatus,
  WorkerStatus,
  WorkerType,
} from '@ktrdr/contracts/constants';
import {
  followCommand,
  opsCancelCommand,
  opsListCommand,
  opsResultsCommand,
  opsResumeCommand,
  opsShowCommand,
  opsTradesCommand,
  runCommand,
  statusCommand,
  workersCommand,
} from './commands';
import { createSession, type CliEnvironment, type GlobalOptions, type Io } from './context';
import { CliError, EXIT } from './errors';
import { DetachedError } from './follow';
import { Output, coloursEnabled } from './output';
import {
  backtestRequest,
  gridArg,
  intArg,
  keyValueArg,
  listArg,
  numberArg,
  sweepRequest,
  trainingRequest,
  type BacktestFlags,
  type TrainFlags,
} from './requests';
import { sweepCancelCommand, sweepRunCommand, sweepShowCommand } from './sweep';

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

export const EXIT_CODES_HELP = `
Exit codes:
  0    success (a followed operation completed)
  1    the operation failed or was cancelled, or the backend refused the request (409, 429, 5xx)
  2    usage error: unknown command or option, invalid value, invalid request (400), bad credentials
  3    the backend could not be reached (the message names the URL)
  4    not found (no such operation, worker or sweep)
  130  Ctrl-C while following: detached, the operation keeps running

Settings: KTRDR_API_CLIENT_BASE_URL (default ${String(ApiClientSettings.fields.base_url.default)}), KTRDR_API_KEY,
KTRDR_API_CLIENT_TIMEOUT, KTRDR_API_CLIENT_RETRIES, NO_COLOR; see docs/configuration.md.`;

const OPERATION_STATUSES: readonly string[] = Object.values(OperationStatus);
const WORKER_TYPES: readonly string[] = Object.values(WorkerType);
const WORKER_STATUSES: readonly string[] = Object.values(WorkerStatus);

function marketOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <request.json>', 'start request as JSON (flags override its fields)')
    .option('-s, --symbol <symbol>', 'ticker, or SYNTH-<name> for synthetic bars')
    .option('-t, --timeframe <tf>', '1m, 5m, 15m, 30m, 1h, 4h, 1d or 1w')
    .option('--start <date>', 'first date (ISO-8601, inclusive)')
    .option('--end <date>', 'end date (ISO-8601, exclusive)')
    .option('--priority <n>', 'queue priority, -100..100 (higher first)', intArg('--priority'))
    .option(
      '--set <field=value>',
      'set any request field (dotted path, JSON value); repeatable',
      keyValueArg,
    );
}

function backtestOptions(cmd: Command): Command {
  return backtestOnlyOptions(marketOptions(cmd));
}

function trainOptions(cmd: Command): Command {
  return trainOnlyOptions(marketOptions(cmd));
}

function backtestOnlyOptions(cmd: Command): Command {
  return cmd
    .option('--strategy <type>', 'sma_crossover, rsi_mean_reversion or model')
    .option('--fast <n>', 'sma_crossover: fast SMA period', intArg('--fast'))
    .option('--slow <n>', 'sma_crossover: slow SMA period', intArg('--slow'))
    .option('--period <n>', 'rsi_mean_reversion: RSI period', intArg('--period'))
    .option('--oversold <x>', 'rsi_mean_reversion: buy below this RSI', numberArg('--oversold'))
    .option(
      '--overbought <x>',
      'rsi_mean_reversion: sell above this RSI',
      numberArg('--overbought'),
    )
    .option('--model <name>', 'model: name of a trained model')
    .option('--threshold <p>', 'model: probability to go long', numberArg('--threshold'))
    .option('-p, --param <name=value>', 'any strategy parameter; repeatable', keyValueArg)
    .option('--capital <amount>', 'starting cash', numberArg('--capital'))
    .option('--commission <fraction>', 'per side, fraction of notional', numberArg('--commission'))
    .option('--slippage <fraction>', 'fraction of price', numberArg('--slippage'));
}

function trainOnlyOptions(cmd: Command): Command {
  return cmd
    .option('--features <list>', 'comma-separated features (default: all)', listArg)
    .option('--hidden <sizes>', 'hidden layer sizes, e.g. 16,8', listArg)
    .option('--epochs <n>', 'most epochs', intArg('--epochs'))
    .option('--learning-rate <x>', 'Adam learning rate', numberArg('--learning-rate'))
    .option('--batch-size <n>', 'mini-batch size', intArg('--batch-size'))
    .option('--validation-split <x>', 'fraction held out', numberArg('--validation-split'))
    .option(
      '--patience <n>',
      'early stopping patience in epochs (default 5; 0: run every epoch)',
      intArg('--patience'),
    )
    .option('--min-delta <x>', 'early stopping: smallest improvement', numberArg('--min-delta'))
    .option('--seed <n>', 'random seed', intArg('--seed'))
    .option('--model-name <name>', 'name of the saved model');
}

function interruptOption(cmd: Command): Command {
  return cmd.option(
    '--cancel-on-interrupt',
    'Ctrl-C cancels the operation instead of detaching',
    false,
  );
}

function followOptions(cmd: Command): Command {
  return interruptOption(
    cmd.option('-d, --detach', 'print the id and return instead of following', false),
  );
}

export function buildProgram(env: CliEnvironment, io: Io, exit: { code: number }): Command {
  const program = new Command('ktrdr');
  program
    .description(
      'Command-line client of the KTRDR backend: workers, backtests, trainings, sweeps, operations',
    )
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .version(packageVersion(), '-V, --version', 'print the ktrdr version')
    .option('--api-url <url>', 'backend API URL (default: KTRDR_API_CLIENT_BASE_URL)')
    .option('--api-key <key>', 'API key (default: KTRDR_API_KEY, else <data dir>/dev-api-key)')
    .option('--json', 'machine-readable JSON on stdout (messages stay on stderr)', false)
    .option('--no-color', 'no colours (also NO_COLOR)')
    .exitOverride()
    .showHelpAfterError('(ktrdr --help for usage)')
    .helpCommand(false)
    .addHelpText('after', EXIT_CODES_HELP);

  /** Wraps an action: a session from the global options, the exit code from the command. */
  const act =
    <A extends unknown[]>(
      fn: (session: ReturnType<typeof createSession>, ...args: A) => Promise<number>,
    ) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const session = createSession(env, io, g);
      exit.code = await fn(session, ...(args.slice(0, -1) as A));
    };

  program
    .command('status')
    .description('Backend health, fleet counts and queue depth')
    .action(act(async (s) => statusCommand(s)));

  program
    .command('workers')
    .description('Registered workers: id, type, status, current operation, last seen')
    .addOption(new Option('--type <type>', 'only this worker type').choices(WORKER_TYPES))
    .addOption(new Option('--status <status>', 'only this status').choices(WORKER_STATUSES))
    .action(act(async (s, opts: { type?: string; status?: string }) => workersCommand(s, opts)));

  const backtest = program.command('backtest').description('Backtests');
  followOptions(backtestOptions(backtest.command('run')))
    .description('Start a backtest and follow it to its results')
    .addHelpText(
      'after',
      '\nExample:\n  ktrdr backtest run --symbol SYNTH-DEMO --timeframe 1h --start 2024-01-01 --end 2024-07-01 \\\n    --strategy sma_crossover --fast 10 --slow 30',
    )
    .action(
      act(async (s, opts: BacktestFlags & { detach: boolean; cancelOnInterrupt: boolean }) =>
        runCommand(s, BACKEND_ROUTES.backtestsStart, backtestRequest(opts), opts),
      ),
    );

  const train = program.command('train').description('Trainings');
  followOptions(trainOptions(train.command('run')))
    .description('Start a training and follow it to its results')
    .addHelpText(
      'after',
      '\nExample:\n  ktrdr train run --symbol SYNTH-DEMO --timeframe 1h --start 2024-01-01 --end 2024-03-01 \\\n    --epochs 20 --model-name demo-mlp',
    )
    .action(
      act(async (s, opts: TrainFlags & { detach: boolean; cancelOnInterrupt: boolean }) =>
        runCommand(s, BACKEND_ROUTES.trainingsStart, trainingRequest(opts), opts),
      ),
    );

  const sweep = program
    .command('sweep')
    .description('Parameter sweeps (a grid of backtests or trainings)');
  const sweepRun = sweep
    .command('run')
    .description('Queue one operation per grid combination, follow them, print them ranked')
    .addArgument(
      new Argument('[kind]', 'what to sweep').choices(['backtest', 'train']).default('backtest'),
    )
    .option(
      '-g, --grid <name=v1,v2,...>',
      'values of one parameter: a request field, a strategy parameter, a dotted path, or a flag name (fast, slow, learning-rate, …); repeatable',
      gridArg,
    )
    .option(
      '--sort <metric>',
      'rank by this metric (default: sharpe_ratio; trainings: val_accuracy)',
    )
    .addOption(new Option('--order <order>', 'ranking order').choices(['asc', 'desc']));
  followOptions(trainOnlyOptions(backtestOptions(sweepRun)))
    .addHelpText(
      'after',
      '\nExample:\n  ktrdr sweep run backtest --symbol SYNTH-DEMO --timeframe 1h --start 2024-01-01 --end 2024-04-01 \\\n    --strategy sma_crossover --grid fast_period=5,10,20 --grid slow_period=30,50\n\n--file may hold { "base": {...}, "grid": {...}, "priority": n } or just the base request.',
    )
    .action(
      act(
        async (
          s,
          kind: 'backtest' | 'train',
          opts: BacktestFlags &
            TrainFlags & {
              grid?: [string, unknown[]][];
              sort?: string;
              order?: 'asc' | 'desc';
              detach: boolean;
              cancelOnInterrupt: boolean;
            },
        ) => sweepRunCommand(s, kind, sweepRequest(kind, opts), opts),
      ),
    );
  sweep
    .command('show')
    .description('A sweep: counts and its children ranked by a metric')
    .argument('<sweep-id>')
    .option('--sort <metric>', 'rank by this metric')
    .addOption(new Option('--order <order>', 'ranking order').choices(['asc', 'desc']))
    .action(
      act(async (s, id: string, opts: { sort?: string; order?: 'asc' | 'desc' }) =>
        sweepShowCommand(s, id, opts),
      ),
    );
  sweep
    .command('cancel')
    .description('Cancel every unfinished operation of a sweep')
    .argument('<sweep-id>')
    .action(act(async (s, id: string) => sweepCancelCommand(s, id)));

  const ops = program
    .command('ops')
    .description('Operations: list, show, follow, cancel, resume, results, trades');
  ops
    .command('list')
    .description('Operations, newest first (pending ones in dispatch order with --status pending)')
    .addOption(new Option('--status <status>', 'only this status').choices(OPERATION_STATUSES))
    .addOption(new Option('--type <type>', 'only this type').choices(['backtesting', 'training']))
    .option('--limit <n>', 'at most this many (1-1000, default 100)', intArg('--limit'))
    .option('--offset <n>', 'skip this many', intArg('--offset'))
    .action(
      act(async (s, opts: { status?: string; type?: string; limit?: number; offset?: number }) =>
        opsListCommand(s, opts),
      ),
    );
  ops
    .command('show')
    .description('One operation: status, progress, worker, checkpoint, params (and results)')
    .argument('<operation-id>')
    .action(act(async (s, id: string) => opsShowCommand(s, id)));
  interruptOption(
    ops
      .command('follow')
      .description('Follow an operation to its end with a progress bar, then print its results')
      .argument('<operation-id>'),
  ).action(
    act(async (s, id: string, opts: { cancelOnInterrupt: boolean }) => followCommand(s, id, opts)),
  );
  ops
    .command('cancel')
    .description('Cancel a pending or running operation')
    .argument('<operation-id>')
    .action(act(async (s, id: string) => opsCancelCommand(s, id)));
  followOptions(
    ops
      .command('resume')
      .description('Resume a failed or cancelled operation from its checkpoint, and follow it')
      .argument('<operation-id>'),
  ).action(
    act(async (s, id: string, opts: { detach: boolean; cancelOnInterrupt: boolean }) =>
      opsResumeCommand(s, id, opts),
    ),
  );
  ops
    .command('results')
    .description('Results summary of a completed operation (--json: the whole result)')
    .argument('<operation-id>')
    .action(act(async (s, id: string) => opsResultsCommand(s, id)));
  ops
    .command('trades')
    .description('Trades of a completed backtest')
    .argument('<operation-id>')
    .option('--limit <n>', 'at most this many (default 50)', intArg('--limit'))
    .option('--offset <n>', 'skip this many', intArg('--offset'))
    .action(
      act(async (s, id: string, opts: { limit?: number; offset?: number }) =>
        opsTradesCommand(s, id, opts),
      ),
    );

  return program;
}

/** Parses and runs; returns the exit code. Errors are one line on stderr, never a stack. */
export async function runCli(argv: string[], env: CliEnvironment, io: Io): Promise<number> {
  const exit = { code: EXIT.OK as number };
  const program = buildProgram(env, io, exit);
  // Every subcommand reports usage errors the same way.
  const setup = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
    cmd.commands.forEach(setup);
  };
  program.commands.forEach(setup);
  const colourEnv = { no_color: env.noColor, force_color: env.forceColor };
  const colourFlag = argv.includes('--no-color') ? false : undefined;
  const out = new Output(
    io.stdout,
    io.stderr,
    {
      stdout: coloursEnabled(io.stdout.isTTY, colourEnv, colourFlag),
      stderr: coloursEnabled(io.stderr.isTTY, colourEnv, colourFlag),
    },
    false,
  );
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; a missing subcommand shows help, exit 2.
      // Commander printed its message already.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (err instanceof DetachedError) {
      io.stderr.write(`\n${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof CliError) {
      out.error(err.message);
      return err.exitCode;
    }
    // A bug: still one line, no stack.
    out.error(`unexpected error: ${errorText(err)}`);
    return EXIT.FAILED;
  }
}
