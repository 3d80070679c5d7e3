import { probeStack, waitForStack } from '../src/stack-health';
import { fakeHttp, fakeTransport } from './support/helpers';

describe('waiting for a slot stack', () => {
  it('polls until the backend is healthy and enough workers registered', async () => {
    let calls = 0;
    const http = fakeHttp((url) => {
      calls++;
      if (calls <= 2) return new Error('connect ECONNREFUSED');
      if (url.endsWith('/health')) return { status: 200, body: { status: 'ok' } };
      return { status: 200, body: { total: calls < 8 ? 1 : 2, workers: [] } };
    });
    const r = await waitForStack(8001, 2, 60_000, http, 1_000);
    expect(r.ok).toBe(true);
    expect(r.probe).toEqual({ backend_healthy: true, workers_registered: 2 });
    expect(http.requests[0]).toBe('http://127.0.0.1:8001/api/v1/health');
    expect(http.requests).toContain('http://127.0.0.1:8001/api/v1/workers');
    expect(r.waited_ms).toBeGreaterThan(0);
  });

  it('times out naming the missing workers', async () => {
    const http = fakeHttp((url) =>
      url.endsWith('/health')
        ? { status: 200 }
        : { status: 200, body: { total: 1, workers: [{}] } },
    );
    const r = await waitForStack(8005, 4, 10_000, http, 1_000);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('only 1 of 4 workers registered after 10s');
    expect(http.now()).toBe(10_000);
  });

  it('times out naming the unhealthy backend and the last error', async () => {
    const http = fakeHttp(() => ({ status: 503 }));
    const r = await waitForStack(8002, 2, 3_000, http, 1_000);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe(
      'the backend at http://127.0.0.1:8002/api/v1/health was not healthy after 3s ' +
        '(last error: GET http://127.0.0.1:8002/api/v1/health answered 503)',
    );
  });

  it('a workers answer without total is reported, not counted', async () => {
    const http = fakeHttp((url) =>
      url.endsWith('/health') ? { status: 200 } : { status: 200, body: {} },
    );
    expect(await probeStack(8001, http)).toEqual({
      backend_healthy: true,
      workers_registered: undefined,
      error: 'GET http://127.0.0.1:8001/api/v1/workers: no "total" in the answer',
    });
  });
});

describe('the slot API key', () => {
  it('is sent on GET /workers (a read route) and not on /health (public)', async () => {
    const seen: { url: string; auth?: string }[] = [];
    const http = {
      now: () => 0,
      sleep: async () => undefined,
      transport: fakeTransport((r) => {
        seen.push({ url: r.url, auth: r.headers.authorization });
        return { status: 200, body: { total: 3 } };
      }),
    };
    expect(await probeStack(8003, http, 'slot-key')).toEqual({
      backend_healthy: true,
      workers_registered: 3,
    });
    expect(seen).toEqual([
      { url: 'http://127.0.0.1:8003/api/v1/health', auth: undefined },
      { url: 'http://127.0.0.1:8003/api/v1/workers', auth: 'Bearer slot-key' },
    ]);
  });
});
