import { responseText } from '../src/backend-client';

describe('responseText', () => {
  it('says the status and the error envelope message, or why there was no answer', () => {
    expect(
      responseText({ status: 409, body: { statusCode: 409, message: 'lease is stale' } }),
    ).toBe('HTTP 409: lease is stale');
    expect(responseText({ status: 400, body: { message: ['a must be set', 'b too'] } })).toBe(
      'HTTP 400: a must be set; b too',
    );
    expect(responseText({ status: 502, body: null, error: 'response is not JSON' })).toBe(
      'HTTP 502',
    );
    expect(responseText({ status: 500, body: 'a bare JSON string' })).toBe('HTTP 500');
    expect(
      responseText({ status: 0, body: null, error: 'connect ECONNREFUSED 127.0.0.1:8000' }),
    ).toBe('connect ECONNREFUSED 127.0.0.1:8000');
    expect(responseText({ status: 0, body: null })).toBe('unreachable');
  });
});
