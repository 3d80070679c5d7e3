/**
 * The Node binding of httpExchange: node:http / node:https on keep-alive agents. On the backend's
 * dispatch path it costs about a third of fetch's CPU per request (bench/queue-throughput). Node only:
 * exported from `@ktrdr/contracts`, not from `/constants`. It follows no redirect (no KTRDR service
 * answers one; fetch would follow it).
 */
import http from 'node:http';
import https from 'node:https';
import type { AnswerHeaders, HttpTransport } from './http-exchange';

/**
 * An idle pooled connection is closed after 4 s: before the 5 s after which a Node server (the
 * backend, a worker) closes it, so a request is never written to a connection the server is
 * closing (Node's agent heeds the server's `Keep-Alive: timeout=` hint only with a timeout of its
 * own set). A request in progress is bounded by httpExchange's timeout, not by this one.
 */
export const IDLE_CONNECTION_MS = 4_000;

const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: IDLE_CONNECTION_MS }),
  'https:': new https.Agent({ keepAlive: true, timeout: IDLE_CONNECTION_MS }),
};

function headersOf(raw: http.IncomingHttpHeaders): AnswerHeaders {
  return {
    get(name) {
      const v = raw[name.toLowerCase()];
      if (v === undefined) return null;
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

export const nodeHttpTransport: HttpTransport = (url, request) =>
  new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return reject(new TypeError(`Invalid URL: ${url}`));
    }
    const protocol = target.protocol;
    if (protocol !== 'http:' && protocol !== 'https:') {
      return reject(new TypeError(`Unsupported protocol ${protocol} in ${url}`));
    }
    const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
    const headers: Record<string, string> = { ...request.headers };
    if (body !== undefined) headers['content-length'] = String(body.byteLength);
    const send = protocol === 'https:' ? https.request : http.request;
    const req = send(
      target,
      { method: request.method, headers, agent: agents[protocol], signal: request.signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: headersOf(res.headers),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        // A connection lost in the middle of the body (no 'end'): a failure, not a short answer.
        res.on('close', () => {
          if (!res.complete)
            reject(new Error('the connection closed before the answer was complete'));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
