/**
 * SIGTERM and SIGINT that arrive while a service starts (a stop during a rolling deploy, Ctrl-C
 * during the first database migration) are kept and handed to the service's own handler once it
 * has started, so they end in its graceful shutdown and exit code instead of Node's default action
 * (death by the signal). Start-up helpers live here with loadSettingsOrExit.
 */
export type SignalHandler = (signal: NodeJS.Signals) => void;

export interface StartupSignals {
  /**
   * Installs `handler` for SIGTERM and SIGINT from now on and gives it a signal that arrived
   * during start-up, if any.
   */
  handOver(handler: SignalHandler): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** Call first thing at start-up; then `handOver` the real handler once the service runs. */
export function holdStartupSignals(): StartupSignals {
  let early: NodeJS.Signals | null = null;
  const hold: SignalHandler = (signal) => {
    early ??= signal;
  };
  for (const s of SIGNALS) process.on(s, hold);
  return {
    handOver(handler) {
      // Added before the holder goes: removing a signal's last listener closes Node's watcher of
      // it, which drops a signal delivered but not yet dispatched (start-up may not have turned the
      // event loop once).
      for (const s of SIGNALS) process.on(s, handler);
      for (const s of SIGNALS) process.off(s, hold);
      if (early !== null) handler(early);
    },
  };
}
