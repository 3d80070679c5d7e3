import { Logger } from '@nestjs/common';

/** The runtime logs through this (Nest's Logger by default; tests pass a silent or recording one). */
export interface RuntimeLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

export function nestLogger(context: string): RuntimeLogger {
  const logger = new Logger(context);
  return {
    log: (m) => logger.log(m),
    warn: (m) => logger.warn(m),
    error: (m) => logger.error(m),
    debug: (m) => logger.debug(m),
  };
}

export const silentLogger: RuntimeLogger = { log: () => {}, warn: () => {}, error: () => {} };
