import type { IncomingMessage, ServerResponse } from 'node:http';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `application/json` or any `application/*+json`, with optional parameters. */
export const JSON_CONTENT_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;.*)?$/i;

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * JSON only on every write: a POST/PUT/PATCH/DELETE that carries a body in another format (a
 * cross-site HTML form, text, multipart) gets 415 before any parser or handler sees it. A write without
 * a body passes (e.g. DELETE /operations/{id}); the handler decides whether it needed one.
 */
export function jsonOnlyWrites() {
  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    if (!WRITE_METHODS.has(req.method ?? '') || !hasBody(req)) return next();
    const type = req.headers['content-type'] ?? '';
    if (JSON_CONTENT_TYPE.test(type)) return next();
    const message = `body must be JSON (content-type: application/json)${type ? `, got "${type.slice(0, 100).replace(/[^\x20-\x7e]/g, '?')}"` : ', got no content-type'}`;
    res.statusCode = 415;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('connection', 'close');
    res.end(JSON.stringify({ statusCode: 415, error: 'Unsupported Media Type', message }));
    // The body is not read: drop the connection once the answer is out.
    req.resume();
  };
}
