import { isUntracedRequest } from '../src/sdk';

describe('isUntracedRequest', () => {
  it.each([
    ['GET', '/metrics', false, true],
    ['GET', '/health', false, true],
    ['GET', '/health/ready', false, true],
    ['GET', '/api/v1/health/ready', false, true],
    ['POST', '/api/v1/workers/w-1/heartbeat', false, true],
    ['GET', '/api/docs/swagger-ui.css', false, true],
    ['GET', '/api/v1/workers/w-1', false, true],
    ['GET', '/api/v1/metrics/prometheus', false, true],
    ['GET', '/ui/assets/index-abc.js', false, true],
    ['GET', '/', false, true],
    ['GET', '/api/v1/events?since=3', false, true],
    ['GET', '/api/v1/metrics/workers', false, false],
    ['GET', '/api/v1/workers/w-1', true, false],
    ['POST', '/api/v1/backtests/start', false, false],
    ['POST', '/api/v1/operations/op-1/progress', true, false],
    ['GET', '/api/v1/operations?status=pending', false, false],
    ['POST', '/backtests/start', true, false],
  ])('%s %s (traceparent %s) → untraced %s', (method, url, tp, expected) => {
    expect(isUntracedRequest(method, url, tp)).toBe(expected);
  });
});
