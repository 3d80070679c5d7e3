import { ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import type { ArgumentsHost } from '@nestjs/common';
import { BAD_PATH_MESSAGE, ErrorEnvelopeFilter, toErrorEnvelope } from '../src/error-envelope';

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
