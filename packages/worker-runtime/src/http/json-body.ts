import type { IncomingMessage, ServerResponse } from 'node:http';

type Next = (err?: unknown) => void;

export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

function sendError(res: ServerResponse, statusCode: number, error: string, message: string): void {
  res.statusCode = statusCode;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ statusCode, error, message }));
}

/**
 * JSON body parser that answers malformed or oversized bodies with the standard error
 * envelope (400/413) instead of an HTML page with a stack trace. Used instead of Nest's parser.
 */
export function jsonBodyParser(limit = JSON_BODY_LIMIT_BYTES) {
  return (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: Next): void => {
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return next();
    const type = String(req.headers['content-type'] ?? '');
    if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type)) {
      req.body = {};
      return next();
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
          `body is not valid JSON (${(err as Error).message})`,
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
