/**
 * The one way every KTRDR package turns something thrown, or an error answer's body, into a line
 * of text for a log or a message (framework-free: also in `@ktrdr/contracts/constants`).
 */

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  errors?: unknown;
  cause?: { code?: unknown; message?: unknown } | null;
}

/**
 * The text of anything thrown: a timeout or abort said as such; fetch's bare "fetch failed" replaced
 * by its cause ("connect ECONNREFUSED 127.0.0.1:5003"); Node's AggregateError (localhost → ::1 and 127.0.0.1, empty
 * message) by its parts; else the message, the code, the name. Checked by shape, not `instanceof`:
 * errors may come from another realm.
 */
export function errorText(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as ErrorLike;
  if (e.name === 'TimeoutError') return 'timed out';
  if (e.name === 'AbortError') return 'aborted';
  const message = typeof e.message === 'string' ? e.message : '';
  if (message === '' || message === 'fetch failed') {
    if (typeof e.cause?.message === 'string' && e.cause.message) return e.cause.message;
    if (typeof e.cause?.code === 'string') return e.cause.code;
  }
  if (message === '' && Array.isArray(e.errors) && e.errors.length > 0) {
    return e.errors.map(errorText).join('; ');
  }
  if (message) return message;
  if (typeof e.code === 'string') return e.code;
  return typeof e.name === 'string' && e.name ? e.name : String(err);
}

/**
 * The message an error answer carries: the envelope's `message` (a list joined by "; "), a readiness
 * report's failing checks (`{ status: 'error', error: { db: { message } } }`), a plain-text body;
 * `fallback` when there is none.
 */
export function envelopeMessage(body: unknown, fallback: string): string {
  if (typeof body === 'string') return body.trim() || fallback;
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (Array.isArray(b.message)) return b.message.map(String).join('; ');
    if (typeof b.message === 'string' && b.message) return b.message;
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
