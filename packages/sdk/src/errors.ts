// Every failure the clients report is a PhonetError: an HTTP answer >= 400 (with the server's
// plain-text reason, spec #6), or no usable answer at all (connection, timeout, garbage).

/**
 * What kind of failure a {@link PhonetError} is; one value per subclass.
 * @example
 * ```ts
 * if (err instanceof PhonetError && err.code === 'rate_limit') await sleep(err.retryAfterMs ?? 1000);
 * ```
 */
export type PhonetErrorCode =
  | 'auth'
  | 'not_found'
  | 'validation'
  | 'conflict'
  | 'rate_limit'
  | 'server'
  | 'api'
  | 'connection'
  | 'timeout'
  | 'invalid_response';

/**
 * The request a {@link PhonetError} is about: method and path (query included, never the API key
 * or the session cookie).
 * @example
 * ```ts
 * const { method, path } = err.request; // 'GET', '/rest/crm/contacts/v2/42'
 * ```
 */
export interface PhonetErrorRequest {
  method: string;
  path: string;
}

/**
 * Base class of every error the SDK's clients throw. `status` is the HTTP status (undefined when
 * no answer arrived), `text` the server's plain-text reason (spec #6), `request` what was sent.
 * @example
 * ```ts
 * try {
 *   await client.contacts.get(42);
 * } catch (err) {
 *   if (err instanceof PhonetError) console.error(err.status, err.text, err.request.path);
 * }
 * ```
 */
export class PhonetError extends Error {
  /** The kind of failure (one value per subclass). */
  readonly code: PhonetErrorCode;
  /** HTTP status of the answer; undefined when no answer arrived. */
  readonly status: number | undefined;
  /** The server's reason as it sent it (plain text); empty when there was no answer. */
  readonly text: string;
  /** Method and path of the failed request. */
  readonly request: PhonetErrorRequest;

  constructor(
    code: PhonetErrorCode,
    message: string,
    o: { status?: number; text?: string; request: PhonetErrorRequest; cause?: unknown },
  ) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = o.status;
    this.text = o.text ?? '';
    this.request = o.request;
  }
}

/** Message of an HTTP failure: `GET /rest/users → 403: Session expired: authorize again`. */
function httpMessage(status: number, text: string, request: PhonetErrorRequest): string {
  const reason = text.trim().slice(0, 500) || 'no reason given';
  return `${request.method} ${request.path} → ${status}: ${reason}`;
}

/**
 * The server answered with an HTTP error status. Subclasses name the common ones; other 4xx are
 * this class itself (`code: 'api'`).
 * @example
 * ```ts
 * catch (err) { if (err instanceof PhonetApiError) log(err.status, err.text); }
 * ```
 */
export class PhonetApiError extends PhonetError {
  constructor(
    status: number,
    text: string,
    request: PhonetErrorRequest,
    code: PhonetErrorCode = 'api',
    readonly headers: Headers = new Headers(),
  ) {
    super(code, httpMessage(status, text, request), { status, text, request });
  }
}

/**
 * 401/403: bad credentials, or a session the server no longer accepts even after the one
 * automatic re-authorization.
 * @example
 * ```ts
 * catch (err) { if (err instanceof PhonetAuthError) askForANewApiKey(); }
 * ```
 */
export class PhonetAuthError extends PhonetApiError {
  constructor(status: number, text: string, request: PhonetErrorRequest, headers?: Headers) {
    super(status, text, request, 'auth', headers);
  }
}

/**
 * 404: an unknown id (ids of another account are unknown too), or a recording not ready yet.
 * @example
 * ```ts
 * const contact = await client.contacts.get(id).catch((e) => (e instanceof PhonetNotFoundError ? null : Promise.reject(e)));
 * ```
 */
export class PhonetNotFoundError extends PhonetApiError {
  constructor(status: number, text: string, request: PhonetErrorRequest, headers?: Headers) {
    super(status, text, request, 'not_found', headers);
  }
}

/**
 * 400 (and 413, 422): the server refused a parameter; `text` names it.
 * @example
 * ```ts
 * catch (err) { if (err instanceof PhonetValidationError) showFormError(err.text); }
 * ```
 */
export class PhonetValidationError extends PhonetApiError {
  constructor(status: number, text: string, request: PhonetErrorRequest, headers?: Headers) {
    super(status, text, request, 'validation', headers);
  }
}

/**
 * 409: the request conflicts with the current state (a paused employee, a taken ext…).
 * @example
 * ```ts
 * catch (err) { if (err instanceof PhonetConflictError) console.warn(err.text); }
 * ```
 */
export class PhonetConflictError extends PhonetApiError {
  constructor(status: number, text: string, request: PhonetErrorRequest, headers?: Headers) {
    super(status, text, request, 'conflict', headers);
  }
}

/**
 * 429: too many requests (for example failed sign-ins). `retryAfterMs` is the server's
 * `Retry-After`, when it sent one.
 * @example
 * ```ts
 * catch (err) { if (err instanceof PhonetRateLimitError) await sleep(err.retryAfterMs ?? 60_000); }
 * ```
 */
export class PhonetRateLimitError extends PhonetApiError {
  /** Milliseconds the server asked to wait (`Retry-After`), if it said. */
  readonly retryAfterMs: number | undefined;
  constructor(status: number, text: string, request: PhonetErrorRequest, headers?: Headers) {
    super(status, text, request, 'rate_limit', headers);
    this.retryAfterMs = parseRetryAfter(headers?.get('retry-after') ?? null);
  }
}

/**
 * 5xx: the server failed. Idempotent requests were already retried before this is thrown.
 * @example
 * ```ts
 * catch (err) { if (err instanceof PhonetServerError) alertOps(err.message); }
 * ```
 */
export class PhonetServerError extends PhonetApiError {
  constructor(status: number, text: string, request: PhonetErrorRequest, headers?: Headers) {
    super(status, text, request, 'server', headers);
  }
}

/**
 * No answer: refused, reset, unresolvable host. `detail` is the innermost cause (`ECONNREFUSED`…).
 * @example
 * ```ts
 * catch (err) { if (err instanceof PhonetConnectionError) console.error('PBX unreachable:', err.detail); }
 * ```
 */
export class PhonetConnectionError extends PhonetError {
  constructor(
    request: PhonetErrorRequest,
    readonly detail: string,
    cause?: unknown,
    code: PhonetErrorCode = 'connection',
  ) {
    super(code, `${request.method} ${request.path}: ${detail}`, { request, cause });
  }
}

/**
 * No answer within the client's `timeoutMs` (a kind of connection error).
 * @example
 * ```ts
 * const client = new PhonetClient({ domain, apiKey, timeoutMs: 5_000 });
 * catch (err) { if (err instanceof PhonetTimeoutError) console.error(err.timeoutMs); }
 * ```
 */
export class PhonetTimeoutError extends PhonetConnectionError {
  constructor(
    request: PhonetErrorRequest,
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super(request, `no answer within ${timeoutMs} ms`, cause, 'timeout');
  }
}

/**
 * A 2xx answer the SDK could not read (not JSON where JSON was documented, no session cookie…).
 * @example
 * ```ts
 * catch (err) { if (err instanceof PhonetResponseError) console.error(err.text); }
 * ```
 */
export class PhonetResponseError extends PhonetError {
  constructor(status: number, text: string, request: PhonetErrorRequest, why: string) {
    super('invalid_response', `${request.method} ${request.path} → ${status}: ${why}`, {
      status,
      text,
      request,
    });
  }
}

/**
 * The subclass for an HTTP error status.
 * @example
 * ```ts
 * throw errorForStatus(404, 'Contact 42 not found', { method: 'GET', path: '/rest/crm/contacts/v2/42' });
 * ```
 */
export function errorForStatus(
  status: number,
  text: string,
  request: PhonetErrorRequest,
  headers?: Headers,
): PhonetApiError {
  if (status === 401 || status === 403) return new PhonetAuthError(status, text, request, headers);
  if (status === 404) return new PhonetNotFoundError(status, text, request, headers);
  if (status === 400 || status === 413 || status === 422)
    return new PhonetValidationError(status, text, request, headers);
  if (status === 409) return new PhonetConflictError(status, text, request, headers);
  if (status === 429) return new PhonetRateLimitError(status, text, request, headers);
  if (status >= 500) return new PhonetServerError(status, text, request, headers);
  return new PhonetApiError(status, text, request, 'api', headers);
}

/**
 * `Retry-After` (seconds or an HTTP date) in milliseconds; undefined when absent or unreadable.
 * @example
 * ```ts
 * parseRetryAfter('120'); // 120000
 * ```
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
