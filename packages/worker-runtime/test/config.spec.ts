import { hostname } from 'node:os';
import { getWorkerSettings, withEnv } from '@ktrdr/config';
import { advertisedEndpoint, generateWorkerId, resolveRuntimeConfig } from '../src/config';

describe('runtime configuration', () => {
  it('generates {worker_type}-worker-{8 hex} when KTRDR_WORKER_ID is unset', () => {
    const id = generateWorkerId('training');
    expect(id).toMatch(/^training-worker-[0-9a-f]{8}$/);
    expect(generateWorkerId('training')).not.toBe(id);
    withEnv({ KTRDR_DATA_DIR: '/tmp/ktrdr-test' }, () => {
      expect(resolveRuntimeConfig('backtesting').worker_id).toMatch(
        /^backtesting-worker-[0-9a-f]{8}$/,
      );
    });
  });

  it('reads the worker, checkpoint and API client settings', () => {
    const c = withEnv(
      {
        KTRDR_DATA_DIR: '/tmp/ktrdr-test',
        KTRDR_WORKER_ID: 'bt-1',
        KTRDR_WORKER_PORT: '6123',
        KTRDR_WORKER_HEARTBEAT_INTERVAL: '2.5',
        KTRDR_WORKER_PROGRESS_INTERVAL_MS: '250',
        KTRDR_WORKER_SHUTDOWN_GRACE_SECONDS: '7',
        KTRDR_WORKER_REGISTRATION_TOKEN: 'tok',
        KTRDR_API_CLIENT_BASE_URL: 'http://backend:8000/api/v1/',
        KTRDR_API_CLIENT_TIMEOUT: '3',
        KTRDR_CHECKPOINT_DIR: '/tmp/cp',
        KTRDR_CHECKPOINT_EPOCH_INTERVAL: '4',
        KTRDR_CHECKPOINT_TIME_INTERVAL_SECONDS: '60',
        KTRDR_CHECKPOINT_MAX_AGE_DAYS: '2',
        KTRDR_WORKER_RELEASE: '0123abc',
      },
      () => resolveRuntimeConfig('backtesting'),
    );
    expect(c.release).toBe('0123abc');
    expect(c).toMatchObject({
      worker_id: 'bt-1',
      port: 6123,
      endpoint_url: `http://${hostname()}:6123`,
      backend_url: 'http://backend:8000/api/v1',
      request_timeout_ms: 3000,
      registration_token: 'tok',
      heartbeat_interval_ms: 2500,
      progress_interval_ms: 250,
      shutdown_grace_ms: 7000,
      checkpoint: { dir: '/tmp/cp', every_units: 4, every_ms: 60_000, max_age_ms: 2 * 86_400_000 },
    });
  });

  it('uses the default port of WorkerSettings and the public base URL when set', () => {
    const c = withEnv(
      {
        KTRDR_DATA_DIR: '/tmp/ktrdr-test',
        KTRDR_WORKER_PUBLIC_BASE_URL: 'http://bt-worker-1:7000/',
      },
      () => resolveRuntimeConfig('backtesting'),
    );
    // The default comes from @ktrdr/config (the canonical worker port), not from this package.
    expect(c.port).toBe(withEnv({ KTRDR_DATA_DIR: '/tmp/x' }, () => getWorkerSettings().port));
    expect(c.endpoint_url).toBe('http://bt-worker-1:7000');
    expect(advertisedEndpoint(undefined, 1234)).toBe(`http://${hostname()}:1234`);
  });
});
