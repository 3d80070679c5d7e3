import { ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import type { ArgumentsHost } from '@nestjs/common';
import { BAD_PATH_MESSAGE, ErrorEnvelopeFilter, toErrorEnvelope } from '../src/error-envelope';
import { envelopeMessage, errorText } from '../src/error-text';

/** A response that records what the filter wrote (the Node ServerResponse surface it uses). */
function fakeResponse(headersSent = false) {
  const headers: Record<string, string> = {};
  const res = {
    headersSent,
    statusCode: 200,
    body: undefined as string | undefined,
    headers,
    setHeader: (name: string, value: string) => void (headers[name.toLowerCase()] = value),
    end: (body: string) => void (res.body = body),
  };
  const host = { switchToHttp: () => ({ getResponse: () => res }) } as unknown as ArgumentsHost;
  return { res, host };
}

describe('ErrorEnvelopeFilter', () => {
  it('writes the envelope with Retry-After and the headers an exception asks for', () => {
    const later = Object.assign(new ServiceUnavailableException('draining'), {
      retryAfterSeconds: 7,
    });
    const { res, host } = fakeResponse();
    new ErrorEnvelopeFilter().catch(later, host);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.body!)).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'draining',
    });

    const denied = Object.assign(new UnauthorizedException('no key'), {
      responseHeaders: { 'WWW-Authenticate': 'Bearer realm="ktrdr"' },
    });
    const second = fakeResponse();
    new ErrorEnvelopeFilter().catch(denied, second.host);
    expect(second.res.headers['www-authenticate']).toBe('Bearer realm="ktrdr"');
    expect(second.res.statusCode).toBe(401);
  });

  it('logs an unexpected error with its stack and sends only a bare 500', () => {
    const logged: string[] = [];
    const { res, host } = fakeResponse();
    new ErrorEnvelopeFilter((message, stack) => logged.push(`${message}|${stack ?? ''}`)).catch(
      new Error('SELECT secret FROM t'),
      host,
    );
    expect(JSON.parse(res.body!)).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'Internal server error',
    });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^SELECT secret FROM t\|Error: SELECT secret/);
  });

  it('writes nothing once the headers are out', () => {
    const { res, host } = fakeResponse(true);
    new ErrorEnvelopeFilter().catch(new UnauthorizedException('x'), host);
    expect(res.body).toBeUndefined();
    expect(res.statusCode).toBe(200);
  });

  it('says a bad percent-encoding is about the path, whoever raised it', () => {
    expect(
      toErrorEnvelope({ status: 400, message: 'Failed to decode param %E0' }).envelope,
    ).toEqual({ statusCode: 400, error: 'Bad Request', message: BAD_PATH_MESSAGE });
  });
});

describe('errorText', () => {
  it('says what went wrong, whatever was thrown', () => {
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5003' },
    });
    expect(errorText(refused)).toBe('connect ECONNREFUSED 127.0.0.1:5003');
    expect(
      errorText(Object.assign(new TypeError('fetch failed'), { cause: { code: 'EPIPE' } })),
    ).toBe('EPIPE');
    expect(errorText(Object.assign(new Error('x'), { name: 'TimeoutError' }))).toBe('timed out');
    expect(errorText(Object.assign(new Error('x'), { name: 'AbortError' }))).toBe('aborted');
    const both = new AggregateError([new Error('a refused'), new Error('b refused')], '');
    expect(errorText(both)).toBe('a refused; b refused');
    const ours = new Error('Migration 2 failed', { cause: new Error('syntax error') });
    expect(errorText(ours)).toBe('Migration 2 failed');
    expect(errorText(Object.assign(new Error(''), { code: '28P01' }))).toBe('28P01');
    expect(errorText('plain')).toBe('plain');
    expect(errorText(null)).toBe('null');
  });
});

describe('envelopeMessage', () => {
  it('reads the envelope, a readiness report or a text body, else the fallback', () => {
    expect(envelopeMessage({ statusCode: 400, message: 'symbol must be…' }, 'f')).toBe(
      'symbol must be…',
    );
    expect(envelopeMessage({ message: ['a', 'b'] }, 'f')).toBe('a; b');
    expect(
      envelopeMessage(
        { status: 'error', error: { database: { status: 'down', message: 'x' } } },
        'f',
      ),
    ).toBe('Not ready: database is down: x');
    expect(envelopeMessage('  bad gateway  ', 'f')).toBe('bad gateway');
    expect(envelopeMessage({}, 'HTTP 502')).toBe('HTTP 502');
    expect(envelopeMessage(null, 'HTTP 502')).toBe('HTTP 502');
  });
});
