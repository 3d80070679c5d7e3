/** Exit codes of `ktrdr` (documented in apps/cli/README.md and `ktrdr --help`). */
export const EXIT = {
  /** Success (a followed operation completed). */
  OK: 0,
  /** A followed operation failed or was cancelled; the backend refused the request (409, 429, 5xx). */
  FAILED: 1,
  /** Usage: unknown command or option, invalid value, invalid request (400), missing credentials. */
  USAGE: 2,
  /** The backend could not be reached (the message names the URL). */
  UNREACHABLE: 3,
  /** The operation, worker or sweep does not exist (404). */
  NOT_FOUND: 4,
  /** Ctrl-C while following: detached, the operation keeps running. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error with the exit code and the one-line message the user sees. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
    this.name = 'UsageError';
  }
}

/** The backend answered with an error status; `message` is the backend's own one-line message. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    message: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(message, exitCodeForStatus(status));
    this.name = 'ApiError';
  }
}

/** No answer from the backend (refused, reset, DNS, timeout) after the retries. */
export class UnreachableError extends CliError {
  constructor(
    readonly url: string,
    readonly detail: string,
  ) {
    super(
      `Backend unreachable at ${url} (${detail}). Is it running? Point the CLI at it with --api-url or KTRDR_API_CLIENT_BASE_URL.`,
      EXIT.UNREACHABLE,
    );
    this.name = 'UnreachableError';
  }
}

export function exitCodeForStatus(status: number): number {
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 400 || status === 401 || status === 403 || status === 413 || status === 415)
    return EXIT.USAGE;
  return EXIT.FAILED;
}
