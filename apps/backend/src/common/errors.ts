import { HttpException, HttpStatus, ServiceUnavailableException } from '@nestjs/common';

/** 503 that also sets a Retry-After header (seconds). */
export class RetryLaterException extends ServiceUnavailableException {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** 429: the queue is full; sets a Retry-After header (seconds). */
export class QueueFullException extends HttpException {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(
      { statusCode: HttpStatus.TOO_MANY_REQUESTS, error: 'Too Many Requests', message },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
