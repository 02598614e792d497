// A small fetch-based client of Dzvin's admin API (/api/v1, `Authorization: Bearer <apiKey>`),
// used by the directory, account and sim commands. The Phonet REST API (/rest/…) goes through
// @dzvin/sdk's PhonetClient instead (phonet.ts).
import type {
  Account,
  AccountPatch,
  CrmConnection,
  Employee,
  Ivr,
  RingGroup,
  TrunkView,
} from '@dzvin/protocol';

// Types only from @dzvin/protocol: loading its TypeBox schemas at run time costs more than a second
// of start-up per command under tsx. The type ties this copy to protocol's ADMIN_PREFIX.
const ADMIN_PREFIX: typeof import('@dzvin/protocol').ADMIN_PREFIX = '/api/v1';

/** The server answered 4xx/5xx; `reason` is its plain-text body (spec #6). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(`${reason} (HTTP ${status})`);
    this.name = 'ApiError';
  }
}

/** No answer from the server: refused, unresolvable, reset or timed out. `url` is what was tried. */
export class ConnectionError extends Error {
  constructor(
    readonly url: string,
    readonly detail: string,
  ) {
    super(`cannot connect to ${url}: ${detail}`);
    this.name = 'ConnectionError';
  }
}

export interface ClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  apiKey: string;
  /** Per request; a server that does not answer in time counts as unreachable. */
  timeoutMs?: number;
}

/** CRUD of one directory resource under /api/v1/{path}. */
export interface ResourceClient<T> {
  list(): Promise<T[]>;
  get(id: number): Promise<T>;
  create(body: Record<string, unknown>): Promise<T>;
  update(id: number, patch: Record<string, unknown>): Promise<T>;
  remove(id: number): Promise<void>;
}

export type AdminClient = ReturnType<typeof createAdminClient>;

/** The error's innermost cause code (`ECONNREFUSED`, `ENOTFOUND`…) or message. */
function networkDetail(e: unknown): string {
  let cur: unknown = e;
  let detail = String(e);
  for (let depth = 0; depth < 5 && cur && typeof cur === 'object'; depth++) {
    const c = cur as { code?: unknown; cause?: unknown; message?: unknown; errors?: unknown };
    if (typeof c.code === 'string') return c.code;
    if (typeof c.message === 'string' && c.message) detail = c.message;
    // Happy eyeballs: an AggregateError of every address tried.
    if (Array.isArray(c.errors) && c.errors.length > 0) cur = c.errors[0];
    else if (c.cause) cur = c.cause;
    else break;
  }
  return detail;
}

interface Sent {
  status: number;
  text: string;
  headers: Headers;
}

/** One request; a network failure or timeout is a ConnectionError, a 4xx/5xx an ApiError. */
async function send(
  base: string,
  timeoutMs: number,
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: unknown; raw?: { data: Buffer; contentType: string } },
): Promise<Sent> {
  const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
  if (o.raw) headers['content-type'] = o.raw.contentType;
  else if (o.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: o.raw ? o.raw.data : o.body === undefined ? undefined : JSON.stringify(o.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    if (e instanceof Error && e.name === 'TimeoutError')
      throw new ConnectionError(base, `no answer within ${timeoutMs / 1000} s`);
    throw new ConnectionError(base, networkDetail(e));
  }
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, text.trim() || res.statusText || 'no reason given');
  return { status: res.status, text, headers: res.headers };
}

/** A 2xx body as JSON (nothing for 204 or an empty body). */
function parseBody<T>(res: Sent): T {
  if (res.status === 204 || res.text === '') return undefined as T;
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new ApiError(
      res.status,
      `the server answered with something that is not JSON: ${res.text.slice(0, 200)}`,
    );
  }
}

/**
 * @example
 * const client = createAdminClient({ url: 'http://127.0.0.1:8080', apiKey });
 * const employees = await client.employees.list();
 */
export function createAdminClient(opts: ClientOptions) {
  const base = opts.url.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 30_000;

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await send(base, timeoutMs, method, `${ADMIN_PREFIX}${path}`, {
      headers: { authorization: `Bearer ${opts.apiKey}` },
      body,
    });
    return parseBody<T>(res);
  }

  /** A request whose body is a file (e.g. an IVR greeting's WAV), answered as JSON. */
  async function upload<T>(method: string, path: string, data: Buffer, contentType: string): Promise<T> {
    const res = await send(base, timeoutMs, method, `${ADMIN_PREFIX}${path}`, {
      headers: { authorization: `Bearer ${opts.apiKey}` },
      raw: { data, contentType },
    });
    return parseBody<T>(res);
  }

  function resource<T>(path: string): ResourceClient<T> {
    return {
      list: () => request<T[]>('GET', `/${path}`),
      get: (id) => request<T>('GET', `/${path}/${id}`),
      create: (body) => request<T>('POST', `/${path}`, body),
      update: (id, patch) => request<T>('PATCH', `/${path}/${id}`, patch),
      remove: (id) => request<void>('DELETE', `/${path}/${id}`),
    };
  }

  return {
    request,
    upload,
    resource,
    account: {
      get: () => request<Account>('GET', '/account'),
      update: (patch: AccountPatch) => request<Account>('PATCH', '/account', patch),
    },
    employees: resource<Employee>('employees'),
    groups: resource<RingGroup>('groups'),
    ivr: resource<Ivr>('ivr'),
    trunks: resource<TrunkView>('trunks'),
    crm: resource<CrmConnection>('crm-connections'),
  };
}
