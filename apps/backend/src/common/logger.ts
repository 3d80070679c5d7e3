import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { traceFields } from '@ktrdr/telemetry';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/**
 * Nest's console logger at KTRDR_LOG_LEVEL; with KTRDR_LOG_JSON one JSON object per line, carrying
 * `trace_id` and `span_id` while a span is active (a request, a dispatch, a report).
 */
export class BackendLogger extends ConsoleLogger {
  constructor(level: LogLevel, json: boolean) {
    super({
      logLevels: LEVELS.slice(0, LEVELS.indexOf(level) + 1),
      json,
      colors: json ? false : undefined,
    });
  }

  protected override getJsonLogObject(
    message: unknown,
    options: {
      context: string;
      logLevel: LogLevel;
      writeStreamType?: 'stdout' | 'stderr';
      errorStack?: unknown;
    },
  ): ReturnType<ConsoleLogger['getJsonLogObject']> & { trace_id?: string; span_id?: string } {
    return { ...super.getJsonLogObject(message, options), ...traceFields() };
  }
}
