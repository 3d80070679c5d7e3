/**
 * Debian's chromium driven by playwright-core (no browser download: `executablePath` is the system
 * binary), headless, with a fresh user-data dir and no background traffic.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** `<repo>/.test-results/browser-tests`: git-ignored, cleared by `npm test` at its start. */
export const ARTIFACTS = resolve(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  '.test-results',
  'browser-tests',
);

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors seen so far (for failure messages). */
  console: string[];
  close(): Promise<void>;
}

export async function launchBrowser(viewport = { width: 1400, height: 1000 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`,
    );
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'ktrdr-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    colorScheme: 'light',
    timezoneId: 'UTC',
    locale: 'en-US',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleLines: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleLines.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  return {
    context,
    page,
    console: consoleLines,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs one test body; on failure saves a full-page screenshot (and the page's HTML) under
 * .test-results/browser-tests/ and rethrows with where they are.
 */
export async function withScreenshot(
  page: Page,
  name: string,
  body: () => Promise<void>,
): Promise<void> {
  try {
    await body();
  } catch (err) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const base = join(ARTIFACTS, name.replace(/[^a-zA-Z0-9_-]+/g, '-'));
    await page.screenshot({ path: `${base}.png`, fullPage: true }).catch(() => undefined);
    await page
      .content()
      .then((html) => writeFileSync(`${base}.html`, html))
      .catch(() => undefined);
    if (err instanceof Error) err.message += `\n(screenshot: ${base}.png)`;
    throw err;
  }
}
