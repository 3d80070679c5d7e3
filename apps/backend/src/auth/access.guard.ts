import { timingSafeEqual } from 'node:crypto';
import {
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { REGISTRATION_TOKEN_HEADER } from '@ktrdr/contracts';
import { RetryLaterException } from '../common/errors';
import { ShutdownState } from '../common/shutdown-state';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';
import { ApiKeyStore, roleAllows, type ApiRole } from './api-keys';
import { ACCESS_METADATA, defaultRoleFor, type AccessLevel } from './access.decorators';

export const API_KEY_STORE = Symbol('API_KEY_STORE');

/** The configured secrets as bytes (a handful: the token and the API keys), made once each. */
const expectedBytes = new Map<string, Buffer>();
function bytesOf(secret: string): Buffer {
  let b = expectedBytes.get(secret);
  if (!b) {
    if (expectedBytes.size >= 64) expectedBytes.clear();
    b = Buffer.from(secret, 'utf8');
    expectedBytes.set(secret, b);
  }
  return b;
}

/**
 * True when `given` equals `expected`, compared in constant time for equal lengths (timingSafeEqual).
 * Only a length mismatch answers faster, and the secrets' lengths are not secret: tokens and keys
 * have fixed, documented formats. (Hashing both sides to hide the length cost a SHA-256 of the
 * presented secret on every request, 3 % of a heartbeat.)
 */
export function tokensMatch(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = bytesOf(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A 401 that tells the client which scheme to use (`WWW-Authenticate: Bearer`). */
export class ApiKeyRequiredException extends UnauthorizedException {
  readonly responseHeaders = { 'WWW-Authenticate': 'Bearer realm="ktrdr"' };
}

interface GuardedRequest {
  method: string;
  originalUrl?: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Set when an API key was accepted (never the key itself). */
  apiKey?: { name: string; role: ApiRole };
}

function bearer(headers: GuardedRequest['headers']): string | null | undefined {
  const raw = headers.authorization;
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw[0] : raw;
  const m = /^Bearer[ ]+(\S{1,512})[ ]*$/i.exec(value ?? '');
  return m ? (m[1] as string) : null;
}

/**
 * The one access check of the backend, global (APP_GUARD), so every route is covered, including
 * routes added later without a decorator: user routes need an API key whose role allows the route
 * (GET/HEAD → read, otherwise operate, unless @RequireRole says otherwise), worker routes the
 * registration token, public routes nothing (unless their KTRDR_API_PUBLIC_* setting is false).
 * Keys are compared as SHA-256 digests, the token byte for byte, in constant time; neither is logged.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings,
    @Inject(API_KEY_STORE) private readonly keys: ApiKeyStore,
    private readonly shutdown: ShutdownState,
  ) {}

  /** Declared levels per handler (null: none declared), read from the metadata once. */
  private readonly declared = new WeakMap<object, AccessLevel | null>();

  /** The access level of a handler (its or its controller's decorator, or the method's default). */
  levelOf(context: ExecutionContext, method: string): AccessLevel {
    const handler = context.getHandler();
    let level = this.declared.get(handler);
    if (level === undefined) {
      level =
        this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_METADATA, [
          handler,
          context.getClass(),
        ]) ?? null;
      this.declared.set(handler, level);
    }
    return level ?? defaultRoleFor(method);
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<GuardedRequest>();
    const level = this.levelOf(context, req.method);
    const auth = this.settings.auth;
    switch (level) {
      case 'public-metrics':
        return auth.public_metrics ? true : this.checkKey(req, 'read');
      case 'public-health':
        return auth.public_health ? true : this.checkKey(req, 'read');
      case 'worker':
        return this.checkWorker(req);
      default:
        return this.checkKey(req, level);
    }
  }

  private checkWorker(req: GuardedRequest): boolean {
    const expected = this.settings.worker.registration_token;
    const raw = req.headers[REGISTRATION_TOKEN_HEADER];
    const given = typeof raw === 'string' ? raw : '';
    if (!expected || !given || !tokensMatch(given, expected)) {
      throw new UnauthorizedException(
        `${REGISTRATION_TOKEN_HEADER} header is missing or wrong: worker routes need the registration token (KTRDR_WORKER_REGISTRATION_TOKEN, or the development token in {data dir}/dev-worker-token)`,
      );
    }
    if (this.shutdown.isShuttingDown) {
      throw new RetryLaterException('Backend is shutting down; retry shortly', 5);
    }
    return true;
  }

  private checkKey(req: GuardedRequest, need: ApiRole): boolean {
    const key = bearer(req.headers);
    if (key === undefined) {
      throw new ApiKeyRequiredException(
        'authorization: an API key is required (send "Authorization: Bearer <key>"; see docs/security.md)',
      );
    }
    const entry = key === null ? null : this.keys.match(key);
    if (!entry) {
      throw new ApiKeyRequiredException(
        'authorization: the API key is not valid (expected "Authorization: Bearer <key>" with a configured key)',
      );
    }
    if (!roleAllows(entry.role, need)) {
      const path = (req.originalUrl ?? req.url).split('?')[0];
      throw new ForbiddenException(
        `authorization: API key "${entry.name}" has the ${entry.role} role; ${req.method} ${path} needs ${need}`,
      );
    }
    req.apiKey = entry;
    return true;
  }
}
