/** The exit codes of `dzvin`, for scripts. */
export const EXIT = {
  OK: 0,
  /** The server (or the database, for operator commands) refused: a 4xx/5xx answer. */
  REFUSED: 1,
  /** Bad usage or configuration: unknown option, bad value, no API key, unreadable profile. */
  USAGE: 2,
  /** The server could not be reached. */
  CANNOT_CONNECT: 3,
} as const;

/** A failure `dzvin` explains in one line (`dzvin: <message>`) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.USAGE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
