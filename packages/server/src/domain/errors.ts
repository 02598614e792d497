/**
 * The one catalogue of domain error codes. The HTTP layer maps each code to a status
 * (http/errors.ts); the message is the documented plain-text body (spec #6).
 */
export const ERROR_CODES = {
  BAD_INPUT: 400,
  LIMIT_OUT_OF_RANGE: 400,
  ID_REQUIRED: 400,
  NO_SESSION: 403,
  SESSION_EXPIRED: 403,
  BAD_CREDENTIALS: 403,
  WRONG_ACCOUNT: 403,
  EMPLOYEE_SCOPE: 403,
  NOT_FOUND: 404,
  CONTACT_NOT_FOUND: 404,
  NOTE_NOT_FOUND: 404,
  EMPLOYEE_NOT_FOUND: 404,
  GROUP_NOT_FOUND: 404,
  IVR_NOT_FOUND: 404,
  GREETING_NOT_FOUND: 404,
  TRUNK_NOT_FOUND: 404,
  CRM_CONNECTION_NOT_FOUND: 404,
  ACCOUNT_NOT_FOUND: 404,
  CALL_NOT_FOUND: 404,
  EMPLOYEE_UNAVAILABLE: 409,
  NO_TRUNK: 409,
  CONFLICT: 409,
  EXT_TAKEN: 409,
  IN_USE: 409,
  UNSUPPORTED_MEDIA: 415,
  TOO_MANY_ATTEMPTS: 429,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** A failure the client can act on. Never carries internals; `message` is shown to the client. */
export class DomainError extends Error {
  readonly code: ErrorCode;
  /** Seconds after which a retry may succeed (TOO_MANY_ATTEMPTS). */
  readonly retryAfterSec?: number;
  constructor(code: ErrorCode, message: string, opts: { retryAfterSec?: number } = {}) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.retryAfterSec = opts.retryAfterSec;
  }
}

export const badInput = (message: string) => new DomainError('BAD_INPUT', message);
export const notFound = (code: ErrorCode, message: string) => new DomainError(code, message);
