import { getApiKey, isAuthNeeded, onAuthNeeded, setApiKey } from '../src/api/auth';
import { api, ApiError, apiErrorText, apiPath, setFetch } from '../src/api/client';

class MemoryStorage {
  private m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

beforeAll(() => {
  (globalThis as { sessionStorage?: unknown }).sessionStorage = new MemoryStorage();
});

describe('api paths', () => {
  it('uses the contracts routes with the prefix and drops empty query values', () => {
    expect(
      apiPath(
        'operations',
        {},
        { status: 'pending', limit: 10, offset: 0, operation_type: undefined },
      ),
    ).toBe('/api/v1/operations?status=pending&limit=10&offset=0');
    expect(apiPath('operationResume', { id: 'op 1' })).toBe('/api/v1/operations/op%201/resume');
    expect(apiPath('operationResultTrades', { id: 'op1' }, { limit: 20, offset: 40 })).toBe(
      '/api/v1/operations/op1/results/trades?limit=20&offset=40',
    );
  });
});

describe('api calls', () => {
  it('sends the key as a bearer token once set', async () => {
    const seen: Array<Record<string, string>> = [];
    setFetch(async (_u, init) => {
      seen.push(init?.headers as Record<string, string>);
      return new Response('{"ok":true}', { status: 200 });
    });
    await api('GET', '/api/v1/workers');
    setApiKey('  k-123 ');
    expect(getApiKey()).toBe('k-123');
    await api('POST', '/api/v1/backtests/start', { a: 1 });
    expect(seen[0]!.authorization).toBeUndefined();
    expect(seen[1]!.authorization).toBe('Bearer k-123');
    expect(seen[1]!['content-type']).toBe('application/json');
    setApiKey(null);
    expect(getApiKey()).toBeNull();
  });

  it('a 401 asks for the key; errors carry the backend message and Retry-After', async () => {
    const changes: boolean[] = [];
    const off = onAuthNeeded((v) => changes.push(v));
    setFetch(
      async () =>
        new Response('{"statusCode":401,"error":"Unauthorized","message":"missing API key"}', {
          status: 401,
        }),
    );
    await expect(api('GET', '/api/v1/workers')).rejects.toMatchObject({
      status: 401,
      message: 'missing API key',
    });
    expect(isAuthNeeded()).toBe(true);
    setApiKey('new');
    expect(isAuthNeeded()).toBe(false);
    expect(changes).toEqual([true, false]);
    off();

    setFetch(
      async () =>
        new Response('{"statusCode":429,"error":"Too Many Requests","message":"queue is full"}', {
          status: 429,
          headers: { 'retry-after': '7' },
        }),
    );
    const err = (await api('POST', '/x', {}).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.retryAfter).toBe(7);
    expect(err.message).toBe('queue is full');

    setFetch(async () => {
      throw new TypeError('fetch failed');
    });
    await expect(api('GET', '/x')).rejects.toMatchObject({ status: 0 });
  });
});

describe('apiErrorText', () => {
  it('says an error answer with its status, no answer by its message, anything else by errorText', () => {
    expect(apiErrorText(new ApiError(409, 'operation is already finished', null))).toBe(
      '409: operation is already finished',
    );
    expect(apiErrorText(new ApiError(0, 'The backend did not answer (timed out)', null))).toBe(
      'The backend did not answer (timed out)',
    );
    expect(apiErrorText(new TypeError('Failed to fetch'))).toBe('Failed to fetch');
    expect(apiErrorText('plain')).toBe('plain');
  });
});
