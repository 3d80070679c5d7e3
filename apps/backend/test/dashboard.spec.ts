import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppModule } from '../src/app.module';
import { configureApp } from '../src/app.setup';
import { DASHBOARD_CSP, dashboardDistDir, mountDashboard } from '../src/dashboard';
import { memoryStore } from './support/memory-store';
import { testSettings } from './support/settings';

type Server = Parameters<typeof request>[0];

async function appWithDashboard(dir: string | null) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot({
        settings: testSettings(),
        backgroundTasks: false,
        repository: memoryStore(),
      }),
    ],
  }).compile();
  const app: INestApplication = moduleRef.createNestApplication({ logger: ['error'] });
  configureApp(app);
  const lines: string[] = [];
  const mounted = mountDashboard(app, dir, {
    log: (m) => lines.push(`log ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
  });
  await app.init();
  return { app, mounted, lines, http: app.getHttpServer() as Server };
}

describe('dashboard at /ui', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ktrdr-dash-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>KTRDR dashboard</title>');
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the built files with a strict CSP, redirects / to /ui/, keeps the API', async () => {
    const t = await appWithDashboard(dir);
    try {
      expect(t.mounted).toBe(true);
      expect(t.lines).toEqual([`log Dashboard served at /ui/ from ${dir}`]);
      const root = await request(t.http).get('/');
      expect(root.status).toBe(302);
      expect(root.headers.location).toBe('/ui/');
      const noSlash = await request(t.http).get('/ui');
      expect(noSlash.status).toBe(301);
      expect(noSlash.headers.location).toBe('/ui/');
      const page = await request(t.http).get('/ui/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(page.text).toContain('KTRDR dashboard');
      expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
      expect(page.headers['content-security-policy']).toContain("connect-src 'self'");
      expect(page.headers['cache-control']).toBe('no-cache');
      const asset = await request(t.http).get('/ui/assets/index-abc123.js');
      expect(asset.status).toBe(200);
      expect(asset.headers['cache-control']).toContain('immutable');
      const missing = await request(t.http).get('/ui/nope.js');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ statusCode: 404 });
      const health = await request(t.http).get('/api/v1/health');
      expect(health.status).toBe(200);
    } finally {
      await t.app.close();
    }
  });

  it('without a build the backend still serves the API and says why there is no dashboard', async () => {
    const t = await appWithDashboard(join(dir, 'not-built'));
    try {
      expect(t.mounted).toBe(false);
      expect(t.lines).toHaveLength(1);
      expect(t.lines[0]).toMatch(
        /^warn Dashboard not built \(.*not-built\/index\.html is missing\): serving the API only/,
      );
      expect((await request(t.http).get('/')).status).toBe(404);
      expect((await request(t.http).get('/ui/')).status).toBe(404);
      expect((await request(t.http).get('/api/v1/health')).status).toBe(200);
    } finally {
      await t.app.close();
    }
  });

  it('finds the dashboard package through its package.json', () => {
    expect(dashboardDistDir()).toMatch(/apps[\\/]dashboard[\\/]dist$/);
  });
});
