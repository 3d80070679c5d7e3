import type { IncomingMessage, ServerResponse } from 'node:http';

type Next = (err?: unknown) => void;

export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;.*)?$/i;

/** A request as the parser leaves it: the parsed body and the exact bytes (for signatures). */
export type ParsedRequest = IncomingMessage & { body?: unknown; rawBody?: string };

function sendError(res: ServerResponse, statusCode: number, error: string, message: string): void {
  res.statusCode = statusCode;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ statusCode, error, message }));
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * JSON body parser that answers malformed or oversized bodies with the standard error
 * envelope (400/413) instead of an HTML page with a stack trace, and a write whose body is not JSON
 * with 415. Keeps the raw text in `req.rawBody` (signatures cover the exact bytes). Used instead of
 * Nest's parser.
 */
export function jsonBodyParser(limit = JSON_BODY_LIMIT_BYTES) {
  return (req: ParsedRequest, res: ServerResponse, next: Next): void => {
    const method = req.method ?? 'GET';
    if (!WRITE_METHODS.has(method)) return next();
    if (!hasBody(req)) {
      req.body = {};
      req.rawBody = '';
      return next();
    }
    const type = String(req.headers['content-type'] ?? '');
    if (!JSON_TYPE.test(type)) {
      sendError(
        res,
        415,
        'Unsupported Media Type',
        `body must be JSON (content-type: application/json)${type ? `, got "${type.slice(0, 100).replace(/[^\x20-\x7e]/g, '?')}"` : ', got no content-type'}`,
      );
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        sendError(res, 413, 'Payload Too Large', `body must be at most ${limit} bytes`);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      req.rawBody = text;
      if (text.trim() === '') {
        req.body = {};
        return next();
      }
      try {
        req.body = JSON.parse(text) as unknown;
      } catch (err) {
        return sendError(
          res,
          400,
          'Bad Request',
          `body is not valid JSON (${(err as Error).message.slice(0, 200)})`,
        );
      }
      next();
    });
    req.on('error', (err) => {
      if (failed) return;
      failed = true;
      sendError(res, 400, 'Bad Request', `could not read the body: ${err.message}`);
    });
  };
}
