import { SetMetadata, applyDecorators } from '@nestjs/common';
import { ApiExtension, ApiSecurity } from '@nestjs/swagger';
import { REGISTRATION_TOKEN_SCHEME } from '../common/api-errors.decorator';
import type { ApiRole } from './api-keys';

export const ACCESS_METADATA = 'ktrdr:access';
/** OpenAPI extension naming who may call an operation: see {@link AccessLevel}. */
export const ACCESS_EXTENSION = 'x-ktrdr-access';

/**
 * Who may call a route. `read`/`operate`: an API key with that role (the default follows the HTTP
 * method: GET and HEAD need `read`, everything else `operate`). `worker`: the registration token.
 * `public-metrics` / `public-health`: anyone, unless KTRDR_API_PUBLIC_METRICS / _HEALTH is false
 * (then a `read` key).
 */
export type AccessLevel = ApiRole | 'worker' | 'public-metrics' | 'public-health';

function access(level: AccessLevel): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(ACCESS_METADATA, level),
    ApiExtension(ACCESS_EXTENSION, level),
  );
}

/** Scrape and probe routes: no key unless the matching KTRDR_API_PUBLIC_* setting is false. */
export function PublicRoute(kind: 'metrics' | 'health'): MethodDecorator & ClassDecorator {
  return access(kind === 'metrics' ? 'public-metrics' : 'public-health');
}

/** Worker protocol routes (register, heartbeat, progress, complete): the registration token. */
export function WorkerProtocolRoute(): MethodDecorator & ClassDecorator {
  return applyDecorators(access('worker'), ApiSecurity(REGISTRATION_TOKEN_SCHEME));
}

/** Overrides the role the HTTP method implies (e.g. a POST that only reads). */
export function RequireRole(role: ApiRole): MethodDecorator & ClassDecorator {
  return access(role);
}

/** The role a route needs when it has no access decorator. */
export function defaultRoleFor(method: string): ApiRole {
  const m = method.toUpperCase();
  return m === 'GET' || m === 'HEAD' ? 'read' : 'operate';
}
