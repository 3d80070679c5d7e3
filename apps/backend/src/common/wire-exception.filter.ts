import { STATUS_CODES } from 'node:http';
import {
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { QueueFullException, RetryLaterException } from './errors';

interface WireResponse {
  headersSent: boolean;
  status(code: number): WireResponse;
  setHeader(name: string, value: string): void;
  json(body: unknown): void;
}

const JSON_SYNTAX =
  /in JSON at position|after JSON|Unexpected (token|end of JSON|non-whitespace)|is not valid JSON/;
const BAD_PARAM = /^Failed to decode param/;

/** Express's message for a path that is not valid percent-encoding, said about the path. */
export const BAD_PATH_MESSAGE = 'path: not valid percent-encoded UTF-8';

export interface ErrorEnvelope {
  statusCode: number;
  error: string;
  message: string;
}

function messageOf(body: unknown, fallback: string): string {
  if (typeof body === 'string') return body;
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (Array.isArray(b.message)) return b.message.map(String).join('; ');
    if (typeof b.message === 'string') return b.message;
    // Terminus: { status: 'error', error: { key: { status: 'down', message } } }
    if (b.status === 'error' && b.error && typeof b.error === 'object') {
      const parts = Object.entries(b.error as Record<string, unknown>).map(([key, v]) => {
        const detail =
          v && typeof v === 'object' && typeof (v as Record<string, unknown>).message === 'string'
            ? `: ${(v as Record<string, unknown>).message as string}`
            : '';
        return `${key} is down${detail}`;
      });
      return `Not ready: ${parts.join('; ')}`;
    }
  }
  return fallback;
}

/** Maps any exception to `{ statusCode, error, message }`; never sends a stack trace. */
export function toEnvelope(exception: unknown): { envelope: ErrorEnvelope; retryAfter?: number } {
  if (exception instanceof HttpException) {
    const statusCode = exception.getStatus();
    let message = messageOf(exception.getResponse(), exception.message);
    // Nest maps body-parser's SyntaxError to a bare 400 with JSON.parse's text: say what it is about.
    if (statusCode === 400 && JSON_SYNTAX.test(message) && !message.startsWith('body '))
      message = `body is not valid JSON: ${message}`;
    if (statusCode === 400 && BAD_PARAM.test(message)) message = BAD_PATH_MESSAGE;
    return {
      envelope: { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message },
      retryAfter:
        exception instanceof RetryLaterException || exception instanceof QueueFullException
          ? exception.retryAfterSeconds
          : undefined,
    };
  }
  // Errors raised by express middleware (body-parser) carry a 4xx status and a type.
  const e = exception as {
    status?: unknown;
    statusCode?: unknown;
    type?: unknown;
    message?: unknown;
  };
  const status =
    typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 0;
  if (status >= 400 && status < 500) {
    const message =
      e.type === 'entity.parse.failed'
        ? 'body is not valid JSON'
        : e.type === 'entity.too.large'
          ? 'body is too large'
          : typeof e.message === 'string'
            ? BAD_PARAM.test(e.message)
              ? BAD_PATH_MESSAGE
              : e.message
            : 'Bad request';
    return { envelope: { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message } };
  }
  return {
    envelope: {
      statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
      error: 'Internal Server Error',
      message: 'Internal server error',
    },
  };
}

@Catch()
export class WireExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<WireResponse>();
    const { envelope, retryAfter } = toEnvelope(exception);
    if (envelope.statusCode >= 500 && !(exception instanceof HttpException)) {
      this.logger.error(
        exception instanceof Error ? exception.message : String(exception),
        exception instanceof Error ? exception.stack : undefined,
      );
    }
    if (res.headersSent) return;
    if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
    const extra = (exception as { responseHeaders?: Record<string, string> } | null)
      ?.responseHeaders;
    if (extra) for (const [name, value] of Object.entries(extra)) res.setHeader(name, value);
    res.status(envelope.statusCode).json(envelope);
  }
}
