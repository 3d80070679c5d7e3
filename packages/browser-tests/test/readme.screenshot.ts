/**
 * The README's screenshots (not part of `npm test`; run `pnpm --filter @ktrdr/browser-tests
 * screenshot` after a build): a small fleet with work in every state, then
 * docs/img/dashboard.png (the overview), docs/img/sweep.png (a sweep) and docs/img/operation.png
 * (a finished backtest).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launchBrowser, type Browser } from './support/browser';
import { System } from './support/system';

const IMG = resolve(__dirname, '..', '..', '..', 'docs', 'img');
const sys = new System();
let browser: Browser;

const strategy = { type: 'sma_crossover', fast_period: 10, slow_period: 30 };

beforeAll(async () => {
  await sys.start(['backtest-worker-a1', 'backtest-worker-b2', 'training-worker-c3']);
  browser = await launchBrowser({ width: 1440, height: 900 });
  if (sys.apiKey) {
    // A backend with API keys: the tab holds its development key, as a user would have typed it.
    await browser.page.goto(`${sys.origin}/ui/`);
    await browser.page.evaluate((k) => sessionStorage.setItem('ktrdr.apiKey', k), sys.apiKey);
  }
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await sys.stop();
});

it('takes the README screenshots', async () => {
  mkdirSync(IMG, { recursive: true });
  const page = browser.page;
  // Finished work: a sweep, a backtest, one that failed.
  const sweep = await sys.call('POST', '/backtests/sweep', {
    base: {
      symbol: 'SYNTH-DEMO',
      timeframe: '1h',
      start_date: '2024-01-01',
      end_date: '2024-07-01',
      strategy,
    },
    grid: { fast_period: [5, 10, 20], slow_period: [30, 60] },
  });
  const one = await sys.call('POST', '/backtests/start', {
    symbol: 'SYNTH-DEMO',
    timeframe: '1h',
    start_date: '2023-01-01',
    end_date: '2024-07-01',
    strategy: { type: 'rsi_mean_reversion', period: 14, oversold: 30, overbought: 70 },
  });
  await sys.call('POST', '/backtests/start', {
    symbol: 'AAPL',
    timeframe: '1d',
    start_date: '2020-01-01',
    end_date: '2024-01-01',
    strategy,
  });
  await sys.waitFor(
    'the finished work',
    async () => {
      const r = await sys.call('GET', '/operations?limit=100');
      const open = r.body.data.filter((o: { status: string }) =>
        ['pending', 'dispatched', 'running'].includes(o.status),
      );
      return open.length === 0 && r.body.data.length >= 8 ? true : undefined;
    },
    120_000,
  );
  expect(sweep.status).toBe(202);
  // Work in progress: a training, two long backtests on both backtest workers, one queued.
  await sys.call('POST', '/trainings/start', {
    symbol: 'SYNTH-DEMO',
    timeframe: '5m',
    start_date: '2024-01-01',
    end_date: '2024-03-01',
    epochs: 400,
    model_name: 'demo-mlp',
  });
  for (const s of ['SYNTH-EURUSD', 'SYNTH-BTC', 'SYNTH-QUEUED']) {
    await sys.call('POST', '/backtests/start', {
      symbol: s,
      timeframe: '1m',
      start_date: '2012-01-01',
      end_date: '2024-01-01',
      strategy,
      priority: s === 'SYNTH-QUEUED' ? 5 : 0,
    });
  }
  await page.goto(`${sys.origin}/ui/`);
  await page.locator('[data-testid="running"] [role="progressbar"]').first().waitFor();
  await page.waitForFunction(
    () => document.querySelectorAll('[data-testid="running"] tbody tr').length >= 3,
    undefined,
    { timeout: 60_000 },
  );
  await page.waitForTimeout(2500);
  await page.screenshot({ path: join(IMG, 'dashboard.png'), fullPage: true });

  await page.goto(`${sys.origin}/ui/#/sweeps/${sweep.body.sweep_id as string}`);
  await page.locator('[data-testid="heatmap"] td.heat-cell a').first().waitFor();
  await page.getByLabel('Rank by').selectOption('sharpe_ratio');
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(IMG, 'sweep.png'), fullPage: true });

  await page.goto(`${sys.origin}/ui/#/operations/${one.body.operation_id as string}`);
  await page.locator('[data-testid="equity-chart"] path.recharts-line-curve').waitFor();
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(IMG, 'operation.png'), fullPage: false });
});
