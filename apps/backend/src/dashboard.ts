import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';

/** Where the web dashboard is served; `/` redirects there. */
export const DASHBOARD_PATH = '/ui';

/**
 * The page loads only its own files and talks only to this origin; it holds no secret (the API key
 * a user types stays in the tab's sessionStorage). Recharts sets inline style attributes.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** `dist/` of the @ktrdr/dashboard package (built by `vite build`); null when not installed. */
export function dashboardDistDir(): string | null {
  try {
    return join(dirname(require.resolve('@ktrdr/dashboard/package.json')), 'dist');
  } catch {
    return null;
  }
}

export interface DashboardLogger {
  log(message: string): void;
  warn(message: string): void;
}

/**
 * Serves the built dashboard at /ui (same origin as the API, no extra server) and redirects `/`
 * to it. Without a build the backend still starts: it says so and serves the API only.
 * Call before `app.init()` / `app.listen()`.
 */
export function mountDashboard(
  app: INestApplication,
  dir: string | null,
  logger: DashboardLogger,
): boolean {
  if (!dir || !existsSync(join(dir, 'index.html'))) {
    logger.warn(
      `Dashboard not built (${dir ? join(dir, 'index.html') : '@ktrdr/dashboard'} is missing): serving the API only. ` +
        'Build it with: pnpm --filter @ktrdr/dashboard build',
    );
    return false;
  }
  const express = app as NestExpressApplication;
  express.useStaticAssets(dir, {
    prefix: DASHBOARD_PATH,
    index: 'index.html',
    // File names under assets/ carry a content hash; index.html must be re-read to pick them up.
    setHeaders(res, path) {
      res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader(
        'Cache-Control',
        /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  const http = express.getHttpAdapter();
  http.get('/', (_req: unknown, res: { redirect(status: number, url: string): void }) =>
    res.redirect(302, `${DASHBOARD_PATH}/`),
  );
  logger.log(`Dashboard served at ${DASHBOARD_PATH}/ from ${dir}`);
  return true;
}
