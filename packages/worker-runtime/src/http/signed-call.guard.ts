import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { JsonRequest } from '@ktrdr/contracts';
import { WORKER_RUNTIME } from './tokens';
import type { WorkerRuntime } from '../runtime';

/**
 * Every call except the health probes and `/metrics` (start, cancel, backend shutdown notice, and the
 * operation status, which carries parameters and error texts) must be signed by the backend with the
 * registration token (see @ktrdr/contracts signing); anything else gets 401 before the body is
 * validated or the runtime sees it.
 */
@Injectable()
export class SignedCallGuard implements CanActivate {
  constructor(@Inject(WORKER_RUNTIME) private readonly runtime: WorkerRuntime) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<JsonRequest & { originalUrl?: string }>();
    const outcome = this.runtime.verifyCall({
      method: req.method ?? 'GET',
      path: (req.originalUrl ?? req.url ?? '/').split('?')[0] as string,
      headers: req.headers,
      body: req.rawBody ?? '',
    });
    if (!outcome.ok) throw new UnauthorizedException(outcome.reason);
    return true;
  }
}
