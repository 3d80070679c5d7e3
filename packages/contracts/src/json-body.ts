import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The JSON request bodies of every KTRDR service (backend and workers): one content-type rule, one
 * 415 for writes that carry another format, and the options of the one parser (body-parser's JSON
 * parser, which Nest's Express adapter ships), whose 400/413 errors ErrorEnvelopeFilter words.
 */

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `application/json` or any `application/*+json`, with optional parameters. */
export const JSON_CONTENT_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;.*)?$/i;

/** A request as the parser leaves it: the parsed body and, when kept, the exact text (for signatures). */
export type JsonRequest = IncomingMessage & { body?: unknown; rawBody?: string };

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** A write that carries a binary body instead of JSON (e.g. an artifact chunk). */
export interface BinaryWrite {
  method: string;
  /** Matched against the path (without the query). */
  path: RegExp;
  /** The one media type accepted there (parameters ignored). */
  mediaType: string;
}

/** The media type of a content-type header, lower case, without parameters. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * JSON only on every write: a POST/PUT/PATCH/DELETE that carries a body in another format (a
 * cross-site HTML form, text, multipart) gets 415 before any parser or handler sees it, except the
 * `binary` writes listed, each on its route only. A write without a body passes with `body` `{}`
 * and `rawBody` `''` (e.g. DELETE /operations/{id}).
 */
export function jsonOnlyWrites(binary: readonly BinaryWrite[] = []) {
  return (req: JsonRequest, res: ServerResponse, next: (err?: unknown) => void): void => {
    if (!WRITE_METHODS.has(req.method ?? '')) return next();
    if (!hasBody(req)) {
      req.body ??= {};
      req.rawBody ??= '';
      return next();
    }
    const type = req.headers['content-type'] ?? '';
    if (JSON_CONTENT_TYPE.test(type)) return next();
    if (binary.length > 0) {
      const media = mediaTypeOf(type);
      const path = (req.url ?? '').split('?')[0]!;
      if (binary.some((b) => b.mediaType === media && b.method === req.method && b.path.test(path)))
        return next();
    }
    const message = `body must be JSON (content-type: application/json)${type ? `, got "${type.slice(0, 100).replace(/[^\x20-\x7e]/g, '?')}"` : ', got no content-type'}`;
    res.statusCode = 415;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('connection', 'close');
    res.end(JSON.stringify({ statusCode: 415, error: 'Unsupported Media Type', message }));
    // The body is not read: drop the connection once the answer is out.
    req.resume();
  };
}

export interface JsonBodyOptions {
  /** Largest body accepted (bytes, or body-parser's `'16mb'` form); beyond it: 413. */
  limit: number | string;
  /** Keep the exact text in `req.rawBody` (a worker checks the backend's signature over it). */
  keepRawBody?: boolean;
}

/** Options for `app.useBodyParser('json', …)` (Nest's Express adapter, before `init()`). */
export function jsonBodyParserOptions(options: JsonBodyOptions) {
  return {
    limit: options.limit,
    type: (req: IncomingMessage): boolean =>
      JSON_CONTENT_TYPE.test(String(req.headers['content-type'] ?? '')),
    ...(options.keepRawBody
      ? {
          verify: (
            req: JsonRequest,
            _res: ServerResponse,
            buf: Buffer,
            encoding?: string,
          ): void => {
            req.rawBody = buf.toString((encoding as BufferEncoding | undefined) ?? 'utf8');
          },
        }
      : {}),
  };
}
