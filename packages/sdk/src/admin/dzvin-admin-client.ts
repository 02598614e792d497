// Dzvin's own API (/api/v1/…): directory administration and the call simulator. Not part of
// Phonet's contract — a real Phonet PBX does not have it — hence a separate client.
import type {
  Account,
  AccountPatch,
  ApiKeyResponse,
  CrmConnection,
  CrmConnectionCreate,
  CrmConnectionPatch,
  Employee,
  EmployeeCreate,
  EmployeePatch,
  Ivr,
  IvrCreate,
  IvrPatch,
  PhoneBehaviour,
  RingGroup,
  RingGroupCreate,
  RingGroupPatch,
  SimIncomingRequest,
  TalkTime,
  TrafficStart,
  TrafficStatus,
  TrunkCreate,
  TrunkPatch,
  TrunkView,
} from '@dzvin/protocol';
import { HttpTransport, type RequestSpec, readBody, type TransportOptions } from '../client/transport.ts';

/**
 * Options of {@link DzvinAdminClient}.
 * @example
 * ```ts
 * const opts: DzvinAdminClientOptions = { baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.DZVIN_API_KEY! };
 * ```
 */
export interface DzvinAdminClientOptions extends TransportOptions {
  /** Where Dzvin listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The account's API key (sent as `Authorization: Bearer …`). */
  apiKey: string;
}

/**
 * CRUD of one directory resource under `/api/v1/{name}`.
 * @example
 * ```ts
 * const staff: AdminResource<Employee, EmployeeCreate, EmployeePatch> = admin.employees;
 * const e = await staff.create({ displayName: 'Олена', ext: '001' });
 * ```
 */
export interface AdminResource<T, C, P> {
  list(): Promise<T[]>;
  get(id: number): Promise<T>;
  create(input: C): Promise<T>;
  update(id: number, patch: P): Promise<T>;
  /** 409 (PhonetConflictError) while something still points at it. */
  delete(id: number): Promise<void>;
}

const PREFIX = '/api/v1';

/**
 * A client of Dzvin's admin and simulation API (`/api/v1/…`, `Authorization: Bearer <apiKey>`):
 * the directory (employees, ring groups, IVR, trunks, CRM connections), the account, and the
 * simulator that places and answers calls without a phone. Same errors, timeouts and retries as
 * {@link PhonetClient}. Only Dzvin has this API.
 * @example
 * ```ts
 * import { DzvinAdminClient } from '@dzvin/sdk';
 * const admin = new DzvinAdminClient({ baseUrl: 'http://127.0.0.1:8080', apiKey });
 * await admin.employees.create({ displayName: 'Олена', ext: '001' });
 * const { uuid } = await admin.sim.incoming({ from: '+380505826633', trunk: '+380442246595' });
 * await admin.sim.answer(uuid, { ext: '001' });
 * ```
 */
export class DzvinAdminClient {
  readonly baseUrl: string;
  readonly #transport: HttpTransport;
  #apiKey: string;

  /** The signed-in account: `get`, `update`, `rotateKey`. */
  readonly account;
  /** Employees (PBX users). */
  readonly employees: AdminResource<Employee, EmployeeCreate, EmployeePatch>;
  /** Ring groups (departments). */
  readonly groups: AdminResource<RingGroup, RingGroupCreate, RingGroupPatch>;
  /** IVR scenarios. */
  readonly ivr: AdminResource<Ivr, IvrCreate, IvrPatch>;
  /** Trunks (the company's external numbers). */
  readonly trunks: AdminResource<TrunkView, TrunkCreate, TrunkPatch>;
  /** Connected CRMs: where lookups, call events and UTM batches are sent. */
  readonly crmConnections: AdminResource<CrmConnection, CrmConnectionCreate, CrmConnectionPatch>;
  /** The call simulator and its traffic generator. */
  readonly sim;

  constructor(o: DzvinAdminClientOptions) {
    if (!o?.baseUrl) throw new TypeError('DzvinAdminClient: `baseUrl` is required');
    if (!o.apiKey) throw new TypeError('DzvinAdminClient: `apiKey` is required');
    this.#transport = new HttpTransport(o.baseUrl, o);
    this.baseUrl = this.#transport.baseUrl;
    this.#apiKey = o.apiKey;
    const r = <T>(spec: RequestSpec) => this.request<T>(spec);
    const resource = <T, C, P>(name: string): AdminResource<T, C, P> => ({
      list: () => r({ method: 'GET', path: `/${name}` }),
      get: (id) => r({ method: 'GET', path: `/${name}/${id}` }),
      create: (input) => r({ method: 'POST', path: `/${name}`, body: input }),
      update: (id, patch) => r({ method: 'PATCH', path: `/${name}/${id}`, body: patch, idempotent: true }),
      delete: async (id) => {
        await r({ method: 'DELETE', path: `/${name}/${id}` });
      },
    });
    this.employees = resource('employees');
    this.groups = resource('groups');
    this.ivr = resource('ivr');
    this.trunks = resource('trunks');
    this.crmConnections = resource('crm-connections');
    this.account = {
      /**
       * @example
       * ```ts
       * const { domain } = await admin.account.get();
       * ```
       */
      get: (): Promise<Account> => r({ method: 'GET', path: '/account' }),
      /**
       * @example
       * ```ts
       * await admin.account.update({ defaultCountry: 'UA' });
       * ```
       */
      update: (patch: AccountPatch): Promise<Account> =>
        r({ method: 'PATCH', path: '/account', body: patch, idempotent: true }),
      /**
       * A new API key (shown once); the old key and every session stop working. This client
       * switches to the new key.
       * @example
       * ```ts
       * const { apiKey } = await admin.account.rotateKey();
       * ```
       */
      rotateKey: async (): Promise<ApiKeyResponse> => {
        const k = await r<ApiKeyResponse>({ method: 'POST', path: '/account/rotate-key' });
        this.#apiKey = k.apiKey;
        return k;
      },
    };
    const uuidPath = (uuid: string, action: string) => `/sim/calls/${encodeURIComponent(uuid)}/${action}`;
    const post = async (path: string, body?: unknown) => {
      await r({ method: 'POST', path, body });
    };
    this.sim = {
      /**
       * An external number calls a trunk of the account.
       * @example
       * ```ts
       * const { uuid } = await admin.sim.incoming({ from: '+380505826633', trunk: '+380442246595' });
       * ```
       */
      incoming: (o: SimIncomingRequest): Promise<{ uuid: string }> =>
        r({ method: 'POST', path: '/sim/calls', body: o }),
      /** An employee answers a ringing phone of the call (`ext` picks which). */
      answer: (uuid: string, o: { ext?: string } = {}) => post(uuidPath(uuid, 'answer'), o),
      /** An employee rejects a ringing phone of the call (busy). */
      reject: (uuid: string, o: { ext?: string } = {}) => post(uuidPath(uuid, 'reject'), o),
      /** Ends the call. */
      hangup: (uuid: string) => post(uuidPath(uuid, 'hangup'), {}),
      /** The caller presses a digit in an IVR. */
      digit: (uuid: string, digit: string) => post(uuidPath(uuid, 'digit'), { digit }),
      /** Blind-transfers an answered call to another employee. */
      transfer: (uuid: string, toExt: string) => post(uuidPath(uuid, 'transfer'), { toExt }),
      /** Attended transfer: rings `toExt` for a consultation while the caller waits. */
      attendedTransfer: (uuid: string, toExt: string) => post(uuidPath(uuid, 'attended-transfer'), { toExt }),
      /** Completes an attended transfer. */
      completeTransfer: (uuid: string) => post(uuidPath(uuid, 'transfer/complete')),
      /** Cancels an attended transfer. */
      cancelTransfer: (uuid: string) => post(uuidPath(uuid, 'transfer/cancel')),
      /** An employee dials another employee's or a ring group's ext. */
      internal: (o: { fromExt: string; toExt: string }): Promise<{ uuid: string }> =>
        r({ method: 'POST', path: '/sim/internal', body: o }),
      /** An employee dials an external number from their phone (default trunk unless `trunk`). */
      outgoing: (o: { fromExt: string; number: string; trunk?: string }): Promise<{ uuid: string }> =>
        r({ method: 'POST', path: '/sim/outgoing', body: o }),
      /** Pauses an employee (a 32 record in users.api). */
      pause: (ext: string) => post(`/sim/employees/${encodeURIComponent(ext)}/pause`),
      /** Unpauses an employee (a 64 record). */
      unpause: (ext: string) => post(`/sim/employees/${encodeURIComponent(ext)}/unpause`),
      /** How an employee's phone behaves (null: the default, answer after 3 s). */
      employeeBehaviour: async (ext: string, b: PhoneBehaviour | null) => {
        await r({ method: 'PUT', path: `/sim/behaviours/employees/${encodeURIComponent(ext)}`, body: b });
      },
      /** How an external number behaves when dialled (`'*'` for every number; null: answer after 4 s). */
      externalBehaviour: async (number: string, b: PhoneBehaviour | null) => {
        await r({ method: 'PUT', path: `/sim/behaviours/external/${encodeURIComponent(number)}`, body: b });
      },
      /** How long answered calls last (null: 20–90 s). */
      talkTime: async (t: TalkTime | null) => {
        await r({ method: 'PUT', path: '/sim/talk-time', body: t });
      },
      /** The traffic generator: Poisson arrivals of incoming calls. */
      traffic: {
        start: (o: TrafficStart): Promise<TrafficStatus> =>
          r({ method: 'POST', path: '/sim/traffic', body: o }),
        status: (): Promise<TrafficStatus> => r({ method: 'GET', path: '/sim/traffic' }),
        stop: (): Promise<TrafficStatus> => r({ method: 'DELETE', path: '/sim/traffic' }),
      },
    };
  }

  /**
   * A raw request under `/api/v1` (the path is relative to it), with the client's auth, errors
   * and retries.
   * @example
   * ```ts
   * const groups = await admin.request<RingGroup[]>({ method: 'GET', path: '/groups' });
   * ```
   */
  async request<T>(spec: RequestSpec): Promise<T> {
    const full: RequestSpec = {
      ...spec,
      path: PREFIX + spec.path,
      headers: { ...spec.headers, authorization: `Bearer ${this.#apiKey}` },
    };
    const x = await this.#transport.send(full);
    if (x.status < 200 || x.status >= 300)
      throw this.#transport.fail({ ...spec, path: PREFIX + spec.path }, x);
    return readBody(x.text) as T;
  }
}
