import { createHash, timingSafeEqual } from 'node:crypto';
import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { REGISTRATION_TOKEN_HEADER } from '@ktrdr/contracts';
import { BACKEND_SETTINGS, type BackendSettings } from '../config/settings';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** True when `given` equals `expected`, compared in constant time (hashes have equal length). */
export function tokensMatch(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Worker calls (register, heartbeat, progress, complete) must carry the registration token in the
 * `x-ktrdr-worker-token` header; 401 otherwise, and always when no token is configured (the default is
 * never open: outside production the backend uses the development token). The global AccessGuard does
 * the same check for routes marked @WorkerProtocolRoute(); a route that still uses this guard is
 * treated as a worker route by it too.
 */
@Injectable()
export class RegistrationTokenGuard implements CanActivate {
  constructor(@Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.settings.worker.registration_token;
    const req = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>();
    const raw = req.headers[REGISTRATION_TOKEN_HEADER];
    const given = typeof raw === 'string' ? raw : '';
    if (!expected || !given || !tokensMatch(given, expected)) {
      throw new UnauthorizedException(
        `${REGISTRATION_TOKEN_HEADER} header is missing or wrong: worker routes need the registration token`,
      );
    }
    return true;
  }
}
