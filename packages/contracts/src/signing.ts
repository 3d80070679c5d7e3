/**
 * Signed calls from the backend to a worker (dispatch, cancel, shutdown notice). The registration
 * token is the shared secret: the backend signs every call with an HMAC-SHA256 over the method, the
 * path, a timestamp, a nonce and the SHA-256 of the body; the worker refuses a call whose signature is
 * missing, wrong, outside its time window or already seen (replay).
 *
 * Headers: `x-ktrdr-signature: v1=<hex>`, `x-ktrdr-signature-timestamp: <epoch ms>`,
 * `x-ktrdr-signature-nonce: <random hex>`.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-ktrdr-signature';
export const SIGNATURE_TIMESTAMP_HEADER = 'x-ktrdr-signature-timestamp';
export const SIGNATURE_NONCE_HEADER = 'x-ktrdr-signature-nonce';
export const SIGNATURE_VERSION = 'v1';

/** The HMAC key: derived from the token, so the token itself never keys a MAC directly. */
export function signingKey(token: string): Buffer {
  return createHmac('sha256', token).update('ktrdr backend-to-worker call signing v1').digest();
}

export function bodyDigest(body: string | Uint8Array | undefined): string {
  return createHash('sha256')
    .update(body ?? '')
    .digest('hex');
}

/** What is signed: one line per part. `path` is the request path without the query string. */
export function canonicalRequest(
  method: string,
  path: string,
  timestamp: string,
  nonce: string,
  body: string | Uint8Array | undefined,
): string {
  return [
    `KTRDR-HMAC-SHA256-${SIGNATURE_VERSION}`,
    method.toUpperCase(),
    path,
    timestamp,
    nonce,
    bodyDigest(body),
  ].join('\n');
}

function mac(key: Buffer, canonical: string): Buffer {
  return createHmac('sha256', key).update(canonical).digest();
}

export interface SignInput {
  method: string;
  /** Path as the worker routes it, e.g. `/backtests/start` (no host, no query string). */
  path: string;
  /** The exact bytes sent (JSON text); undefined or '' for no body. */
  body?: string;
  /** Epoch ms (default Date.now()). */
  now?: number;
  nonce?: string;
}

/** The three signature headers for one call. */
export function signRequest(token: string, input: SignInput): Record<string, string> {
  const timestamp = String(Math.floor(input.now ?? Date.now()));
  const nonce = input.nonce ?? randomBytes(16).toString('hex');
  const sig = mac(
    signingKey(token),
    canonicalRequest(input.method, input.path, timestamp, nonce, input.body),
  );
  return {
    [SIGNATURE_HEADER]: `${SIGNATURE_VERSION}=${sig.toString('hex')}`,
    [SIGNATURE_TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_NONCE_HEADER]: nonce,
  };
}

export type VerifyOutcome = { ok: true } | { ok: false; reason: string };

export interface VerifyInput {
  method: string;
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The raw body bytes as received (undefined for none). */
  body: string | Uint8Array | undefined;
}

function header(h: VerifyInput['headers'], name: string): string | undefined {
  const v = h[name];
  return typeof v === 'string' ? v : undefined;
}

const HEX_SIGNATURE = /^v1=([0-9a-f]{64})$/;
const NONCE = /^[0-9A-Za-z_-]{8,128}$/;

/**
 * Checks signed calls: a valid MAC, a timestamp within ±`windowMs` of now, and a signature not seen
 * before within the window (each signed call is accepted once). Memory is bounded.
 */
export class SignatureVerifier {
  private readonly key: Buffer;
  private readonly seen = new Map<string, number>();
  private static readonly MAX_SEEN = 100_000;

  constructor(
    token: string,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = signingKey(token);
  }

  verify(input: VerifyInput): VerifyOutcome {
    const raw = header(input.headers, SIGNATURE_HEADER);
    const timestamp = header(input.headers, SIGNATURE_TIMESTAMP_HEADER);
    const nonce = header(input.headers, SIGNATURE_NONCE_HEADER);
    if (!raw || !timestamp || !nonce) {
      return {
        ok: false,
        reason: `unsigned request: the ${SIGNATURE_HEADER}, ${SIGNATURE_TIMESTAMP_HEADER} and ${SIGNATURE_NONCE_HEADER} headers are required (calls to a worker must come from its backend)`,
      };
    }
    const m = HEX_SIGNATURE.exec(raw);
    if (!m) return { ok: false, reason: `${SIGNATURE_HEADER} must be v1=<64 hex characters>` };
    if (!/^\d{1,16}$/.test(timestamp)) {
      return { ok: false, reason: `${SIGNATURE_TIMESTAMP_HEADER} must be epoch milliseconds` };
    }
    if (!NONCE.test(nonce)) {
      return {
        ok: false,
        reason: `${SIGNATURE_NONCE_HEADER} must be 8–128 letters, digits, "_" or "-"`,
      };
    }
    const now = this.now();
    const skew = Math.abs(now - Number(timestamp));
    const given = Buffer.from(m[1] as string, 'hex');
    const expected = mac(
      this.key,
      canonicalRequest(input.method, input.path, timestamp, nonce, input.body),
    );
    if (!timingSafeEqual(given, expected)) {
      return {
        ok: false,
        reason: 'signature does not match (wrong registration token, or the request was altered)',
      };
    }
    if (skew > this.windowMs) {
      return {
        ok: false,
        reason: `signature expired or from the future (${Math.round(skew / 1000)} s off; the window is ${this.windowMs / 1000} s)`,
      };
    }
    const id = m[1] as string;
    this.prune(now);
    if (this.seen.has(id))
      return { ok: false, reason: 'replayed request: this signature was already used' };
    this.seen.set(id, now + 2 * this.windowMs);
    return { ok: true };
  }

  private prune(now: number): void {
    for (const [id, expires] of this.seen) {
      if (expires > now && this.seen.size < SignatureVerifier.MAX_SEEN) break;
      this.seen.delete(id);
    }
  }
}
