import type {
  HeartbeatRequestDto,
  HeartbeatResponseDto,
  RegisterWorkerRequestDto,
  RegisterWorkerResponseDto,
} from '@ktrdr/contracts';
import { backoffDelayMs, redactUrlCredentials, type Clock } from '@ktrdr/config';
import { errorText } from '@ktrdr/contracts';
import { responseText, type BackendClient } from './backend-client';
import { UNREACHABLE_BACKOFF_MAX_MS } from './config';
import type { RuntimeLogger } from './logger';

export interface RegistrationHooks {
  /** The registration body (capabilities, current operation, unacknowledged completions). */
  registrationBody(): Promise<RegisterWorkerRequestDto>;
  heartbeatBody(): HeartbeatRequestDto;
  /** A registration carrying these completions was accepted. */
  completionsAcknowledged(operationIds: string[]): void;
  /** A registration carrying these completions was refused with 4xx (leave them out next time). */
  completionsRefused?(operationIds: string[]): void;
  /** `stop_operations` of a registration response. */
  stopOperations(operationIds: string[]): void;
  /** `cancel_operations` of a heartbeat response. */
  cancelOperations(operationIds: string[]): void;
  registeredChanged(registered: boolean): void;
  registrationAttempt?(ok: boolean): void;
}

export interface RegistrationOptions {
  workerId: string;
  heartbeatIntervalMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  shutdownPollMs: number;
  verifyEveryHeartbeats: number;
}

/** Why the worker (re-)registers; logged and used in tests. */
export type RegistrationReason =
  'start' | 'heartbeat_unregistered' | 'heartbeat_404' | 'worker_404' | 'backend_shutdown';

/**
 * Rule 4. One background loop: while unregistered, POST /workers/register with jittered exponential
 * backoff (from 250 ms; capped at 1 s while the backend cannot be reached, at 30 s when it answers
 * with a refusal or an error; forever; every 2 s after a backend shutdown notice); while registered, a
 * heartbeat every interval (and every few heartbeats a GET /workers/{id}). `registered:false`,
 * a 404 from either, or a shutdown notice flips it back to registering at once.
 */
export class RegistrationManager {
  private registeredFlag = false;
  private stopped = false;
  private shutdownNotice = false;
  private wake = new AbortController();
  private loopPromise: Promise<void> | null = null;
  private heartbeats = 0;
  private lastFailureLog = '';
  /** Delays the loop waited before each retry (tests read it). */
  readonly retryDelays: number[] = [];
  readonly reasons: RegistrationReason[] = [];
  lastRegistration: RegisterWorkerResponseDto | null = null;

  constructor(
    private readonly client: BackendClient,
    private readonly clock: Clock,
    private readonly logger: RuntimeLogger,
    private readonly options: RegistrationOptions,
    private readonly hooks: RegistrationHooks,
  ) {}

  get registered(): boolean {
    return this.registeredFlag;
  }

  start(): void {
    if (this.loopPromise) return;
    this.stopped = false;
    this.reasons.push('start');
    this.loopPromise = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
    await this.loopPromise;
    this.loopPromise = null;
  }

  /** POST /backend-shutdown: the backend is going away; poll until it accepts us again. */
  backendShutdown(): void {
    this.shutdownNotice = true;
    this.setRegistered(false, 'backend_shutdown');
  }

  /** Forces a re-registration now (e.g. the backend said it does not know us). */
  reregister(reason: RegistrationReason): void {
    this.setRegistered(false, reason);
  }

  private setRegistered(value: boolean, reason?: RegistrationReason): void {
    if (this.registeredFlag === value) {
      if (!value) this.kick();
      return;
    }
    this.registeredFlag = value;
    if (!value && reason) {
      this.reasons.push(reason);
      this.logger.warn(`re-registering with the backend (${reason.replace(/_/g, ' ')})`);
    }
    this.hooks.registeredChanged(value);
    this.kick();
  }

  private kick(): void {
    const old = this.wake;
    this.wake = new AbortController();
    old.abort();
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      if (!this.registeredFlag) {
        const outcome = await this.tryRegister();
        const ok = outcome === 'registered';
        if (this.stopped) break;
        if (ok) {
          attempt = 0;
          this.shutdownNotice = false;
          this.heartbeats = 0;
          continue;
        }
        const delay = this.shutdownNotice
          ? this.options.shutdownPollMs
          : backoffDelayMs(attempt++, {
              baseMs: this.options.backoffInitialMs,
              capMs:
                outcome === 'unreachable'
                  ? Math.min(UNREACHABLE_BACKOFF_MAX_MS, this.options.backoffMaxMs)
                  : this.options.backoffMaxMs,
            });
        this.retryDelays.push(delay);
        await this.clock.sleep(delay, this.wake.signal);
      } else {
        const wake = this.wake.signal;
        await this.clock.sleep(this.options.heartbeatIntervalMs, wake);
        if (this.stopped || !this.registeredFlag || wake.aborted) continue;
        await this.heartbeat();
      }
    }
  }

  /** One POST /workers/register: registered, refused/failed with an answer, or no answer at all. */
  private async tryRegister(): Promise<'registered' | 'refused' | 'unreachable'> {
    let body: RegisterWorkerRequestDto;
    try {
      body = await this.hooks.registrationBody();
    } catch (err) {
      this.logger.error(`cannot build the registration: ${errorText(err)}`);
      return 'refused';
    }
    const res = await this.client.register(body);
    if (res.status >= 200 && res.status < 300) {
      const reply = (res.body ?? {}) as RegisterWorkerResponseDto;
      this.lastRegistration = reply;
      this.lastFailureLog = '';
      this.hooks.registrationAttempt?.(true);
      this.hooks.completionsAcknowledged(
        (body.completed_operations ?? []).map((c) => c.operation_id),
      );
      this.registeredFlag = true;
      this.hooks.registeredChanged(true);
      this.logger.log(
        `registered with the backend at ${redactUrlCredentials(this.client.baseUrl)} as ${body.worker_id}`,
      );
      const stop = Array.isArray(reply.stop_operations) ? reply.stop_operations : [];
      if (stop.length > 0) this.hooks.stopOperations(stop);
      return 'registered';
    }
    this.hooks.registrationAttempt?.(false);
    const carried = (body.completed_operations ?? []).map((c) => c.operation_id);
    if (
      carried.length > 0 &&
      res.status >= 400 &&
      res.status < 500 &&
      ![401, 408, 409, 429].includes(res.status)
    ) {
      // One of them may be what the backend refuses: never let it block the registration.
      this.hooks.completionsRefused?.(carried);
    }
    const why = responseText(res);
    if (why !== this.lastFailureLog) {
      this.lastFailureLog = why;
      const hint =
        res.status === 401
          ? ' (registration token missing or wrong: set KTRDR_WORKER_REGISTRATION_TOKEN)'
          : '';
      this.logger.warn(
        `registration with ${redactUrlCredentials(this.client.baseUrl)} failed: ${why}${hint}; retrying`,
      );
    }
    return res.status === 0 ? 'unreachable' : 'refused';
  }

  private async heartbeat(): Promise<void> {
    this.heartbeats++;
    const res = await this.client.heartbeat(this.options.workerId, this.hooks.heartbeatBody());
    if (this.stopped || !this.registeredFlag) return;
    if (res.status === 404) return this.setRegistered(false, 'heartbeat_404');
    if (res.status >= 200 && res.status < 300) {
      const reply = (res.body ?? {}) as Partial<HeartbeatResponseDto>;
      const cancel = Array.isArray(reply.cancel_operations) ? reply.cancel_operations : [];
      if (cancel.length > 0) this.hooks.cancelOperations(cancel);
      if (reply.registered === false) return this.setRegistered(false, 'heartbeat_unregistered');
    } else {
      this.logger.debug?.(`heartbeat failed: ${responseText(res)}`);
    }
    if (
      this.options.verifyEveryHeartbeats > 0 &&
      this.heartbeats % this.options.verifyEveryHeartbeats === 0
    ) {
      const check = await this.client.getWorker(this.options.workerId);
      if (!this.stopped && this.registeredFlag && check.status === 404) {
        this.setRegistered(false, 'worker_404');
      }
    }
  }
}
