// The HTTP core both clients share: one fetch per attempt with a timeout, retries with capped
// exponential backoff and jitter for idempotent requests only, failures as PhonetError.
import { errorForStatus, PhonetConnectionError, PhonetTimeoutError, parseRetryAfter } from '../errors.ts';

/**
 * When and how often idempotent requests (GET, HEAD, PUT, DELETE, and methods the SDK marks
 * idempotent) are retried: on no answer, a timeout, 408, 429, 500, 502, 503 and 504.
 * @example
 * ```ts
 * new PhonetClient({ domain, apiKey, retry: { retries: 4, baseDelayMs: 250, maxDelayMs: 8_000 } });
 * ```
 */
export interface RetryOptions {
  /** Retries after the first attempt (default 2; 0 turns retries off). */
  retries?: number;
  /** First backoff, doubled each retry, ±50 % jitter (default 200 ms). */
  baseDelayMs?: number;
  /** Longest wait between attempts, also for `Retry-After` (default 5 s); a longer `Retry-After` is not waited for. */
  maxDelayMs?: number;
}

/**
 * Options every client takes for its HTTP transport.
 * @example
 * ```ts
 * const opts: TransportOptions = { timeoutMs: 10_000, retry: { retries: 3 } };
 * ```
 */
export interface TransportOptions {
  /** Per attempt, until the response headers (and the body, except for streamed downloads). Default 30 s. */
  timeoutMs?: number;
  /** Retry policy of idempotent requests; `false` = never retry. */
  retry?: RetryOptions | false;
  /** The fetch to use (default: Node's global fetch). */
  fetch?: typeof fetch;
  /** Extra headers sent with every request (e.g. a `user-agent`). */
  headers?: Record<string, string>;
}

/**
 * A query-string value: arrays repeat the key (`directions=2&directions=4`), undefined/null are left out.
 * @example
 * ```ts
 * const q: Query = { timeFrom: 1, timeTo: 2, directions: [2, 4] };
 * ```
 */
export type Query = Record<
  string,
  string | number | boolean | undefined | null | ReadonlyArray<string | number>
>;

/**
 * One request as a client method describes it.
 * @example
 * ```ts
 * const r: RequestSpec = { method: 'GET', path: '/rest/users' };
 * ```
 */
export interface RequestSpec {
  method: string;
  path: string;
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Override whether the request may be retried (default: GET, HEAD, PUT, DELETE, OPTIONS). */
  idempotent?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * A finished exchange: status, headers and the body as text (or the unread body when streamed).
 * @example
 * ```ts
 * const { status, text } = await transport.send({ method: 'GET', path: '/rest/users' });
 * ```
 */
export interface Exchange {
  status: number;
  headers: Headers;
  text: string;
  /** Only for `stream: true`: the response, its body not read yet. */
  response?: Response;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Builds `path?query` with repeated keys for arrays.
 * @example
 * ```ts
 * withQuery('/rest/calls/company.api', { timeFrom: 1, directions: [2, 4] });
 * // '/rest/calls/company.api?timeFrom=1&directions=2&directions=4'
 * ```
 */
export function withQuery(path: string, query: Query | undefined): string {
  if (!query) return path;
  const parts: string[] = [];
  for (const key in query) {
    const v = query[key];
    if (v === undefined || v === null) continue;
    const k = encodeURIComponent(key);
    if (Array.isArray(v)) for (const item of v) parts.push(`${k}=${encodeURIComponent(String(item))}`);
    else parts.push(`${k}=${encodeURIComponent(String(v))}`);
  }
  return parts.length === 0 ? path : `${path}${path.includes('?') ? '&' : '?'}${parts.join('&')}`;
}

/** The innermost cause code (`ECONNREFUSED`, `ENOTFOUND`…) or message of a fetch failure. */
function networkDetail(e: unknown): string {
  let cur: unknown = e;
  let detail = String(e);
  for (let depth = 0; depth < 6 && cur && typeof cur === 'object'; depth++) {
    const c = cur as { code?: unknown; cause?: unknown; message?: unknown; errors?: unknown };
    if (typeof c.code === 'string' && c.code !== 'UND_ERR_SOCKET') return c.code;
    if (typeof c.message === 'string' && c.message) detail = c.message;
    if (Array.isArray(c.errors) && c.errors.length > 0) cur = c.errors[0];
    else if (c.cause) cur = c.cause;
    else break;
  }
  return detail;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * The shared HTTP core: timeouts, retries, error mapping. Clients build on `send`.
 * @example
 * ```ts
 * const t = new HttpTransport('http://127.0.0.1:8080', { timeoutMs: 5_000 });
 * const { text } = await t.send({ method: 'GET', path: '/openapi.json' });
 * ```
 */
export class HttpTransport {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;

  constructor(baseUrl: string, o: TransportOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = o.timeoutMs ?? 30_000;
    const retry = o.retry === false ? { retries: 0 } : (o.retry ?? {});
    this.retries = Math.max(0, retry.retries ?? 2);
    this.baseDelayMs = retry.baseDelayMs ?? 200;
    this.maxDelayMs = retry.maxDelayMs ?? 5_000;
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.#headers = { accept: 'application/json, text/plain, */*', ...o.headers };
  }

  /** Backoff before retry number `attempt` (1-based): base·2^(attempt-1), ±50 %, capped. */
  backoff(attempt: number): number {
    const d = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(d * (0.5 + Math.random() / 2));
  }

  /**
   * Sends one request, retrying idempotent ones. Resolves with any HTTP answer (the caller maps
   * statuses to errors with {@link HttpTransport.fail}); rejects with PhonetConnectionError /
   * PhonetTimeoutError when no answer arrived after the last attempt.
   */
  async send(spec: RequestSpec, stream = false): Promise<Exchange> {
    const path = withQuery(spec.path, spec.query);
    const request = { method: spec.method, path };
    const idempotent = spec.idempotent ?? IDEMPOTENT.has(spec.method);
    const attempts = idempotent ? this.retries + 1 : 1;
    const timeoutMs = spec.timeoutMs ?? this.timeoutMs;
    const headers: Record<string, string> = { ...this.#headers, ...spec.headers };
    let body: string | undefined;
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers['content-type'] = 'application/json';
    }
    const url = this.baseUrl + path;
    for (let attempt = 1; ; attempt++) {
      const ac = new AbortController();
      const onAbort = () => ac.abort(spec.signal?.reason);
      spec.signal?.addEventListener('abort', onAbort, { once: true });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ac.abort();
      }, timeoutMs);
      try {
        const res = await this.#fetch(url, { method: spec.method, headers, body, signal: ac.signal });
        if (attempt < attempts && RETRY_STATUS.has(res.status)) {
          const retryAfter = res.headers.get('retry-after');
          const wait = retryAfter === null ? this.backoff(attempt) : parseRetryAfter(retryAfter);
          if (wait !== undefined && wait <= this.maxDelayMs) {
            await res.body?.cancel().catch(() => {});
            clearTimeout(timer);
            await sleep(wait, spec.signal);
            continue;
          }
        }
        if (stream) {
          clearTimeout(timer);
          return { status: res.status, headers: res.headers, text: '', response: res };
        }
        const text = await res.text();
        return { status: res.status, headers: res.headers, text };
      } catch (e) {
        if (spec.signal?.aborted) throw e;
        const failure = timedOut
          ? new PhonetTimeoutError(request, timeoutMs, e)
          : new PhonetConnectionError(request, networkDetail(e), e);
        if (attempt >= attempts) throw failure;
        await sleep(this.backoff(attempt), spec.signal);
      } finally {
        clearTimeout(timer);
        spec.signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  /** The PhonetError for a non-2xx exchange. */
  fail(spec: RequestSpec, x: Exchange): Error {
    return errorForStatus(
      x.status,
      x.text,
      { method: spec.method, path: withQuery(spec.path, spec.query) },
      x.headers,
    );
  }
}

/**
 * Reads a 2xx body leniently: empty → undefined, JSON when it parses, else the text itself
 * (real Phonet answers some writes with a bare `1` or nothing at all).
 * @example
 * ```ts
 * readBody('1'); // 1
 * readBody(''); // undefined
 * ```
 */
export function readBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
