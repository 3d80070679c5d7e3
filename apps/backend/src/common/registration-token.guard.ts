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
 * When a registration token is configured, worker calls (register, heartbeat, progress, complete)
 * must carry it in the `x-ktrdr-worker-token` header; 401 otherwise.
 */
@Injectable()
export class RegistrationTokenGuard implements CanActivate {
  constructor(@Inject(BACKEND_SETTINGS) private readonly settings: BackendSettings) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.settings.worker.registration_token;
    if (!expected) return true;
    const req = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>();
    const raw = req.headers[REGISTRATION_TOKEN_HEADER];
    const given = typeof raw === 'string' ? raw : '';
    if (!given || !tokensMatch(given, expected)) {
      throw new UnauthorizedException(
        `${REGISTRATION_TOKEN_HEADER} header is missing or wrong (a registration token is configured on this backend)`,
      );
    }
    return true;
  }
}
