import { BadRequestException, NotFoundException } from '@nestjs/common';
import { toErrorEnvelope as toEnvelope } from '@ktrdr/contracts';
import { RetryLaterException } from '../src/common/errors';
import { tokensMatch } from '../src/auth/access.guard';

describe('error envelope', () => {
  it('keeps HttpException status and message', () => {
    expect(toEnvelope(new NotFoundException('Operation x not found')).envelope).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'Operation x not found',
    });
  });

  it('joins array messages and carries Retry-After', () => {
    const r = toEnvelope(new BadRequestException(['a must be x', 'b must be y']));
    expect(r.envelope.message).toBe('a must be x; b must be y');
    expect(toEnvelope(new RetryLaterException('later', 5)).retryAfter).toBe(5);
  });

  it('hides unexpected errors behind a generic 500 (no message, no stack)', () => {
    const err = new Error('SELECT * FROM secret failed at /srv/app.ts:12');
    const { envelope } = toEnvelope(err);
    expect(envelope).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'Internal server error',
    });
  });

  it('maps body-parser errors to 4xx', () => {
    expect(toEnvelope({ status: 413, type: 'entity.too.large', message: 'x' }).envelope).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: 'body is too large',
    });
  });
});

describe('registration token comparison', () => {
  it('matches only the exact token, whatever the lengths', () => {
    expect(tokensMatch('abc', 'abc')).toBe(true);
    expect(tokensMatch('abd', 'abc')).toBe(false);
    expect(tokensMatch('abcd', 'abc')).toBe(false);
    expect(tokensMatch('', 'abc')).toBe(false);
  });
});
