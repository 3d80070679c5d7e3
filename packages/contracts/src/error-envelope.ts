import { STATUS_CODES, type ServerResponse } from 'node:http';
import {
  Catch,
  HttpException,
  HttpStatus,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { envelopeMessage, errorText } from './error-text';

/**
 * The one error envelope of the wire, `{ statusCode, error, message }` (ErrorResponseDto), and the
 * one Nest exception filter that writes it: the backend and every worker install this filter.
 * Never sends a stack trace or the text of an unexpected error.
 */
export interface ErrorEnvelope {
  statusCode: number;
  error: string;
  message: string;
}

/** What `toErrorEnvelope` makes of an exception: the body and the headers that go with it. */
export interface WireError {
  envelope: ErrorEnvelope;
  /** Seconds for a Retry-After header (an HttpException carrying `retryAfterSeconds`). */
  retryAfter?: number;
  /** Further headers an exception asks for (`responseHeaders`, e.g. WWW-Authenticate). */
  headers?: Record<string, string>;
}

const JSON_SYNTAX =
  /in JSON at position|after JSON|Unexpected (token|end of JSON|non-whitespace)|is not valid JSON/;
const BAD_PARAM = /^Failed to decode param/;

/** Express's message for a path that is not valid percent-encoding, said about the path. */
export const BAD_PATH_MESSAGE = 'path: not valid percent-encoded UTF-8';

function reason(statusCode: number): string {
  return STATUS_CODES[statusCode] ?? (statusCode >= 500 ? 'Internal Server Error' : 'Error');
}

function extras(exception: unknown): Pick<WireError, 'retryAfter' | 'headers'> {
  const e = exception as { retryAfterSeconds?: unknown; responseHeaders?: unknown } | null;
  const out: Pick<WireError, 'retryAfter' | 'headers'> = {};
  if (typeof e?.retryAfterSeconds === 'number') out.retryAfter = e.retryAfterSeconds;
  if (e?.responseHeaders && typeof e.responseHeaders === 'object')
    out.headers = e.responseHeaders as Record<string, string>;
  return out;
}

/** Maps any exception to the envelope; an unexpected error becomes a bare 500. */
export function toErrorEnvelope(exception: unknown): WireError {
  if (exception instanceof HttpException) {
    const statusCode = exception.getStatus();
    let message = envelopeMessage(exception.getResponse(), exception.message);
    // Nest maps body-parser's SyntaxError to a bare 400 with JSON.parse's text: say what it is about.
    if (statusCode === 400 && JSON_SYNTAX.test(message) && !message.startsWith('body '))
      message = `body is not valid JSON: ${message}`;
    if (statusCode === 400 && BAD_PARAM.test(message)) message = BAD_PATH_MESSAGE;
    return { envelope: { statusCode, error: reason(statusCode), message }, ...extras(exception) };
  }
  // Errors raised by the router or a body parser carry a 4xx status (and body-parser a type).
  const e = exception as {
    status?: unknown;
    statusCode?: unknown;
    type?: unknown;
    message?: unknown;
  } | null;
  const status =
    typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 0;
  if (e && status >= 400 && status < 500) {
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
    return { envelope: { statusCode: status, error: reason(status), message } };
  }
  return {
    envelope: {
      statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
      error: 'Internal Server Error',
      message: 'Internal server error',
    },
  };
}

/** Where the filter reports an unexpected error (with its stack; the client never sees either). */
export type UnexpectedErrorLog = (message: string, stack?: string) => void;

/** Writes `toErrorEnvelope(exception)` on any HTTP adapter's response (it is a Node ServerResponse). */
@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  constructor(private readonly logUnexpected?: UnexpectedErrorLog) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    const { envelope, retryAfter, headers } = toErrorEnvelope(exception);
    if (envelope.statusCode >= 500 && !(exception instanceof HttpException)) {
      this.logUnexpected?.(
        errorText(exception),
        exception instanceof Error ? exception.stack : undefined,
      );
    }
    if (res.headersSent) return;
    if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
    if (headers) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.statusCode = envelope.statusCode;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(envelope));
  }
}
