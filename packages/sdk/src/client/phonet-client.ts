// The Phonet REST client: lazy authorization, the JSESSIONID cookie, one re-authorization on 403
// shared by every request that saw it (single flight), then the typed resources.
import { PhonetResponseError } from '../errors.ts';
import { createCallsApi } from './calls.ts';
import { createContactsApi } from './contacts.ts';
import { createRecordingsApi } from './recordings.ts';
import {
  type Exchange,
  HttpTransport,
  type Query,
  type RequestSpec,
  readBody,
  type TransportOptions,
} from './transport.ts';
import { createUsersApi } from './users.ts';

/**
 * Options of {@link PhonetClient}.
 * @example
 * ```ts
 * const opts: PhonetClientOptions = { domain: 'acme.phonet.com.ua', apiKey: process.env.PHONET_API_KEY! };
 * ```
 */
export interface PhonetClientOptions extends TransportOptions {
  /** The account domain, e.g. `acme.phonet.com.ua` (sent as `domain` when authorizing). */
  domain: string;
  /** The account's API key (Settings → Integration in Phonet; printed by `dzvin account create`). */
  apiKey: string;
  /** Where the PBX is; default `https://{domain}` as the document says. For Dzvin e.g. `http://127.0.0.1:8080`. */
  baseUrl?: string;
}

/**
 * How a request uses the session: `required` authorizes first; `optional` sends the cookie when
 * there is one and authorizes only on 403 (public recordings); `none` never sends it.
 * @example
 * ```ts
 * await client.request({ method: 'GET', path: '/rest/users' }, 'required');
 * ```
 */
export type SessionUse = 'required' | 'optional' | 'none';

/** What the resource APIs need from the client. @internal */
export interface Requester {
  readonly baseUrl: string;
  request<T>(spec: RequestSpec, session?: SessionUse): Promise<T>;
  exchange(spec: RequestSpec, session: SessionUse, stream: boolean): Promise<Exchange>;
}

const COOKIE = 'JSESSIONID';

/**
 * A client of the Phonet cloud-PBX REST API (and of Dzvin, which implements it). Authorizes
 * lazily on the first request, keeps the `JSESSIONID` session, and when the server answers 403
 * authorizes again once and repeats the request; concurrent requests share one authorization.
 * @example
 * ```ts
 * import { PhonetClient } from '@dzvin/sdk';
 * const client = new PhonetClient({ domain: 'acme.phonet.com.ua', apiKey: process.env.PHONET_API_KEY! });
 * const users = await client.users.list();
 * for await (const call of client.calls.company({ from: Date.now() - 86_400_000, to: Date.now() })) {
 *   console.log(call.uuid, call.disposition);
 * }
 * ```
 */
export class PhonetClient implements Requester {
  /** The account domain. */
  readonly domain: string;
  /** Where requests go (no trailing slash). */
  readonly baseUrl: string;
  /** Calls: `make`, `active`, `hangup`, and the history lists `company`, `missed`, `users`. */
  readonly calls: ReturnType<typeof createCallsApi>;
  /** Employees: `list`, `status`. */
  readonly users: ReturnType<typeof createUsersApi>;
  /** The built-in contacts book (CRM Teler) and its notes. */
  readonly contacts: ReturnType<typeof createContactsApi>;
  /** Call recordings: public URLs and streaming downloads. */
  readonly recordings: ReturnType<typeof createRecordingsApi>;

  readonly #transport: HttpTransport;
  readonly #apiKey: string;
  #token: string | undefined;
  #authorizing: Promise<string> | undefined;
  #authorizations = 0;

  constructor(o: PhonetClientOptions) {
    if (!o?.domain) throw new TypeError('PhonetClient: `domain` is required');
    if (!o.apiKey) throw new TypeError('PhonetClient: `apiKey` is required');
    this.domain = o.domain;
    this.#apiKey = o.apiKey;
    this.#transport = new HttpTransport(o.baseUrl ?? `https://${o.domain}`, o);
    this.baseUrl = this.#transport.baseUrl;
    this.calls = createCallsApi(this);
    this.users = createUsersApi(this);
    this.contacts = createContactsApi(this);
    this.recordings = createRecordingsApi(this);
  }

  /** How many times this client has authorized (successfully or not). */
  get authorizations(): number {
    return this.#authorizations;
  }

  /** Whether the client holds a session (it may have expired on the server). */
  get hasSession(): boolean {
    return this.#token !== undefined;
  }

  /**
   * Authorizes now (`POST /rest/security/authorize`) and keeps the new session. Not needed
   * before other calls: they authorize when they must. Concurrent calls share one request.
   * @example
   * ```ts
   * await client.authorize(); // fail fast on a wrong API key at start-up
   * ```
   */
  async authorize(): Promise<void> {
    await this.#renew(this.#token);
  }

  /**
   * Forgets the session (nothing is sent; the next request authorizes again).
   * @example
   * ```ts
   * client.forgetSession();
   * ```
   */
  forgetSession(): void {
    this.#token = undefined;
  }

  /**
   * A raw request to any path, with the session handling and errors of the typed methods; the
   * answer is parsed leniently (JSON, else text, undefined when empty).
   * @example
   * ```ts
   * const users = await client.request<User[]>({ method: 'GET', path: '/rest/users' });
   * ```
   */
  async request<T>(spec: RequestSpec, session: SessionUse = 'required'): Promise<T> {
    const x = await this.exchange(spec, session, false);
    return readBody(x.text) as T;
  }

  /**
   * One request with the session handling; resolves with any 2xx exchange (streamed when asked),
   * throws the PhonetError of anything else.
   * @example
   * ```ts
   * const x = await client.exchange({ method: 'GET', path: '/rest/public/calls/abc/audio' }, 'optional', true);
   * ```
   */
  async exchange(spec: RequestSpec, session: SessionUse, stream: boolean): Promise<Exchange> {
    let token = session === 'required' ? (this.#token ?? (await this.#renew(undefined))) : this.#token;
    for (let renewed = false; ; renewed = true) {
      const sent =
        session === 'none' || token === undefined
          ? spec
          : { ...spec, headers: { ...spec.headers, cookie: `${COOKIE}=${token}` } };
      const x = await this.#transport.send(sent, stream);
      if (x.status === 403 && session !== 'none' && !renewed) {
        await x.response?.body?.cancel().catch(() => {});
        token = await this.#renew(token);
        continue;
      }
      if (x.status >= 200 && x.status < 300) return x;
      if (x.response) x.text = await x.response.text().catch(() => '');
      throw this.#transport.fail(spec, x);
    }
  }

  /**
   * A fresh session, unless another request already replaced the one `used` (then that one):
   * every request that saw the same 403 waits for the same single authorization.
   */
  #renew(used: string | undefined): Promise<string> {
    if (this.#token !== undefined && this.#token !== used) return Promise.resolve(this.#token);
    this.#authorizing ??= this.#authorizeNow().finally(() => {
      this.#authorizing = undefined;
    });
    return this.#authorizing;
  }

  async #authorizeNow(): Promise<string> {
    this.#authorizations++;
    this.#token = undefined;
    const spec: RequestSpec = {
      method: 'POST',
      path: '/rest/security/authorize',
      body: { domain: this.domain, apiKey: this.#apiKey },
      // A lost answer only costs an unused session: safe to repeat.
      idempotent: true,
    };
    const x = await this.#transport.send(spec);
    if (x.status < 200 || x.status >= 300) throw this.#transport.fail(spec, x);
    const token = sessionFromSetCookie(x.headers);
    if (!token)
      throw new PhonetResponseError(
        x.status,
        x.text,
        { method: spec.method, path: spec.path },
        `authorized without a ${COOKIE} cookie`,
      );
    this.#token = token;
    return token;
  }
}

/**
 * The JSESSIONID value of a response's `Set-Cookie` headers.
 * @example
 * ```ts
 * sessionFromSetCookie(new Headers({ 'set-cookie': 'JSESSIONID=abc; Path=/; HttpOnly' })); // 'abc'
 * ```
 */
export function sessionFromSetCookie(headers: Headers): string | undefined {
  for (const c of headers.getSetCookie()) {
    const m = /^\s*JSESSIONID=([^;]*)/i.exec(c);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

export type { Query };
