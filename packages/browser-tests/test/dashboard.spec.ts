/**
 * The dashboard in Debian's chromium against the built backend and a built backtest worker:
 * the fleet, a backtest started from the form (appears, progress moves, completes, equity chart),
 * a cancel from the page, a failed operation's reason, field errors from the API's 400, the API-key
 * prompt on a 401, and keyboard navigation. Screenshots of failures: .test-results/browser-tests/.
 */
import type { Page, Response } from 'playwright-core';
import { launchBrowser, withScreenshot, type Browser } from './support/browser';
import { System } from './support/system';

const WORKER = 'bt-browser-1';
const TRAINER = 'training-browser-1';
const sys = new System();
let browser: Browser;
let page: Page;

/**
 * Long enough to watch: ~2.1M one-minute SYNTH bars, a few seconds of generation (reported as the
 * first 80 % of the progress) and then the bar loop; progress reports every 50 ms.
 */
// ~4.2 M one-minute bars: long enough (several seconds on 2 cores) for several progress reports of
// 500 ms apart to reach the page even when the machine is idle and the run is at its fastest.
const LONG = { timeframe: '1m', start_date: '2016-01-01', end_date: '2024-01-01' };

function ui(hash = ''): string {
  return `${sys.origin}/ui/${hash ? `#${hash}` : ''}`;
}

async function gotoUi(hash = ''): Promise<void> {
  await page.goto(ui(hash));
  await page.locator('main#main').waitFor();
}

beforeAll(async () => {
  await sys.start([WORKER, TRAINER]);
  browser = await launchBrowser();
  page = browser.page;
  page.setDefaultTimeout(30_000);
  if (sys.apiKey) {
    // A backend with API keys: the tab holds the development key, as a user would have typed it
    // (the API-key test below goes through the prompt itself).
    await page.goto(ui());
    await page.evaluate((k) => sessionStorage.setItem('ktrdr.apiKey', k), sys.apiKey);
  }
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await sys.stop();
});

afterEach(() => {
  // Page errors are bugs even when the assertions passed.
  const errors = browser.console.filter((l) => l.startsWith('pageerror'));
  browser.console.length = 0;
  expect(errors).toEqual([]);
});

describe('dashboard in a real browser', () => {
  it('the fleet shows the worker with its status, GPU capability and last sign of life', async () => {
    await withScreenshot(page, 'fleet', async () => {
      await gotoUi();
      const card = page.locator(`[data-testid="fleet"] [data-worker-id="${WORKER}"]`);
      await card.waitFor();
      await expectText(card, /available/);
      await expectText(card, /no GPU/);
      await expectText(card, /Last sign of life\s*(just now|\d+s ago)/);
      await expectText(page.locator('[data-testid="fleet"]'), /backtesting \(1\)/);
      await expectText(page.locator('[data-testid="fleet"]'), /training \(1\)/);
      await page.locator(`[data-testid="fleet"] [data-worker-id="${TRAINER}"]`).waitFor();
      // Live from the event stream (GET /api/v1/events): the page says so. Polling is a failure
      // here; the next test checks that changes really arrive through the stream.
      await waitForLive();
    });
  });

  it('a backtest started from the form appears, its progress moves, it completes, the equity chart has points', async () => {
    await withScreenshot(page, 'backtest-from-form', async () => {
      await gotoUi('/new/backtest');
      const form = page.locator('[data-testid="form-backtest"]');
      await form.getByLabel('symbol').fill('SYNTH-BROWSER');
      await form.getByLabel('timeframe').selectOption(LONG.timeframe);
      await form.getByLabel('start date').fill(LONG.start_date);
      await form.getByLabel('end date').fill(LONG.end_date);
      await form.getByLabel('type').selectOption('sma_crossover');
      await form.getByLabel('fast period').fill('12');
      await form.getByLabel('slow period').fill('48');
      await form.getByRole('button', { name: 'Start backtest' }).click();
      const answer = page.locator('[data-testid="start-answer"]');
      await answer.waitFor();
      const id = (await answer.locator('a').textContent())!.trim();
      expect(id).toMatch(/^op_backtesting_/);

      // It appears on the overview (queue, running or the operations list).
      await page.getByRole('link', { name: 'Overview' }).click();
      await page.locator(`main [data-operation-id="${id}"]`).first().waitFor();

      // Its detail page: record every progress value the page renders until it completes, and
      // every progress value the page read from the API (GET /operations/{id}).
      const fetched = recordFetchedProgress(id);
      await page.locator(`main a[href="#/operations/${id}"]`).first().click();
      await waitForLive();
      await page.locator('[data-testid="operation-detail"]').waitFor();
      await page.evaluate(() => {
        const w = window as unknown as { __progress: number[] };
        w.__progress = [];
        const read = () => {
          const bar = document.querySelector(
            '[data-testid="detail-progress"] [role="progressbar"]',
          );
          const v = bar ? Number(bar.getAttribute('aria-valuenow')) : NaN;
          if (!Number.isNaN(v) && w.__progress[w.__progress.length - 1] !== v) w.__progress.push(v);
        };
        read();
        new MutationObserver(read).observe(document.body, {
          subtree: true,
          childList: true,
          attributes: true,
          attributeFilter: ['aria-valuenow'],
        });
      });
      await page
        .locator('[data-testid="operation-detail"][data-status="completed"]')
        .waitFor({ timeout: 150_000 });
      const seen = await page.evaluate(
        () => (window as unknown as { __progress: number[] }).__progress,
      );
      // Several values between 0 and 100 (generation, then the bar loop), as they were reported.
      const between = seen.filter((v) => v > 0 && v < 100);
      // (toEqual, so that a failure prints what the page showed.)
      expect({ seen, moved: between.length >= 3 }).toEqual({ seen, moved: true });
      // Never backwards.
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
      // Live: values the page showed that no API read gave it came from the event stream.
      const read = await fetched.stop();
      const live = between.filter((v) => !read.includes(v));
      expect({ read, live, arrivedLive: live.length >= 2 }).toMatchObject({ arrivedLive: true });

      const op = await sys.call('GET', `/operations/${id}`);
      expect(op.body.data.status).toBe('completed');
      expect(op.body.data.params).toMatchObject({
        symbol: 'SYNTH-BROWSER',
        strategy: { fast_period: 12 },
      });
      const results = await sys.call('GET', `/operations/${id}/results`);
      const curve = results.body.data.result.equity_curve as unknown[];
      expect(curve.length).toBeGreaterThan(10);

      const chart = page.locator('[data-testid="equity-chart"]');
      await chart.waitFor();
      expect(Number(await chart.getAttribute('data-points'))).toBe(curve.length);
      // Recharts drew the line through the points: an SVG path with one segment per point.
      const path = chart.locator('path.recharts-line-curve');
      await path.waitFor();
      const d = (await path.getAttribute('d')) ?? '';
      expect((d.match(/[LC]/g) ?? []).length).toBeGreaterThan(curve.length / 2);
      await expectText(chart, /Equity: \d+ points from 2016-01-0\d to 2023-12-3\d/);
      await page.locator('[data-testid="drawdown-chart"] path.recharts-area-area').waitFor();
      // The drawdown chart's caption and the max drawdown card say the same (docs/metrics.md:
      // a positive fraction, shown in %), and that is the result's max_drawdown.
      const maxDd = results.body.data.result.max_drawdown as number;
      expect(maxDd).toBeGreaterThan(0);
      const ddCard = page
        .locator('[data-testid="metrics"] .metric-card')
        .filter({ hasText: 'max drawdown' })
        .locator('dd');
      expect((await ddCard.textContent())!.trim()).toBe(`${(maxDd * 100).toFixed(2)}%`);
      await expectText(
        page.locator('[data-testid="drawdown-chart"] figcaption'),
        `max ${(maxDd * 100).toFixed(2)}%`,
      );
      await expectText(page.locator('[data-testid="metrics"]'), /total return/);
      await expectText(page.locator('[data-testid="trades"]'), /Trades \(\d+/);
      // The attempts: one, on the worker, completed; as the API says.
      expect(op.body.data.attempts).toMatchObject([
        { attempt: 1, worker_id: WORKER, outcome: 'completed' },
      ]);
      const attempt = page.locator(`[data-testid="attempts"] tbody tr[data-worker-id="${WORKER}"]`);
      await expectText(attempt, new RegExp(`^1\\s+${WORKER}\\s+\\d{4}-.*completed`));
      expect(await page.locator('[data-testid="attempts"] tbody tr').count()).toBe(1);
    });
  });

  it('a cancel from the page cancels the operation', async () => {
    await withScreenshot(page, 'cancel', async () => {
      const res = await sys.call('POST', '/backtests/start', {
        symbol: 'SYNTH-CANCEL',
        ...LONG,
        strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
      });
      expect([200, 202]).toContain(res.status);
      const id = res.body.operation_id as string;
      await gotoUi(`/operations/${id}`);
      const detail = page.locator('[data-testid="operation-detail"]');
      await detail.waitFor();
      await page.getByRole('button', { name: 'Cancel', exact: true }).click();
      await expectText(page.locator('[data-testid="notices"]'), new RegExp(`${id}: cancelled`));
      await page.locator('[data-testid="operation-detail"][data-status="cancelled"]').waitFor();
      const op = await sys.call('GET', `/operations/${id}`);
      expect(op.body.data.status).toBe('cancelled');
      // The worker stopped it: it is free for the next one.
      await sys.waitFor('worker available again', async () => {
        const w = await sys.call('GET', `/workers/${WORKER}`);
        return w.body.status === 'available' ? true : undefined;
      });
    });
  });

  it('Resume on a cancelled training with a checkpoint queues it again and says so', async () => {
    await withScreenshot(page, 'resume', async () => {
      const res = await sys.call('POST', '/trainings/start', {
        symbol: 'SYNTH-RESUME',
        timeframe: '5m',
        start_date: '2024-01-01',
        end_date: '2024-02-15',
        epochs: 500,
        model: { hidden_layers: [16, 8] },
        early_stopping: { patience: 1000 },
      });
      const id = res.body.operation_id as string;
      await sys.waitFor(
        'a checkpoint of the training',
        async () => {
          const op = await sys.call('GET', `/operations/${id}`);
          return op.body.data.checkpoint ? true : undefined;
        },
        120_000,
      );
      await gotoUi(`/operations/${id}`);
      await page.locator('[data-testid="operation-detail"][data-status="running"]').waitFor();
      await page.getByRole('button', { name: 'Cancel', exact: true }).click();
      await page.locator('[data-testid="operation-detail"][data-status="cancelled"]').waitFor();
      await expectText(page.locator('[data-testid="checkpoint"]'), /checkpoint at epoch \d+/);
      await page.getByRole('button', { name: 'Resume', exact: true }).click();
      await expectText(page.locator('[data-testid="notices"]'), new RegExp(`${id}: resumed \\(`));
      const back = await sys.waitFor('the training queued again', async () => {
        const op = await sys.call('GET', `/operations/${id}`);
        return ['pending', 'dispatched', 'running'].includes(op.body.data.status)
          ? op.body.data
          : undefined;
      });
      expect(back.attempt).toBeGreaterThanOrEqual(1);
      await page
        .locator('[data-testid="operation-detail"]:not([data-status="cancelled"])')
        .waitFor();
      // Its second attempt resumes from the checkpoint: the attempts table says so, per attempt.
      const second = await sys.waitFor('the second attempt', async () => {
        const op = await sys.call('GET', `/operations/${id}`);
        return op.body.data.attempts.length === 2 ? op.body.data.attempts[1] : undefined;
      });
      expect(second).toMatchObject({ attempt: 2, worker_id: TRAINER });
      expect(second.resumed_from.unit).toBeGreaterThan(0);
      const rows = page.locator('[data-testid="attempts"] tbody tr');
      await expectText(rows.nth(0), /cancelled/);
      await expectText(rows.nth(0), /the start/);
      await expectText(rows.nth(1), new RegExp(`checkpoint, epoch ${second.resumed_from.unit}`));
      // Clean up: cancel it again (the training worker is shared with later tests).
      await page.getByRole('button', { name: 'Cancel', exact: true }).click();
      await page.locator('[data-testid="operation-detail"][data-status="cancelled"]').waitFor();
    });
  });

  it('a failed operation shows its reason', async () => {
    await withScreenshot(page, 'failed', async () => {
      const res = await sys.call('POST', '/backtests/start', {
        symbol: 'NODATA-1',
        timeframe: '1h',
        start_date: '2024-01-01',
        end_date: '2024-02-01',
        strategy: { type: 'sma_crossover', fast_period: 10, slow_period: 30 },
      });
      const id = res.body.operation_id as string;
      const failed = await sys.waitFor('the operation failed', async () => {
        const op = await sys.call('GET', `/operations/${id}`);
        return op.body.data.status === 'failed' ? op.body.data : undefined;
      });
      expect(failed.error_message).toMatch(/No data for symbol NODATA-1/);
      await gotoUi(`/operations/${id}`);
      const reason = page.locator('[data-testid="error-message"]');
      await reason.waitFor();
      expect(await reason.getAttribute('role')).toBe('alert');
      await expectText(reason, 'Failed:');
      await expectText(reason, failed.error_message as string);
      // Its attempt: the worker that ran it, failed, with the same reason.
      const attempt = page.locator(`[data-testid="attempts"] tbody tr[data-worker-id="${WORKER}"]`);
      await expectText(attempt, /failed/);
      await expectText(attempt, failed.error_message as string);
      // The list says so too, next to the status.
      await gotoUi('/operations');
      const row = page.locator(`[data-testid="operations"] tr[data-operation-id="${id}"]`);
      await expectText(row, /failed/);
      await expectText(row, /No data for symbol NODATA-1/);
    });
  });

  it("the API's 400 message appears next to the field it names", async () => {
    await withScreenshot(page, 'field-errors', async () => {
      await gotoUi('/new/backtest');
      const form = page.locator('[data-testid="form-backtest"]');
      await form.getByLabel('fast period').fill('50');
      await form.getByLabel('slow period').fill('30');
      await form.getByLabel('symbol').fill('bad symbol!');
      await form.getByRole('button', { name: 'Start backtest' }).click();
      const fast = form.locator('[data-field="strategy.fast_period"]');
      await expectText(
        fast.locator('[data-testid="field-error"]'),
        'strategy.fast_period must be less than slow_period',
      );
      expect(await form.getByLabel('fast period').getAttribute('aria-invalid')).toBe('true');
      await expectText(
        form.locator('[data-field="symbol"] [data-testid="field-error"]'),
        /^✗ symbol must be/,
      );
      // Nothing was started.
      const list = await sys.call('GET', '/operations?limit=1000');
      expect(
        list.body.data.some(
          (o: { params: { symbol: string } }) => o.params.symbol === 'bad symbol!',
        ),
      ).toBe(false);
    });
  });

  it('a 401 asks for the API key, which is then sent as a bearer token from sessionStorage', async () => {
    await withScreenshot(page, 'api-key', async () => {
      // Against a backend with API keys its development key; otherwise a stand-in route handler
      // answers 401 to every API call without this key.
      const real = sys.apiKey !== null;
      const KEY = sys.apiKey ?? 'test-key-123';
      const seen: Array<string | undefined> = [];
      const onRequest = (req: { url(): string; headers(): Record<string, string> }) => {
        if (req.url().includes('/api/v1/')) seen.push(req.headers().authorization);
      };
      page.on('request', onRequest);
      if (!real) {
        await page.route('**/api/v1/**', async (route) => {
          if (route.request().headers().authorization !== `Bearer ${KEY}`) {
            await route.fulfill({
              status: 401,
              contentType: 'application/json',
              body: JSON.stringify({
                statusCode: 401,
                error: 'Unauthorized',
                message: 'missing or invalid API key',
              }),
            });
          } else {
            await route.continue();
          }
        });
      }
      try {
        await gotoUi();
        await page.evaluate(() => sessionStorage.removeItem('ktrdr.apiKey'));
        await page.reload();
        const form = page.locator('[data-testid="api-key-form"]');
        await form.waitFor();
        await expectText(form, 'This backend needs an API key');
        // A wrong key is refused: the prompt comes back.
        await form.getByLabel('API key').fill('not-the-key');
        await form.getByRole('button', { name: 'Use key' }).click();
        await sys.waitFor('a call with the wrong key', async () =>
          seen.includes('Bearer not-the-key') ? true : undefined,
        );
        await form.waitFor();
        await form.getByLabel('API key').fill(KEY);
        await form.getByRole('button', { name: 'Use key' }).click();
        await page.locator(`[data-testid="fleet"] [data-worker-id="${WORKER}"]`).waitFor();
        expect(seen).toContain(`Bearer ${KEY}`);
        expect(await form.count()).toBe(0);
        expect(await page.evaluate(() => sessionStorage.getItem('ktrdr.apiKey'))).toBe(KEY);
        // Nothing else stores it.
        expect(await page.evaluate(() => localStorage.length)).toBe(0);
        expect(await page.evaluate(() => document.cookie)).toBe('');
      } finally {
        page.off('request', onRequest);
        if (!real) {
          await page.unroute('**/api/v1/**');
          await page.evaluate(() => sessionStorage.clear());
        }
      }
    });
  });

  it('a sweep started from the form ranks its children by a metric and maps it over two grid parameters', async () => {
    await withScreenshot(page, 'sweep', async () => {
      await gotoUi('/new/backtest');
      const form = page.locator('[data-testid="form-backtest"]');
      await form.getByLabel('symbol').fill('SYNTH-SWEEP');
      await form.getByLabel('start date').fill('2024-01-01');
      await form.getByLabel('end date').fill('2024-04-01');
      // A grid the API refuses: its message appears at the grid.
      await form.getByLabel('grid (JSON)').fill('{"fast_period": []}');
      await form.getByRole('button', { name: 'Start backtest sweep' }).click();
      await expectText(
        form.locator('[data-field="grid"] [data-testid="field-error"]'),
        'grid.fast_period must be a non-empty array of values',
      );
      await form
        .getByLabel('grid (JSON)')
        .fill('{"fast_period": [5, 10], "slow_period": [20, 40]}');
      await form.getByRole('button', { name: 'Start backtest sweep' }).click();
      const answer = page.locator('[data-testid="start-answer"]');
      await expectText(answer, /Queued sweep sweep_\S+ — 4 runs/);
      const sweepId = (await answer.locator('a').textContent())!.trim();
      const done = await sys.waitFor(
        'the sweep finished',
        async () => {
          const r = await sys.call('GET', `/sweeps/${sweepId}?sort=sharpe_ratio&order=desc`);
          return r.body.data.counts.completed === 4 ? r.body.data : undefined;
        },
        120_000,
      );
      await answer.locator('a').click();
      const detail = page.locator('[data-testid="sweep-detail"]');
      await detail.waitFor();
      await expectText(detail, /4 completed/);
      await detail.getByLabel('Rank by').selectOption('sharpe_ratio');
      const rows = page.locator('[data-testid="sweep-children"] tbody tr');
      await page.waitForFunction(
        () => document.querySelectorAll('[data-testid="sweep-children"] tbody tr').length === 4,
      );
      // Same order as the API's ranking, rank 1 first.
      const ids = await rows.locator('td:nth-child(2) a').allTextContents();
      expect(ids).toEqual(done.children.map((c: { operation_id: string }) => c.operation_id));
      expect(await rows.first().locator('td').first().textContent()).toBe('1');
      // The heatmap: slow_period rows × fast_period columns, each cell its best child's value.
      const heat = page.locator('[data-testid="heatmap"] table.heatmap');
      await page
        .locator('[data-testid="heatmap"]')
        .getByLabel('Columns')
        .selectOption('fast_period');
      await page.locator('[data-testid="heatmap"]').getByLabel('Rows').selectOption('slow_period');
      expect(await heat.locator('thead th').allTextContents()).toEqual([
        'slow_period \\ fast_period',
        '5',
        '10',
      ]);
      const cells = heat.locator('td.heat-cell a');
      expect(await cells.count()).toBe(4);
      const best = done.children[0] as { operation_id: string; metrics: { sharpe_ratio: number } };
      const bestCell = heat.locator(`td.heat-cell a[href="#/operations/${best.operation_id}"]`);
      expect((await bestCell.textContent())!.trim()).toBe(
        best.metrics.sharpe_ratio.toLocaleString('en-US', { maximumFractionDigits: 4 }),
      );
      // A child links back to its sweep.
      await bestCell.click();
      await page.locator('[data-testid="operation-detail"]').waitFor();
      await page.locator(`a[href="#/sweeps/${sweepId}"]`).waitFor();
    });
  });

  it('a training shows its loss and accuracy per epoch', async () => {
    await withScreenshot(page, 'training', async () => {
      await gotoUi('/new/training');
      const form = page.locator('[data-testid="form-training"]');
      await form.getByLabel('symbol').fill('SYNTH-TRAIN');
      await form.getByLabel('end date').fill('2024-03-01');
      await form.getByLabel('epochs').fill('6');
      await form.getByLabel('hidden layers').fill('8');
      await form.getByLabel('rsi_14').check();
      await form.getByLabel('returns_1').check();
      await form.getByRole('button', { name: 'Start training' }).click();
      const answer = page.locator('[data-testid="start-answer"]');
      await answer.waitFor();
      await answer.locator('a').click();
      await page
        .locator('[data-testid="operation-detail"][data-status="completed"]')
        .waitFor({ timeout: 120_000 });
      const id = new URL(page.url()).hash.replace('#/operations/', '');
      const op = await sys.call('GET', `/operations/${id}`);
      expect(op.body.data.params).toMatchObject({
        epochs: 6,
        model: { hidden_layers: [8] },
        features: ['rsi_14', 'returns_1'],
      });
      for (const metric of ['loss', 'accuracy']) {
        const chart = page.locator(`[data-testid="${metric}-chart"]`);
        await chart.waitFor();
        expect(Number(await chart.getAttribute('data-points'))).toBe(6);
        // Two curves (train and validation), each through the epochs.
        expect(await chart.locator('path.recharts-line-curve').count()).toBe(2);
      }
      await expectText(page.locator('[data-testid="loss-chart"]'), /Loss per epoch: 6 epochs/);
    });
  });

  it('works from the keyboard: skip link, navigation, labelled controls', async () => {
    await withScreenshot(page, 'keyboard', async () => {
      await gotoUi();
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe(
        'Skip to content',
      );
      await page.keyboard.press('Enter');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
      // From the top of a fresh page, Tab reaches "New run" in the header; Enter follows it.
      await page.reload();
      await page.locator('main#main').waitFor();
      let found = false;
      for (let i = 0; i < 8 && !found; i++) {
        await page.keyboard.press('Tab');
        found = (await page.evaluate(() => document.activeElement?.textContent)) === 'New run';
      }
      expect(found).toBe(true);
      await page.keyboard.press('Enter');
      await page.locator('[data-testid="form-backtest"]').waitFor();
      expect(new URL(page.url()).hash).toBe('#/new/backtest');
      // Every form control has a label.
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll('form input, form select')]
          .filter((el) => {
            const id = el.getAttribute('id');
            const label = id ? document.querySelector(`label[for="${id}"]`) : null;
            return !label && !el.closest('label') && !el.getAttribute('aria-label');
          })
          .map((el) => el.outerHTML),
      );
      expect(unlabelled).toEqual([]);
    });
  });
});

/** Waits until the page reads the event stream (its live indicator says `live`). */
async function waitForLive(): Promise<void> {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="live-mode"]')?.getAttribute('data-mode') === 'live',
  );
  await expectText(page.locator('[data-testid="live-mode"]'), /live/);
}

/**
 * Records the progress (as the page renders it: percent, one decimal) of every answer of
 * GET /operations/{id} the page receives until stop().
 */
function recordFetchedProgress(id: string): { stop(): Promise<number[]> } {
  const reads: Array<Promise<number | null>> = [];
  const path = `/api/v1/operations/${id}`;
  const onResponse = (res: Response): void => {
    if (new URL(res.url()).pathname !== path || res.request().method() !== 'GET') return;
    reads.push(
      res.json().then(
        (b: { data?: { progress?: { percentage?: number } } }) => {
          const p = b.data?.progress?.percentage;
          return typeof p === 'number' ? Number(Math.max(0, Math.min(100, p)).toFixed(1)) : null;
        },
        () => null,
      ),
    );
  };
  page.on('response', onResponse);
  return {
    async stop() {
      page.off('response', onResponse);
      return (await Promise.all(reads)).filter((v): v is number => v !== null);
    },
  };
}

async function expectText(
  locator: ReturnType<Page['locator']>,
  text: string | RegExp,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  for (;;) {
    last =
      (await locator
        .first()
        .innerText()
        .catch(() => '')) ?? '';
    if (typeof text === 'string' ? last.includes(text) : text.test(last)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `expected ${String(text)} in ${locator.toString()}, got: ${last.slice(0, 500)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}
