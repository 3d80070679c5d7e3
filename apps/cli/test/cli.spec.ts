/**
 * The BUILT `ktrdr` against the real built backend (in-memory SQLite, temp data dir) and real built
 * workers on loopback: followed backtests and trainings, failures, cancellation, Ctrl-C, --json,
 * NO_COLOR, exit codes, an unreachable backend.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { childProcessEnv } from '@ktrdr/config';
import { ANSI, KTRDR_MAIN, ktrdr, start } from './support/ktrdr';
import { Stack, freePort } from './support/stack';

const stack = new Stack();
/** The CLI's environment: only what a user would set. */
let env: Record<string, string>;

const BACKTEST = [
  '--symbol',
  'SYNTH-CLI',
  '--timeframe',
  '1h',
  '--start',
  '2024-01-01',
  '--end',
  '2024-07-01',
  '--strategy',
  'sma_crossover',
  '--fast',
  '10',
  '--slow',
  '30',
];

/** Slow enough to watch and interrupt: ~13k bars of 5m, two hidden layers, no early stop. */
const LONG_TRAINING = [
  '--symbol',
  'SYNTH-CLI',
  '--timeframe',
  '5m',
  '--start',
  '2024-01-01',
  '--end',
  '2024-02-15',
  '--hidden',
  '16,8',
  '--batch-size',
  '32',
  '--patience',
  '1000',
  '--epochs',
  '5000',
];

beforeAll(async () => {
  await stack.start({ backtest: ['backtest-cli-1'], training: ['training-cli-1'] });
  env = { KTRDR_API_CLIENT_BASE_URL: stack.api, KTRDR_DATA_DIR: stack.dataDir };
}, 180_000);

afterAll(async () => {
  await stack.stop();
});

const opId = (text: string): string => {
  const m = /op_(backtesting|training)_\d{8}_[0-9a-f]{12}/.exec(text);
  if (!m) throw new Error(`no operation id in:\n${text}`);
  return m[0];
};

async function waitForStatus(id: string, statuses: string[], timeoutMs = 60_000): Promise<string> {
  return stack.waitFor(
    `${id} in ${statuses.join('/')}`,
    async () => {
      const body = await stack.get(`/operations/${id}`);
      return statuses.includes(body.data.status) ? (body.data.status as string) : undefined;
    },
    timeoutMs,
  );
}

describe('ktrdr workers and status', () => {
  it('lists the workers (tab-separated without a TTY), filters by type, prints JSON', async () => {
    const all = await ktrdr(['workers'], env);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines[0]).toBe('ID\tTYPE\tSTATUS\tCURRENT OPERATION\tLAST SEEN');
    expect(lines.slice(1).map((l) => l.split('\t').slice(0, 3))).toEqual([
      ['backtest-cli-1', 'backtesting', 'available'],
      ['training-cli-1', 'training', 'available'],
    ]);
    expect(lines[1]).toMatch(/\t-\t\d+s ago$/);
    const training = await ktrdr(['workers', '--type', 'training'], env);
    expect(training.stdout.trim().split('\n').slice(1)).toHaveLength(1);
    expect(training.stdout).toMatch(/training-cli-1/);
    const json = await ktrdr(['workers', '--json', '--status', 'available'], env);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.total).toBe(2);
    expect(parsed.workers.map((w: { worker_id: string }) => w.worker_id).sort()).toEqual([
      'backtest-cli-1',
      'training-cli-1',
    ]);
  });

  it('ktrdr status: health, fleet counts and queue depth', async () => {
    const res = await ktrdr(['status'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`Backend\\s+${stack.api.replace(/[/.]/g, '\\$&')} ok`));
    expect(res.stdout).toMatch(/Workers\s+2 registered: 2 available, 0 busy/);
    expect(res.stdout).toMatch(/Queue\s+0 pending, 0 running/);
    const json = JSON.parse((await ktrdr(['--json', 'status'], env)).stdout);
    expect(json).toMatchObject({
      backend: { url: stack.api, healthy: true, ready: true },
      workers: { all: { total: 2, available: 2 } },
      queue: { pending: 0, running: 0 },
    });
  });
});

describe('ktrdr backtest run', () => {
  it('follows a backtest to completion: progress, then the results summary, exit 0', async () => {
    const res = await ktrdr(['backtest', 'run', ...BACKTEST], env);
    expect(res.code).toBe(0);
    const id = opId(res.stderr);
    expect(res.stderr).toMatch(new RegExp(`Started ${id} \\((running|dispatched|queued)[^)]*\\)`));
    // Progress lines (no TTY): percentage, status and worker.
    expect(res.stderr).toMatch(/\[\s*\d+%\] (running|dispatched) on backtest-cli-1/);
    expect(res.stdout).toMatch(new RegExp(`✔ Backtest ${id} completed in \\S+ on backtest-cli-1`));
    for (const label of [
      'Total return',
      'Sharpe ratio',
      'Max drawdown',
      'Trades',
      'Final equity',
    ]) {
      expect(res.stdout).toMatch(new RegExp(`^${label}\\s+\\S`, 'm'));
    }
    // The full result comes from /results (operations carry headline metrics only).
    const op = { result: (await stack.get(`/operations/${id}/results`)).data.result };
    expect(res.stdout).toMatch(new RegExp(`^Trades\\s+${op.result.num_trades}$`, 'm'));
    expect(res.stdout).toMatch(
      new RegExp(`^Total return\\s+${(op.result.total_return * 100).toFixed(2)}%$`, 'm'),
    );
    // The buy-and-hold benchmark over the same bars, and the return above it.
    expect(res.stdout).toMatch(
      new RegExp(`^Buy and hold\\s+${(op.result.benchmark.total_return * 100).toFixed(2)}%$`, 'm'),
    );
    expect(res.stdout).toMatch(
      new RegExp(`^Excess return\\s+${(op.result.excess_return * 100).toFixed(2)}%$`, 'm'),
    );
    // Messages and progress stay off stdout.
    expect(res.stdout).not.toMatch(/Started|\[\s*\d+%\]/);
  });

  it('--json: one JSON document on stdout with the operation and its summary', async () => {
    const res = await ktrdr(['--json', 'backtest', 'run', ...BACKTEST, '--capital', '50000'], env);
    expect(res.code).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc.operation).toMatchObject({
      operation_type: 'backtesting',
      status: 'completed',
      params: { initial_capital: 50000, strategy: { fast_period: 10, slow_period: 30 } },
    });
    expect(doc.summary).toMatchObject({
      initial_capital: 50000,
      sharpe_ratio: expect.any(Number),
      max_drawdown: expect.any(Number),
      num_trades: expect.any(Number),
      total_return: doc.operation.metrics.total_return,
      benchmark_return: expect.any(Number),
      excess_return: expect.any(Number),
    });
  });

  it('--file with flags on top, --detach prints only the id, ops follow finishes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ktrdr-req-'));
    try {
      const file = join(dir, 'request.json');
      writeFileSync(
        file,
        JSON.stringify({
          symbol: 'SYNTH-FILE',
          timeframe: '1h',
          start_date: '2024-01-01',
          end_date: '2024-03-01',
          strategy: { type: 'rsi_mean_reversion', period: 14, oversold: 30, overbought: 70 },
        }),
      );
      const res = await ktrdr(
        ['backtest', 'run', '--file', file, '--param', 'period=10', '--detach'],
        env,
      );
      expect(res.code).toBe(0);
      const id = res.stdout.trim();
      expect(id).toMatch(/^op_backtesting_\d{8}_[0-9a-f]{12}$/);
      expect(res.stderr).toMatch(`ktrdr ops follow ${id}`);
      const followed = await ktrdr(['ops', 'follow', id], env);
      expect(followed.code).toBe(0);
      expect(followed.stdout).toMatch(/Sharpe ratio/);
      const shown = JSON.parse((await ktrdr(['ops', 'show', id, '--json'], env)).stdout);
      expect(shown.params).toMatchObject({
        symbol: 'SYNTH-FILE',
        strategy: { type: 'rsi_mean_reversion', period: 10, oversold: 30 },
      });
      const trades = await ktrdr(['ops', 'trades', id, '--limit', '2', '--json'], env);
      expect(trades.code).toBe(0);
      const t = JSON.parse(trades.stdout);
      expect(t.trades.length).toBeLessThanOrEqual(2);
      expect(t.total_count).toBeGreaterThanOrEqual(t.trades.length);
      expect(t.trades[0]).toMatchObject({
        entry_price: expect.any(Number),
        pnl: expect.any(Number),
      });
      const results = await ktrdr(['ops', 'results', id], env);
      expect(results.stdout).toMatch(/^Max drawdown\s+\d/m);
      const list = await ktrdr(['ops', 'list', '--type', 'backtesting', '--limit', '1'], env);
      expect(list.stdout.split('\n')[1]).toMatch(
        new RegExp(`^${id}\tbacktesting\tcompleted\t100%`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing backtest (no data for the symbol) exits 1 with the reason', async () => {
    const res = await ktrdr(
      ['backtest', 'run', ...BACKTEST.map((a) => (a === 'SYNTH-CLI' ? 'NODATA' : a))],
      env,
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Error: Backtest op_backtesting_\S+ failed: .*NODATA/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  it('an invalid request exits 2 with the backend message naming the field, no stack', async () => {
    const res = await ktrdr(
      ['backtest', 'run', ...BACKTEST.map((a) => (a === '10' ? '40' : a))],
      env,
    );
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe('Error: strategy.fast_period must be less than slow_period');
    const missing = await ktrdr(['backtest', 'run', '--timeframe', '1h'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^Error: symbol is required/m);
  });

  it('usage errors exit 2; unknown operations exit 4', async () => {
    const bad = await ktrdr(['backtest', 'run', '--fast', 'ten'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--fast must be an integer \(got 'ten'\)/);
    expect((await ktrdr(['workers', '--bogus'], env)).code).toBe(2);
    expect((await ktrdr(['ops'], env)).code).toBe(2);
    expect((await ktrdr(['--help'], env)).code).toBe(0);
    const help = await ktrdr(['--help'], env);
    expect(help.stdout).toMatch(/Exit codes:\n\s+0\s+success/);
    const missing = await ktrdr(['ops', 'show', 'op_backtesting_20260101_000000000000'], env);
    expect(missing.code).toBe(4);
    expect(missing.stderr.trim()).toBe(
      'Error: Operation op_backtesting_20260101_000000000000 not found',
    );
    expect((await ktrdr(['ops', 'cancel', 'op_nope'], env)).code).toBe(4);
  });
});

describe('ktrdr train run', () => {
  it('follows a training: intermediate progress with the epoch, then loss and accuracy', async () => {
    const res = await ktrdr(
      [
        'train',
        'run',
        '--symbol',
        'SYNTH-CLI',
        '--timeframe',
        '5m',
        '--start',
        '2024-01-01',
        '--end',
        '2024-01-20',
        '--epochs',
        '60',
        '--patience',
        '1000',
        '--model-name',
        'cli-model',
      ],
      env,
    );
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/\[\s*([1-9]|[1-9]\d)%\] running on training-cli-1 · epoch \d+\/60/);
    expect(res.stdout).toMatch(/✔ Training op_training_\S+ completed/);
    expect(res.stdout).toMatch(/^Model\s+cli-model$/m);
    expect(res.stdout).toMatch(/^Epochs\s+60, best \d+$/m);
    expect(res.stdout).toMatch(/^Final loss\s+train \d+\.\d{4}, validation \d+\.\d{4}$/m);
    expect(res.stdout).toMatch(/^Best loss\s+train \d+\.\d{4}, validation \d+\.\d{4}$/m);
    expect(res.stdout).toMatch(/^Best accuracy\s+train \d+\.\d%, validation \d+\.\d%$/m);
  });

  it('a training cancelled while followed exits 1 and says it was cancelled', async () => {
    const run = start(['train', 'run', ...LONG_TRAINING], env);
    await run.waitForOutput(/\[\s*\d+%\] running on training-cli-1/);
    const id = opId(run.stderr());
    const cancel = await ktrdr(['ops', 'cancel', id], env);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toMatch(new RegExp(`^${id} cancelled: `));
    const res = await run.done;
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`Error: Training ${id} cancelled: Cancelled by user`));
    await stack.registered('training-cli-1');
  });

  it('Ctrl-C detaches (exit 130, the training keeps running); --cancel-on-interrupt cancels', async () => {
    const run = start(['train', 'run', ...LONG_TRAINING], env);
    await run.waitForOutput(/\[\s*\d+%\] running on training-cli-1/);
    const id = opId(run.stderr());
    run.child.kill('SIGINT');
    const res = await run.done;
    expect(res.code).toBe(130);
    expect(res.stderr).toMatch(
      new RegExp(
        `Detached from ${id}; it keeps running\\. .*ktrdr ops follow ${id} .*ktrdr ops cancel ${id}`,
      ),
    );
    expect((await stack.get(`/operations/${id}`)).data.status).toBe('running');

    const follow = start(['ops', 'follow', id, '--cancel-on-interrupt'], env);
    await follow.waitForOutput(/\[\s*\d+%\] running on training-cli-1/);
    follow.child.kill('SIGINT');
    const cancelled = await follow.done;
    expect(cancelled.code).toBe(1);
    expect(cancelled.stderr).toMatch(`Interrupted: cancelling ${id}`);
    expect(cancelled.stderr).toMatch(new RegExp(`Training ${id} cancelled`));
    expect(await waitForStatus(id, ['cancelled'])).toBe('cancelled');
    await stack.registered('training-cli-1');
  });
});

describe('the queue and sweeps', () => {
  /** A year of one-minute bars (~525k): keeps the one backtest worker busy for a few seconds. */
  const LONG_BACKTEST = BACKTEST.map((a) =>
    a === '1h' ? '1m' : a === '2024-01-01' ? '2023-01-01' : a === '2024-07-01' ? '2024-01-01' : a,
  );

  it('shows the queue position while an operation waits, then follows it to completion', async () => {
    const first = await ktrdr(['backtest', 'run', ...LONG_BACKTEST, '--detach'], env);
    expect(first.code).toBe(0);
    const blocker = first.stdout.trim();
    await waitForStatus(blocker, ['dispatched', 'running', 'completed']);
    const res = await ktrdr(['backtest', 'run', ...BACKTEST], env);
    expect(res.code).toBe(0);
    const id = opId(res.stderr.replace(blocker, ''));
    // Either the start answer or the follower says it is queued, with its place.
    expect(res.stderr).toMatch(/queued,? (at )?position 1/);
    expect(res.stdout).toMatch(new RegExp(`✔ Backtest ${id} completed`));
    expect((await stack.get(`/operations/${blocker}`)).data.status).toBe('completed');
  });

  it('ktrdr sweep run: a 3 x 2 grid, every child completed, ranked by Sharpe (exit 0)', async () => {
    const res = await ktrdr(
      [
        'sweep',
        'run',
        'backtest',
        ...BACKTEST.filter(
          (a, i, all) =>
            !['--fast', '--slow'].includes(all[i - 1] ?? '') && a !== '--fast' && a !== '--slow',
        ),
        '--grid',
        'fast_period=5,10,20',
        '--grid',
        'slow_period=30,50',
      ],
      env,
    );
    expect(res.code).toBe(0);
    const sweepId = /sweep_\d{8}_[0-9a-f]{12}/.exec(res.stderr)![0];
    expect(res.stderr).toMatch(`Queued sweep ${sweepId}: 6 operations`);
    expect(res.stderr).toMatch(`sweep ${sweepId}: 6/6 finished (6 completed`);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe(`Sweep ${sweepId}: 6/6 completed, ranked by sharpe_ratio (desc)`);
    expect(lines[1]).toBe(
      '#\tOPERATION\tSTATUS\tfast_period\tslow_period\tsharpe_ratio\ttotal_return\tmax_drawdown\tnum_trades',
    );
    const rows = lines.slice(2).map((l) => l.split('\t'));
    expect(rows).toHaveLength(6);
    const sharpe = rows.map((r) => Number(r[5]));
    expect([...sharpe].sort((a, b) => b - a)).toEqual(sharpe);
    expect(rows.map((r) => `${r[3]}/${r[4]}`).sort()).toEqual([
      '10/30',
      '10/50',
      '20/30',
      '20/50',
      '5/30',
      '5/50',
    ]);
    // The ranking matches each child's own result.
    for (const r of rows) {
      const op = (await stack.get(`/operations/${r[1]}`)).data;
      expect(op).toMatchObject({ status: 'completed', sweep_id: sweepId });
      expect(op.params.strategy).toMatchObject({
        fast_period: Number(r[3]),
        slow_period: Number(r[4]),
      });
      expect(Number(r[5])).toBeCloseTo(op.metrics.sharpe_ratio, 3);
    }
    // --json and ascending order through sweep show.
    const shown = await ktrdr(['--json', 'sweep', 'show', sweepId, '--order', 'asc'], env);
    expect(shown.code).toBe(0);
    const doc = JSON.parse(shown.stdout);
    expect(doc).toMatchObject({
      sweep_id: sweepId,
      total: 6,
      sort: 'sharpe_ratio',
      counts: { completed: 6 },
    });
    const asc = doc.children.map(
      (c: { metrics: { sharpe_ratio: number } }) => c.metrics.sharpe_ratio,
    );
    expect([...asc].sort((a: number, b: number) => a - b)).toEqual(asc);
  });

  it('a sweep from a file with a failing child exits 1 and names the failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ktrdr-sweep-'));
    try {
      const file = join(dir, 'sweep.json');
      writeFileSync(
        file,
        JSON.stringify({
          base: {
            timeframe: '1h',
            start_date: '2024-01-01',
            end_date: '2024-03-01',
            strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
          },
          grid: { symbol: ['SYNTH-OK', 'NODATA'] },
        }),
      );
      const res = await ktrdr(['sweep', 'run', '--file', file], env);
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/1\/2 completed/);
      expect(res.stderr).toMatch(/op_backtesting_\S+ failed: .*NODATA/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a sweep without a grid is a usage error', async () => {
    const res = await ktrdr(['sweep', 'run', ...BACKTEST], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/A sweep needs a grid/);
  });
});

describe('colours', () => {
  it('FORCE_COLOR turns colours on without a TTY; NO_COLOR and --no-color turn them off', async () => {
    const forced = await ktrdr(['workers'], { ...env, FORCE_COLOR: '1' });
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(ANSI);
    const noColor = await ktrdr(['workers'], { ...env, FORCE_COLOR: '1', NO_COLOR: '1' });
    expect(noColor.stdout).not.toMatch(ANSI);
    expect(noColor.stdout).toMatch(/backtest-cli-1\tbacktesting\tavailable/);
    const flag = await ktrdr(['--no-color', 'workers'], { ...env, FORCE_COLOR: '1' });
    expect(flag.stdout).not.toMatch(ANSI);
    const failed = await ktrdr(['ops', 'show', 'op_nope'], {
      ...env,
      FORCE_COLOR: '1',
      NO_COLOR: '1',
    });
    expect(failed.stderr).not.toMatch(ANSI);
    const run = await ktrdr(['backtest', 'run', ...BACKTEST], {
      ...env,
      NO_COLOR: '1',
      FORCE_COLOR: '1',
    });
    expect(run.code).toBe(0);
    expect(run.stdout + run.stderr).not.toMatch(ANSI);
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  (hasScript ? it : it.skip)(
    'on a TTY: a drawn table, and NO_COLOR still leaves out escape codes',
    () => {
      const cmd = (extra: string) =>
        spawnSync(
          'script',
          ['-qec', `${extra} ${process.execPath} ${KTRDR_MAIN} workers`, '/dev/null'],
          {
            env: { PATH: childProcessEnv().PATH ?? '', TERM: 'xterm', ...env },
            encoding: 'utf8',
            timeout: 30_000,
          },
        );
      const tty = cmd('');
      expect(tty.stdout).toMatch(/┌─+/);
      expect(tty.stdout).toMatch(/│ backtest-cli-1/);
      expect(tty.stdout).toMatch(ANSI);
      const plain = cmd('NO_COLOR=1');
      expect(plain.stdout).toMatch(/┌─+/);
      expect(plain.stdout).not.toMatch(ANSI);
      // stdout to a file from a terminal: each stream decides on its own, so the file gets
      // tab-separated lines without escape codes while stderr stays a terminal.
      const dir = mkdtempSync(join(tmpdir(), 'ktrdr-cli-redirect-'));
      try {
        const file = join(dir, 'workers.tsv');
        const redirected = spawnSync(
          'script',
          ['-qec', `${process.execPath} ${KTRDR_MAIN} workers > ${file}`, '/dev/null'],
          {
            env: { PATH: childProcessEnv().PATH ?? '', TERM: 'xterm', ...env },
            encoding: 'utf8',
            timeout: 30_000,
          },
        );
        expect(redirected.status).toBe(0);
        const written = readFileSync(file, 'utf8');
        expect(written).toMatch(/backtest-cli-1\tbacktesting\tavailable/);
        expect(written).not.toMatch(ANSI);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('reaching the backend', () => {
  it('exit 3 naming the URL when nothing listens there', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/api/v1`;
    const res = await ktrdr(['workers'], { ...env, KTRDR_API_CLIENT_BASE_URL: url });
    expect(res.code).toBe(3);
    expect(res.stderr.trim()).toBe(
      `Error: Backend unreachable at ${url} (connect ECONNREFUSED 127.0.0.1:${port}). Is it running? Point the CLI at it with --api-url or KTRDR_API_CLIENT_BASE_URL.`,
    );
    const flag = await ktrdr(['--api-url', `http://127.0.0.1:${port}`, 'status'], env);
    expect(flag.code).toBe(3);
    expect(flag.stderr).toMatch(`Backend unreachable at ${url} `);
    const run = await ktrdr(['backtest', 'run', ...BACKTEST, '--api-url', url], env);
    expect(run.code).toBe(3);
  });

  it('KTRDR_API_CLIENT_RETRIES: retries a GET whose connection drops, then gives up (exit 3)', async () => {
    let connections = 0;
    const sockets: Socket[] = [];
    // Takes the request, then drops the connection without an answer.
    const srv = createTcpServer((s) => {
      connections += 1;
      sockets.push(s);
      s.on('data', () => s.destroy());
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const url = `http://127.0.0.1:${port}/api/v1`;
      const res = await ktrdr(['workers'], {
        ...env,
        KTRDR_API_CLIENT_BASE_URL: url,
        KTRDR_API_CLIENT_RETRIES: '2',
      });
      expect(res.code).toBe(3);
      expect(res.stderr).toMatch(/other side closed/);
      expect(connections).toBe(3);
      connections = 0;
      await ktrdr(['workers'], {
        ...env,
        KTRDR_API_CLIENT_BASE_URL: url,
        KTRDR_API_CLIENT_RETRIES: '0',
      });
      expect(connections).toBe(1);
    } finally {
      srv.close();
    }
  });

  it('KTRDR_API_CLIENT_TIMEOUT: a backend that never answers is abandoned (exit 3)', async () => {
    const held: Socket[] = [];
    const srv = createTcpServer((s) => held.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const res = await ktrdr(['workers'], {
        ...env,
        KTRDR_API_CLIENT_BASE_URL: `http://127.0.0.1:${port}/api/v1`,
        KTRDR_API_CLIENT_TIMEOUT: '0.5',
        KTRDR_API_CLIENT_RETRIES: '0',
      });
      expect(res.code).toBe(3);
      expect(res.stderr).toMatch(/no answer within 0\.5 s/);
      expect(res.ms).toBeLessThan(15_000);
    } finally {
      for (const s of held) s.destroy();
      srv.close();
    }
  });

  it('an invalid setting is a usage error naming the variable', async () => {
    const res = await ktrdr(['workers'], { ...env, KTRDR_API_CLIENT_RETRIES: 'many' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/KTRDR_API_CLIENT_RETRIES/);
  });

  it('sends the API key as a bearer token: --api-key, else KTRDR_API_KEY, else <data dir>/dev-api-key', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const srv = createHttpServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ total: 0, workers: [] }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'ktrdr-key-'));
    try {
      const base = {
        KTRDR_API_CLIENT_BASE_URL: `http://127.0.0.1:${port}/api/v1`,
        KTRDR_DATA_DIR: dataDir,
      };
      await ktrdr(['workers'], base);
      expect(seen.pop()!.authorization).toBeUndefined();
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(join(dataDir, 'dev-api-key'), 'dev-key-123\n', { mode: 0o600 });
      await ktrdr(['workers'], base);
      expect(seen.pop()!.authorization).toBe('Bearer dev-key-123');
      await ktrdr(['workers'], { ...base, KTRDR_API_KEY: 'env-key' });
      expect(seen.pop()!.authorization).toBe('Bearer env-key');
      await ktrdr(['--api-key', 'flag-key', 'workers'], { ...base, KTRDR_API_KEY: 'env-key' });
      expect(seen.pop()!.authorization).toBe('Bearer flag-key');
    } finally {
      srv.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
