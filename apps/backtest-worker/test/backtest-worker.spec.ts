import type { BacktestStartRequestDto, WorkerBacktestStartRequestDto } from '@ktrdr/contracts';
import { ARTIFACT_COLUMNS } from '@ktrdr/contracts';
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { runBacktest, TRADE_COLUMNS, tradeList } from '@ktrdr/backtest-engine';
import { withEnv } from '@ktrdr/config';
import { loadBars } from '@ktrdr/market-data';
import {
  predictSignals,
  resolveTrainingConfig,
  saveModel,
  trainModel,
} from '@ktrdr/training-engine';
import { createWorkerApp, WorkerRuntime, WorkerRuntimeModule } from '@ktrdr/worker-runtime';
import {
  FakeBackend,
  recordingLogger,
  tempDir,
  testRuntimeConfig,
  until,
  signedFetch,
  dispatchBody,
} from '@ktrdr/worker-runtime/testing';
import { backtestEngine } from '../src/engine';
import { prepareBacktestJob } from '../src/job';
import { loadSettings, ResultsSettings } from '@ktrdr/config';

/** ResultsSettings' defaults (no environment), for job data built by hand. */
const RESULTS_DEFAULTS = loadSettings(ResultsSettings, { env: {} });

// Each job starts a thread that loads the engines: seconds on a loaded machine.
jest.setTimeout(60_000);

const PROGRESS = /\/progress$/;

let backend: FakeBackend;
let app: INestApplication;
let runtime: WorkerRuntime;
let url: string;
let tmp: { dir: string; cleanup: () => void };

beforeAll(async () => {
  tmp = tempDir('ktrdr-btw-');
  mkdirSync(join(tmp.dir, 'models'));
  backend = await new FakeBackend().start();
  runtime = new WorkerRuntime(
    {
      ...backtestEngine,
      prepareJob: (request) =>
        ({
          ...prepareBacktestJob(request.params as BacktestStartRequestDto, {
            data_dir: tmp.dir,
            models_dir: join(tmp.dir, 'models'),
            ...RESULTS_DEFAULTS,
          }),
        }) as Record<string, unknown>,
    },
    testRuntimeConfig(backend.baseUrl, join(tmp.dir, 'checkpoints'), {
      worker_id: 'backtesting-worker-apptest',
    }),
    { logger: recordingLogger(), defaultMetrics: false },
  );
  ({ app } = await createWorkerApp(
    WorkerRuntimeModule.forRoot({ engine: runtime.engine, runtime }),
    false,
  ));
  await app.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.close();
  await backend.stop();
  tmp.cleanup();
});

async function start(
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await signedFetch(`${url}/backtests/start`, { body: dispatchBody(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function run(id: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await start({ operation_id: id, lease_token: `lease-${id}`, attempt: 1, ...params });
  expect(res.status).toBe(200);
  const done = await backend.waitFor((r) => r.path === `/api/v1/operations/${id}/complete`, 30_000);
  await until(() => runtime.currentOperationId === null);
  return done.body as Record<string, unknown>;
}

const SMA = { type: 'sma_crossover', fast_period: 10, slow_period: 30 };

describe('backtest worker', () => {
  it('runs a SYNTH backtest in the worker thread and reports the engine result', async () => {
    const params = {
      symbol: 'SYNTH-APPTEST',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-03-01',
      strategy: SMA,
      commission: 0.001,
      slippage: 0.0005,
    };
    const report = await run('op-bt-1', params);
    expect(report.status).toBe('completed');
    const result = report.result as Record<string, unknown>;
    // The same bars and config through the engine directly give the same numbers.
    const bars = loadBars({ ...params, dataDir: tmp.dir });
    const direct = runBacktest(bars, {
      strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
      initial_capital: 100_000,
      commission: 0.001,
      slippage: 0.0005,
    });
    expect(bars.length).toBe(60 * 24);
    expect(result).toMatchObject({
      total_return: direct.total_return,
      sharpe_ratio: direct.sharpe_ratio,
      max_drawdown: direct.max_drawdown,
      num_trades: direct.num_trades,
      final_equity: direct.final_equity,
      bars_total: 1440,
      symbol: 'SYNTH-APPTEST',
      resumed_from_bar: null,
    });
    expect(direct.num_trades).toBeGreaterThan(0);
    expect((result.equity_curve as unknown[]).length).toBeLessThanOrEqual(500);
    // Every trade and bar went up as lease-fenced chunks before the completion.
    const uploads = backend
      .matching('PUT', /\/operations\/op-bt-1\/artifacts\/(trades|equity)\/chunks\/\d+$/)
      .map((r) => ({ kind: r.path.split('/').at(-3), body: r.body as Record<string, unknown> }));
    const rowsOf = (kind: string) =>
      uploads.filter((u) => u.kind === kind).flatMap((u) => u.body.rows as number[][]);
    expect(rowsOf('trades')).toHaveLength(direct.num_trades);
    const first = tradeList(direct.trades)[0];
    expect(rowsOf('trades')[0]).toEqual([
      Date.parse(first.entry_time),
      Date.parse(first.exit_time),
      first.entry_price,
      first.exit_price,
      first.quantity,
      first.pnl,
      first.return_pct,
      first.bars_held,
    ]);
    // The engine's trade columns are the artifact's (the worker uploads them as they are).
    expect([...TRADE_COLUMNS]).toEqual(ARTIFACT_COLUMNS.trades);
    expect(rowsOf('equity')).toHaveLength(1440);
    expect(uploads.every((u) => u.body.lease_token === 'lease-op-bt-1')).toBe(true);
    expect(result.benchmark).toEqual(direct.benchmark);
    expect(result.trades_summary).toMatchObject({ total: direct.num_trades, omitted: 0 });
    const progress = backend.matching('POST', PROGRESS).filter((r) => r.path.includes('op-bt-1'));
    const last = progress[progress.length - 1].body as { progress: Record<string, unknown> };
    expect(last.progress).toMatchObject({
      items_processed: 1440,
      items_total: 1440,
      percentage: 100,
    });
  });

  it('reads {SYMBOL}_{timeframe}.csv from the data dir, filtered to the requested dates', async () => {
    const lines = ['timestamp,open,high,low,close,volume'];
    let price = 100;
    for (let i = 0; i < 80; i++) {
      const t = new Date(Date.UTC(2024, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
      const next = price * (1 + 0.02 * Math.sin(i / 3));
      lines.push(
        `${t},${price},${Math.max(price, next) + 1},${Math.min(price, next) - 1},${next},1000`,
      );
      price = next;
    }
    writeFileSync(join(tmp.dir, 'ACME_1d.csv'), lines.join('\n') + '\n');
    const report = await run('op-bt-csv', {
      symbol: 'ACME',
      timeframe: '1d',
      start_date: '2024-01-11',
      end_date: '2024-03-01',
      strategy: { type: 'rsi_mean_reversion', period: 5, oversold: 35, overbought: 65 },
    });
    expect(report.status).toBe('completed');
    const result = report.result as { bars_total: number; equity_curve: { time: string }[] };
    expect(result.bars_total).toBe(50); // 2024-01-11 .. 2024-02-29
    expect(result.equity_curve[0].time).toBe('2024-01-11T00:00:00.000Z');
  });

  /** Runs and measures the time from the dispatch to the completion report. */
  async function timed(id: string, params: Record<string, unknown>) {
    const t0 = Date.now();
    const report = await run(id, params);
    return { report, ms: Date.now() - t0 };
  }

  it('fails an unknown symbol within a second, naming the file it looked for', async () => {
    const { report, ms } = await timed('op-bt-nodata', {
      symbol: 'NOPE',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-02-01',
      strategy: SMA,
    });
    expect(report).toMatchObject({ status: 'failed', result: null });
    expect(report.error_message).toBe(
      // The server path is shortened to the file name (no server paths in API answers).
      'No data for symbol NOPE timeframe 1h: expected file NOPE_1h.csv (or use a SYNTH-* symbol)',
    );
    expect(ms).toBeLessThan(1000);
  });

  it('fails a timeframe without a file within a second, naming the files there are', async () => {
    writeFileSync(
      join(tmp.dir, 'TFX_1d.csv'),
      'timestamp,open,high,low,close,volume\n2024-01-01,1,2,1,1,0\n',
    );
    const { report, ms } = await timed('op-bt-notf', {
      symbol: 'TFX',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-02-01',
      strategy: SMA,
    });
    expect(report.status).toBe('failed');
    expect(report.error_message).toBe(
      // No server paths in answers (issue 15): file names, and the data directory's own name.
      `No data for symbol TFX timeframe 1h: expected file TFX_1h.csv; files for TFX in ${basename(tmp.dir)}: TFX_1d.csv (or use a SYNTH-* symbol)`,
    );
    expect(ms).toBeLessThan(1000);
  });

  it('fails a file whose header has no usable columns within a second, before reading it', async () => {
    writeFileSync(join(tmp.dir, 'HDR_1d.csv'), 'when,price\n2024-01-01,1\n');
    const { report, ms } = await timed('op-bt-header', {
      symbol: 'HDR',
      timeframe: '1d',
      start_date: '2024-01-01',
      end_date: '2024-02-01',
      strategy: SMA,
    });
    expect(report.status).toBe('failed');
    expect(report.error_message).toContain('HDR_1d.csv:1: header has no time column');
    expect(ms).toBeLessThan(1000);
  });

  it('fails a missing model within a second, even on a long SYNTH series', async () => {
    const { report, ms } = await timed('op-bt-nomodel-fast', {
      symbol: 'SYNTH-LONG',
      timeframe: '1m',
      start_date: '2000-01-01',
      end_date: '2020-01-01', // ~10 M bars: generating them would take seconds
      strategy: { type: 'model', model_name: 'ghost' },
    });
    expect(report.status).toBe('failed');
    expect(report.error_message).toContain(
      'Model "ghost" not found: expected ghost.json in the models directory',
    );
    expect(ms).toBeLessThan(1000);
  });

  it('backtests a Yahoo Finance export (Date, Adj Close) and says which columns it used', async () => {
    const rows = ['Date,Open,High,Low,Close,Adj Close,Volume'];
    let price = 150;
    for (let i = 0, d = 0; i < 120; d++) {
      const day = new Date(Date.UTC(2024, 0, 2) + d * 86_400_000);
      if (day.getUTCDay() === 0 || day.getUTCDay() === 6) continue; // weekdays only
      const next = price * (1 + 0.015 * Math.sin(i / 4));
      rows.push(
        `${day.toISOString().slice(0, 10)},${price},${Math.max(price, next) + 1},${Math.min(price, next) - 1},${next},${next * 0.99},${1e6 + i}`,
      );
      price = next;
      i++;
    }
    writeFileSync(join(tmp.dir, 'YHOO_1d.csv'), rows.join('\n') + '\n');
    const report = await run('op-bt-yahoo', {
      symbol: 'YHOO',
      timeframe: '1d',
      start_date: '2024-01-01',
      end_date: '2025-01-01',
      strategy: { type: 'sma_crossover', fast_period: 3, slow_period: 10 },
    });
    expect(report.status).toBe('completed');
    const result = report.result as Record<string, unknown> & {
      period: { bars: number; bars_per_year: number };
    };
    expect(result.data_source).toMatchObject({
      kind: 'csv',
      file: 'YHOO_1d.csv',
      columns: { time: 'Date', close: 'Close', volume: 'Volume' },
      notes: ['"Adj Close" ignored: "Close" is the close (consistent with open/high/low)'],
    });
    expect(result.period.bars).toBe(120);
    // weekday bars: about 252 per calendar year, not 365
    expect(result.period.bars_per_year).toBeGreaterThan(245);
    expect(result.period.bars_per_year).toBeLessThan(265);
    expect(result.benchmark).toMatchObject({ kind: 'buy_and_hold' });
  });

  it('says what a file has when the dates select no bars', async () => {
    const report = await run('op-bt-norange', {
      symbol: 'YHOO',
      timeframe: '1d',
      start_date: '2030-01-01',
      end_date: '2030-02-01',
      strategy: SMA,
    });
    expect(report.status).toBe('failed');
    expect(report.error_message).toMatch(
      /^No bars for YHOO 1d between 2030-01-01 and 2030-02-01: YHOO_1d.csv has bars from 2024-01-02T00:00:00.000Z to /,
    );
  });

  it('trades a trained model with the model strategy (models dir)', async () => {
    const trainBars = loadBars({
      symbol: 'SYNTH-MODEL',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-02-01',
      dataDir: tmp.dir,
    });
    const trained = trainModel(
      trainBars,
      resolveTrainingConfig({
        features: ['returns_1', 'rsi_14'],
        model: { hidden_layers: [4] },
        epochs: 3,
      }),
    );
    saveModel(join(tmp.dir, 'models'), trained.model!, 'demo-mlp.json');
    const params = {
      symbol: 'SYNTH-MODEL',
      timeframe: '1h',
      start_date: '2024-02-01',
      end_date: '2024-03-01',
      strategy: { type: 'model', model_name: 'demo-mlp', threshold: 0.5 },
    };
    const report = await run('op-bt-model', params);
    expect(report.status).toBe('completed');
    const bars = loadBars({ ...params, dataDir: tmp.dir });
    const direct = runBacktest(
      bars,
      {
        strategy: { type: 'model' },
        initial_capital: 100_000,
        commission: 0.001,
        slippage: 0.0005,
      },
      { signals: predictSignals(trained.model!, bars, 0.5) },
    );
    const result = report.result as Record<string, unknown> & { strategy: Record<string, unknown> };
    expect(result.final_equity).toBe(direct.final_equity);
    expect(result.num_trades).toBe(direct.num_trades);
    expect(result.strategy).toEqual({ type: 'model', model_name: 'demo-mlp', threshold: 0.5 });
    expect(JSON.stringify(result)).not.toContain(tmp.dir); // no server paths in a result

    const missing = await run('op-bt-nomodel', {
      ...params,
      strategy: { type: 'model', model_name: 'absent' },
    });
    expect(missing.status).toBe('failed');
    expect(missing.error_message).toContain(
      'Model "absent" not found: expected absent.json in the models directory',
    );
  });

  it('rejects an invalid request with 400 naming the field', async () => {
    const res = await start({
      operation_id: 'op-bad',
      lease_token: 'l',
      attempt: 1,
      symbol: 'SYNTH-X',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-02-01',
      strategy: { type: 'sma_crossover', fast_period: 40, slow_period: 30 },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'params.strategy.fast_period must be less than slow_period',
    });
  });

  it('takes the data and models dirs from DataSettings', () => {
    const synth = dispatchBody({
      operation_id: 'op-dirs',
      lease_token: 'l',
      attempt: 1,
      symbol: 'SYNTH-X',
      timeframe: '1h',
      strategy: SMA,
    }) as unknown as WorkerBacktestStartRequestDto;
    const job = withEnv({ KTRDR_DATA_DIR: '/srv/ktrdr-data' }, () =>
      backtestEngine.prepareJob!(synth),
    );
    expect(job).toEqual({
      data_dir: '/srv/ktrdr-data',
      models_dir: '/srv/ktrdr-data/models',
      ...RESULTS_DEFAULTS,
      // CheckpointSettings.backtest_interval_seconds and DataSettings.bars_cache_mb defaults.
      checkpoint_interval_ms: 2_000,
      bars_cache_bytes: 512 * 1024 * 1024,
    });
    const capped = withEnv({ KTRDR_RESULTS_MAX_TRADES: '500' }, () =>
      backtestEngine.prepareJob!(synth),
    );
    expect(capped).toMatchObject({ max_trades: 500 });
    const tuned = withEnv(
      { KTRDR_CHECKPOINT_BACKTEST_INTERVAL_SECONDS: '0.5', KTRDR_DATA_BARS_CACHE_MB: '0' },
      () => backtestEngine.prepareJob!(synth),
    );
    expect(tuned).toMatchObject({ checkpoint_interval_ms: 500, bars_cache_bytes: 0 });
  });
});
