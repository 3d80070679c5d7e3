import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { traceFields } from './spans';

/** KTRDR_LOG_LEVEL names, most severe first (each level includes the ones before it). */
export const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'log',
  'debug',
  'verbose',
];

/** Nest's own start-up chatter (module loading, route mapping): shown only at debug and verbose. */
const NEST_STARTUP_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/**
 * The console logger of every KTRDR service (backend and workers): the levels up to KTRDR_LOG_LEVEL;
 * with KTRDR_LOG_JSON one JSON object per line carrying `trace_id` / `span_id` while a span is active;
 * colours only when stdout is a terminal; Nest's module and route lines only at debug.
 */
export class ServiceLogger extends ConsoleLogger {
  private readonly quietStartup: boolean;

  constructor(level: string, json: boolean, tty: boolean = process.stdout.isTTY === true) {
    const index = Math.max(0, LOG_LEVELS.indexOf(level as LogLevel));
    super({ logLevels: LOG_LEVELS.slice(0, index + 1), json, colors: !json && tty });
    this.quietStartup = index < LOG_LEVELS.indexOf('debug');
  }

  protected override getJsonLogObject(
    message: unknown,
    options: Parameters<ConsoleLogger['getJsonLogObject']>[1],
  ): ReturnType<ConsoleLogger['getJsonLogObject']> & { trace_id?: string; span_id?: string } {
    return { ...super.getJsonLogObject(message, options), ...traceFields() };
  }

  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest[rest.length - 1];
    if (this.quietStartup && typeof context === 'string' && NEST_STARTUP_CONTEXTS.has(context)) {
      return;
    }
    super.log(message, ...(rest as [string]));
  }
}
