import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from '@ktrdr/contracts';

/** Name of the OpenAPI security scheme of the worker registration token header. */
export const REGISTRATION_TOKEN_SCHEME = 'registration-token';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request; `message` names the offending field',
  401: 'API key (or, on worker routes, the registration token) missing or wrong',
  403: 'The API key’s role does not allow this route (`operate` needed)',
  404: 'Not found; `message` names the resource',
  409: 'Conflict (stale lease, or the operation is not in a state that allows this)',
  413: 'The body is larger than the route accepts',
  415: 'The body is not in the route’s format (JSON: `content-type: application/json`)',
  429: 'The queue is full (KTRDR_OPS_MAX_QUEUED); retry after `Retry-After` seconds',
  503: 'Unavailable; see `message` (and `Retry-After`)',
};

/** Documents error responses with the shared `{ statusCode, error, message }` envelope. */
export function ApiErrors(...codes: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...codes.map((status) =>
      ApiResponse({ status, description: DESCRIPTIONS[status] ?? 'Error', type: ErrorResponseDto }),
    ),
  );
}
