import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { RuntimeLogger } from '../logger';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** One error envelope, `{ statusCode, error, message }`, no stack traces (same as the backend). */
@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  constructor(private readonly logger?: RuntimeLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    let statusCode = HttpStatus.INTERNAL_SERVER_ERROR as number;
    let message = 'Internal server error';
    if (exception instanceof HttpException) {
      statusCode = exception.getStatus();
      const body = exception.getResponse();
      if (typeof body === 'string') message = body;
      else if (body && typeof body === 'object') {
        const m = (body as { message?: unknown }).message;
        message = Array.isArray(m) ? m.join('; ') : typeof m === 'string' ? m : exception.message;
      }
    } else {
      // Errors of the router or a body parser carry their 4xx status.
      const e = exception as { status?: unknown; message?: unknown } | null;
      if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
        statusCode = e.status;
        message = typeof e.message === 'string' ? e.message : 'Bad request';
      } else {
        this.logger?.error(`unhandled error: ${(exception as Error)?.stack ?? String(exception)}`);
      }
    }
    if (statusCode === 400 && /^Failed to decode param/.test(message)) {
      message = 'path: not valid percent-encoded UTF-8';
    }
    const error = REASONS[statusCode] ?? (statusCode >= 500 ? 'Internal Server Error' : 'Error');
    if (res.headersSent) return;
    res.statusCode = statusCode;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({ statusCode, error, message }));
  }
}
