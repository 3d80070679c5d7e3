import { ServiceUnavailableException } from '@nestjs/common';

/** 503 that also sets a Retry-After header (seconds). */
export class RetryLaterException extends ServiceUnavailableException {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
