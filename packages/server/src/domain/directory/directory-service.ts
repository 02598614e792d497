import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type {
  CrmConnection,
  CrmConnectionCreate,
  CrmConnectionPatch,
  Employee,
  EmployeeCreate,
  EmployeePatch,
  EmployeeView,
  Ivr,
  IvrCreate,
  IvrPatch,
  RingGroup,
  RingGroupCreate,
  RingGroupPatch,
  SipCarrier,
  SipCarrierInput,
  Target,
  Trunk,
  TrunkCreate,
  TrunkPatch,
  TrunkView,
  User,
  UserStatus,
} from '@dzvin/protocol';
import { USER_STATUS } from '@dzvin/protocol';
import type { Clock } from '../clock.ts';
import { badInput, DomainError } from '../errors.ts';
import { normalizePhone } from '../phone.ts';
import type { AccountRecord, CrmConnectionRecord, SipCredentialSink, Store } from '../ports.ts';
import { greetingPcm } from './greeting-audio.ts';
import { checkSipPassword, sipHa1 } from './sip-password.ts';
import { registrationView } from './trunk-registration.ts';

const publicCrm = ({ secret: _secret, ...c }: CrmConnectionRecord): CrmConnection => c;

/**
 * The account's directory: employees, ring groups, IVR scenarios, trunks and CRM connections,
 * with the invariants a PBX needs (internal numbers unique across employees and groups, every
 * reference pointing at something of the same account, nothing deleted while referenced).
 */
export function createDirectoryService(deps: { store: Store; clock: Clock }) {
  const { store, clock } = deps;
  const d = store.directory;
  // GET /rest/users is polled by every integration: the list is remembered for a few seconds
  // and dropped at once when this process changes an employee.
  const usersCache = new Map<number, { users: User[]; at: number }>();
  const USERS_CACHE_MS = 5_000;
  const dropUsers = (accountId: number) => usersCache.delete(accountId);
  // Who is registered, as the SIP engine reads it (none: no SIP engine, `phone: null`).
  let registrations: ((accountId: number, ext: string) => number) | null = null;
  // Told after every trunk change (the SIP engine reads the trunks that register again).
  let trunksChanged: (() => void) | null = null;
  // The SIP edge of this process, told each credential change (none: every phone is simulated).
  let sipEdge: SipCredentialSink | null = null;
  let onSipEdgeError: (err: unknown) => void = () => {};
  async function tellSipEdge(push: (edge: SipCredentialSink) => Promise<void>) {
    if (!sipEdge) return;
    // The stored credential is the truth: an edge that is down is brought back in step later.
    await push(sipEdge).catch(onSipEdgeError);
  }

  async function assertExtFree(
    accountId: number,
    ext: string,
    self?: { kind: 'employee' | 'group'; id: number },
  ) {
    const e = await d.employees.byExt(accountId, ext);
    if (e && !(self?.kind === 'employee' && self.id === e.id))
      throw new DomainError('EXT_TAKEN', `ext ${ext} is already used by employee ${e.displayName}`);
    const g = await d.groups.byExt(accountId, ext);
    if (g && !(self?.kind === 'group' && self.id === g.id))
      throw new DomainError('EXT_TAKEN', `ext ${ext} is already used by ring group ${g.name}`);
  }

  async function assertTarget(accountId: number, t: Target | null | undefined, what: string) {
    if (!t) return;
    const found =
      t.type === 'employee'
        ? await d.employees.get(accountId, t.id)
        : t.type === 'group'
          ? await d.groups.get(accountId, t.id)
          : await d.ivr.get(accountId, t.id);
    if (!found) throw badInput(`${what}: ${t.type} ${t.id} does not exist in this account`);
  }

  async function assertMembers(accountId: number, members: number[]) {
    if (new Set(members).size !== members.length) throw badInput('members: an employee is listed twice');
    for (const id of members)
      if (!(await d.employees.get(accountId, id)))
        throw badInput(`members: employee ${id} does not exist in this account`);
  }

  /** Who points at a target, so deleting it can be refused with a reason. */
  async function referencesTo(accountId: number, t: Target): Promise<string[]> {
    const same = (x: Target | null | undefined) => !!x && x.type === t.type && x.id === t.id;
    const refs: string[] = [];
    for (const tr of await d.trunks.list(accountId))
      if (same(tr.destination)) refs.push(`trunk ${tr.number}`);
    for (const i of await d.ivr.list(accountId))
      if (same(i.defaultTarget) || i.options.some((o) => same(o.target))) refs.push(`IVR '${i.name}'`);
    if (t.type === 'employee')
      for (const g of await d.groups.list(accountId))
        if (g.members.includes(t.id)) refs.push(`ring group '${g.name}'`);
    return refs;
  }

  async function assertUnreferenced(accountId: number, t: Target, label: string) {
    const refs = await referencesTo(accountId, t);
    if (refs.length) throw new DomainError('IN_USE', `${label} is still used by ${refs.join(', ')}`);
  }

  const need = <T>(
    v: T | null,
    code:
      | 'EMPLOYEE_NOT_FOUND'
      | 'GROUP_NOT_FOUND'
      | 'IVR_NOT_FOUND'
      | 'TRUNK_NOT_FOUND'
      | 'CRM_CONNECTION_NOT_FOUND'
      | 'GREETING_NOT_FOUND',
    what: string,
  ): T => {
    if (!v) throw new DomainError(code, `${what} not found`);
    return v;
  };

  const employees = {
    list: (a: AccountRecord) => d.employees.list(a.id),
    get: async (a: AccountRecord, id: number) =>
      need(await d.employees.get(a.id, id), 'EMPLOYEE_NOT_FOUND', `employee ${id}`),
    async create(a: AccountRecord, input: EmployeeCreate): Promise<Employee> {
      // A race between two creates of one ext is caught by the (account_id, ext) unique index.
      await assertExtFree(a.id, input.ext);
      dropUsers(a.id);
      return d.employees.create(
        a.id,
        {
          displayName: input.displayName.trim(),
          ext: input.ext,
          email: input.email?.trim().toLowerCase() || null,
          monitored: input.monitored ?? true,
          presence: input.presence ?? 'online',
          paused: input.paused ?? false,
        },
        clock.now(),
      );
    },
    async update(a: AccountRecord, id: number, patch: EmployeePatch): Promise<Employee> {
      const cur = await employees.get(a, id);
      if (patch.ext !== undefined && patch.ext !== cur.ext)
        await assertExtFree(a.id, patch.ext, { kind: 'employee', id });
      const next = {
        displayName: patch.displayName?.trim() ?? cur.displayName,
        ext: patch.ext ?? cur.ext,
        email: patch.email === undefined ? cur.email : patch.email?.trim().toLowerCase() || null,
        monitored: patch.monitored ?? cur.monitored,
        presence: patch.presence ?? cur.presence,
        paused: patch.paused ?? cur.paused,
      };
      dropUsers(a.id);
      const extChanged = next.ext !== cur.ext;
      // The ext is part of the digest HA1: a new ext invalidates the SIP password, which is
      // dropped with the change (the answer shows hasSipPassword: false; set it again).
      const saved = await store.transaction(async (tx) => {
        if (extChanged && cur.hasSipPassword) await tx.sipCredentials.remove(a.id, id);
        return tx.directory.employees.update(a.id, id, next);
      });
      if (extChanged && cur.hasSipPassword)
        await tellSipEdge((edge) => edge.remove({ ext: cur.ext, domain: a.domain }));
      return need(saved, 'EMPLOYEE_NOT_FOUND', `employee ${id}`);
    },
    async delete(a: AccountRecord, id: number): Promise<void> {
      const e = await employees.get(a, id);
      await assertUnreferenced(a.id, { type: 'employee', id }, `employee ${e.ext}`);
      if (a.apiUserId === id) throw new DomainError('IN_USE', `employee ${e.ext} is the account's API user`);
      dropUsers(a.id);
      // The SIP credential goes with the row (cascade).
      await d.employees.delete(a.id, id);
      if (e.hasSipPassword) await tellSipEdge((edge) => edge.remove({ ext: e.ext, domain: a.domain }));
    },
    /**
     * Sets the employee's SIP password (user = ext, realm = the account's domain), stored as the
     * digest HA1 only, and tells the SIP edge at once.
     */
    async setSipPassword(a: AccountRecord, id: number, password: string): Promise<void> {
      checkSipPassword(password);
      const e = await employees.get(a, id);
      const ha1 = sipHa1(e.ext, a.domain, password);
      await store.sipCredentials.set({ accountId: a.id, employeeId: id, ha1, setAt: clock.now() });
      // The employee's console sessions were opened with the old password: they end.
      await store.sessions.deleteForEmployee(a.id, id);
      await tellSipEdge((edge) => edge.set({ ext: e.ext, domain: a.domain }, ha1));
    },
    /** The employee's stored HA1 (their own session's browser phone registers with it), or null. */
    sipHa1Of: (a: AccountRecord, id: number) => store.sipCredentials.ha1Of(a.id, id),
    /** Removes the SIP password (none is fine): the phones registered with it are dropped. */
    async removeSipPassword(a: AccountRecord, id: number): Promise<void> {
      const e = await employees.get(a, id);
      await store.sipCredentials.remove(a.id, id);
      await store.sessions.deleteForEmployee(a.id, id);
      // Told even when none was stored: an edge left out of step by a failed push forgets it too.
      await tellSipEdge((edge) => edge.remove({ ext: e.ext, domain: a.domain }));
    },
  };

  const groups = {
    list: (a: AccountRecord) => d.groups.list(a.id),
    get: async (a: AccountRecord, id: number) =>
      need(await d.groups.get(a.id, id), 'GROUP_NOT_FOUND', `ring group ${id}`),
    async create(a: AccountRecord, input: RingGroupCreate): Promise<RingGroup> {
      await assertExtFree(a.id, input.ext);
      await assertMembers(a.id, input.members ?? []);
      return d.groups.create(
        a.id,
        {
          name: input.name.trim(),
          ext: input.ext,
          strategy: input.strategy ?? 'simultaneous',
          ringTimeoutSec: input.ringTimeoutSec ?? 20,
          members: input.members ?? [],
        },
        clock.now(),
      );
    },
    async update(a: AccountRecord, id: number, patch: RingGroupPatch): Promise<RingGroup> {
      const cur = await groups.get(a, id);
      if (patch.ext !== undefined && patch.ext !== cur.ext)
        await assertExtFree(a.id, patch.ext, { kind: 'group', id });
      if (patch.members) await assertMembers(a.id, patch.members);
      const next = {
        name: patch.name?.trim() ?? cur.name,
        ext: patch.ext ?? cur.ext,
        strategy: patch.strategy ?? cur.strategy,
        ringTimeoutSec: patch.ringTimeoutSec ?? cur.ringTimeoutSec,
        members: patch.members ?? cur.members,
      };
      return need(await d.groups.update(a.id, id, next), 'GROUP_NOT_FOUND', `ring group ${id}`);
    },
    async delete(a: AccountRecord, id: number): Promise<void> {
      const g = await groups.get(a, id);
      await assertUnreferenced(a.id, { type: 'group', id }, `ring group '${g.name}'`);
      await d.groups.delete(a.id, id);
    },
  };

  async function checkIvr(a: AccountRecord, input: IvrPatch) {
    const digits = new Set<string>();
    for (const o of input.options ?? []) {
      if (digits.has(o.digit)) throw badInput(`options: digit ${o.digit} is used twice`);
      digits.add(o.digit);
      await assertTarget(a.id, o.target, `option ${o.digit}`);
    }
    await assertTarget(a.id, input.defaultTarget, 'defaultTarget');
  }

  const ivr = {
    list: (a: AccountRecord) => d.ivr.list(a.id),
    get: async (a: AccountRecord, id: number) =>
      need(await d.ivr.get(a.id, id), 'IVR_NOT_FOUND', `IVR ${id}`),
    async create(a: AccountRecord, input: IvrCreate): Promise<Ivr> {
      await checkIvr(a, input);
      return d.ivr.create(
        a.id,
        {
          name: input.name.trim(),
          greeting: input.greeting ?? null,
          timeoutSec: input.timeoutSec ?? 8,
          options: input.options ?? [],
          defaultTarget: input.defaultTarget ?? null,
        },
        clock.now(),
      );
    },
    async update(a: AccountRecord, id: number, patch: IvrPatch): Promise<Ivr> {
      const cur = await ivr.get(a, id);
      await checkIvr(a, patch);
      const next = {
        name: patch.name?.trim() ?? cur.name,
        greeting: patch.greeting === undefined ? cur.greeting : patch.greeting,
        timeoutSec: patch.timeoutSec ?? cur.timeoutSec,
        options: patch.options ?? cur.options,
        defaultTarget: patch.defaultTarget === undefined ? cur.defaultTarget : patch.defaultTarget,
      };
      return need(await d.ivr.update(a.id, id, next), 'IVR_NOT_FOUND', `IVR ${id}`);
    },
    async delete(a: AccountRecord, id: number): Promise<void> {
      const i = await ivr.get(a, id);
      await assertUnreferenced(a.id, { type: 'ivr', id }, `IVR '${i.name}'`);
      await d.ivr.delete(a.id, id);
    },
    /** Sets the greeting real callers hear (a WAV, greeting-audio.ts); answers its length in seconds. */
    async setGreetingAudio(a: AccountRecord, id: number, wav: Buffer): Promise<{ seconds: number }> {
      await ivr.get(a, id);
      const pcm = greetingPcm(wav);
      await store.ivrGreetings.set(a.id, id, pcm, clock.now());
      return { seconds: pcm.length / 16_000 };
    },
    /** The greeting as 8 kHz mono 16-bit PCM samples (GREETING_NOT_FOUND when none is set). */
    async greetingAudio(a: AccountRecord, id: number): Promise<Buffer> {
      await ivr.get(a, id);
      const g = await store.ivrGreetings.get(a.id, id);
      return need(g, 'GREETING_NOT_FOUND', `IVR ${id} has no greeting audio`).pcm;
    },
    async removeGreetingAudio(a: AccountRecord, id: number): Promise<void> {
      await ivr.get(a, id);
      await store.ivrGreetings.remove(a.id, id);
    },
  };

  /** A trunk's SIP peers: IP addresses (v4 or v6, normalized), each once. */
  function sipPeers(raw: readonly string[]): string[] {
    const out: string[] = [];
    for (const r of raw) {
      const a = r
        .trim()
        .replace(/^\[(.*)\]$/, '$1')
        .toLowerCase();
      if (!isIP(a)) throw badInput(`sipPeers: '${r}' is not an IP address (a carrier's signalling address)`);
      const n = isIP(a) === 6 ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a;
      if (!out.includes(n)) out.push(n);
    }
    return out;
  }

  /**
   * A trunk's carrier as given (the whole object replaces the stored one; its password, when
   * absent, stays as stored) → the carrier to store and what becomes of the secret (undefined:
   * unchanged). Registering needs a user name and a password.
   */
  function sipCarrier(
    raw: SipCarrierInput | null,
    storedSecret: boolean,
  ): { carrier: SipCarrier | null; secret: string | null | undefined } {
    if (raw === null) return { carrier: null, secret: storedSecret ? null : undefined };
    const host = raw.host.trim().toLowerCase();
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    if (
      !isIP(bare) &&
      !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(host)
    )
      throw badInput(`sipCarrier.host: '${raw.host}' is not a host name or an IP address`);
    const username = raw.username?.trim() || null;
    if (username !== null && !/^[\x21-\x7e]+$/.test(username.replace(/["\\]/g, ' ')))
      throw badInput('sipCarrier.username: printable ASCII without spaces or quotes');
    if (typeof raw.password === 'string' && !/^[\x20-\x7e]+$/.test(raw.password))
      throw badInput('sipCarrier.password: printable ASCII');
    const hasPassword = raw.password === undefined ? storedSecret : raw.password !== null;
    const register = raw.register ?? false;
    if (register && (!username || !hasPassword))
      throw badInput('sipCarrier: registering needs a username and a password');
    return {
      carrier: {
        host: isIP(bare) === 6 ? `[${bare}]` : bare,
        port: raw.port ?? 5060,
        transport: raw.transport ?? 'udp',
        username,
        hasPassword,
        register,
      },
      secret: raw.password,
    };
  }

  function trunkNumber(a: AccountRecord, raw: string): string {
    const n = normalizePhone(raw, a.defaultCountry);
    if (!n?.startsWith('+')) throw badInput(`number '${raw}' is not a phone number`);
    return n;
  }

  async function saveTrunk(
    a: AccountRecord,
    id: number | null,
    row: Omit<Trunk, 'id'>,
    secret: string | null | undefined,
  ): Promise<Trunk> {
    const saved = await store.transaction(async (tx) => {
      const dup = (await tx.directory.trunks.list(a.id)).find((t) => t.number === row.number && t.id !== id);
      if (dup) throw new DomainError('CONFLICT', `trunk ${row.number} already exists`);
      const saved =
        id === null
          ? await tx.directory.trunks.create(a.id, row, clock.now())
          : need(await tx.directory.trunks.update(a.id, id, row), 'TRUNK_NOT_FOUND', `trunk ${id}`);
      if (saved.isDefault) await tx.directory.trunks.clearDefault(a.id, saved.id);
      if (secret === undefined) return saved;
      await tx.directory.trunks.setCarrierSecret(a.id, saved.id, secret);
      return need(await tx.directory.trunks.get(a.id, saved.id), 'TRUNK_NOT_FOUND', `trunk ${saved.id}`);
    });
    trunksChanged?.();
    return saved;
  }

  const trunks = {
    list: (a: AccountRecord) => d.trunks.list(a.id),
    get: async (a: AccountRecord, id: number) =>
      need(await d.trunks.get(a.id, id), 'TRUNK_NOT_FOUND', `trunk ${id}`),
    async create(a: AccountRecord, input: TrunkCreate): Promise<Trunk> {
      await assertTarget(a.id, input.destination, 'destination');
      const isFirst = (await d.trunks.list(a.id)).length === 0;
      const { carrier, secret } = sipCarrier(input.sipCarrier ?? null, false);
      return saveTrunk(
        a,
        null,
        {
          number: trunkNumber(a, input.number),
          name: input.name.trim(),
          destination: input.destination ?? null,
          isDefault: input.isDefault ?? isFirst,
          sipPeers: sipPeers(input.sipPeers ?? []),
          sipDidFrom: input.sipDidFrom ?? 'either',
          sipCarrier: carrier,
        },
        secret,
      );
    },
    async update(a: AccountRecord, id: number, patch: TrunkPatch): Promise<Trunk> {
      const cur = await trunks.get(a, id);
      await assertTarget(a.id, patch.destination, 'destination');
      const stored = cur.sipCarrier?.hasPassword ?? false;
      const { carrier, secret } =
        patch.sipCarrier === undefined
          ? { carrier: cur.sipCarrier, secret: undefined }
          : sipCarrier(patch.sipCarrier, stored);
      return saveTrunk(
        a,
        id,
        {
          number: patch.number !== undefined ? trunkNumber(a, patch.number) : cur.number,
          name: patch.name?.trim() ?? cur.name,
          destination: patch.destination === undefined ? cur.destination : patch.destination,
          isDefault: patch.isDefault ?? cur.isDefault,
          sipPeers: patch.sipPeers !== undefined ? sipPeers(patch.sipPeers) : cur.sipPeers,
          sipDidFrom: patch.sipDidFrom ?? cur.sipDidFrom,
          sipCarrier: carrier,
        },
        secret,
      );
    },
    async delete(a: AccountRecord, id: number): Promise<void> {
      await trunks.get(a, id);
      await d.trunks.delete(a.id, id);
      trunksChanged?.();
    },
  };

  /**
   * A connection's signing secret is a Standard Webhooks secret: base64 after an optional
   * `whsec_` prefix, decoded exactly as the SDK's receiver and the dispatcher decode it.
   */
  function webhookSecret(secret: string | null): string | null {
    if (secret === null) return null;
    const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64) || Buffer.from(b64, 'base64').length < 12)
      throw badInput(
        'secret must be base64 of at least 12 bytes, optionally prefixed whsec_ (e.g. whsec_ + 24 random bytes in base64)',
      );
    return secret;
  }

  const crm = {
    list: async (a: AccountRecord) => (await d.crm.list(a.id)).map(publicCrm),
    async record(a: AccountRecord, id: number) {
      return need(await d.crm.get(a.id, id), 'CRM_CONNECTION_NOT_FOUND', `CRM connection ${id}`);
    },
    get: async (a: AccountRecord, id: number) => publicCrm(await crm.record(a, id)),
    async create(a: AccountRecord, input: CrmConnectionCreate): Promise<CrmConnection> {
      const row = {
        name: input.name.trim(),
        callSettingsUrl: input.callSettingsUrl ?? null,
        eventsUrl: input.eventsUrl ?? null,
        utmUrl: input.utmUrl ?? null,
        priority: input.priority ?? 1,
        secret: webhookSecret(input.secret ?? null),
        enabled: input.enabled ?? true,
      };
      return publicCrm(await d.crm.create(a.id, row, clock.now()));
    },
    async update(a: AccountRecord, id: number, patch: CrmConnectionPatch): Promise<CrmConnection> {
      const cur = await crm.record(a, id);
      const pick = <K extends keyof CrmConnectionPatch>(
        k: K,
        fallback: NonNullable<CrmConnectionRecord[K & keyof CrmConnectionRecord]> | null,
      ) => (patch[k] === undefined ? fallback : patch[k]);
      const row = {
        name: patch.name?.trim() ?? cur.name,
        callSettingsUrl: pick('callSettingsUrl', cur.callSettingsUrl) as string | null,
        eventsUrl: pick('eventsUrl', cur.eventsUrl) as string | null,
        utmUrl: pick('utmUrl', cur.utmUrl) as string | null,
        priority: patch.priority ?? cur.priority,
        secret: webhookSecret(pick('secret', cur.secret) as string | null),
        enabled: patch.enabled ?? cur.enabled,
      };
      return publicCrm(
        need(await d.crm.update(a.id, id, row), 'CRM_CONNECTION_NOT_FOUND', `CRM connection ${id}`),
      );
    },
    async delete(a: AccountRecord, id: number): Promise<void> {
      await crm.record(a, id);
      await d.crm.delete(a.id, id);
    },
    /**
     * A new random signing secret for the connection (Standard Webhooks: `whsec_` + base64 of
     * 32 bytes), stored and answered once; every delivery claimed from then on is signed with it.
     */
    async generateSecret(a: AccountRecord, id: number): Promise<string> {
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      await crm.update(a, id, { secret });
      return secret;
    },
  };

  /** `GET /rest/users`: the employees as the document shows them. */
  async function users(a: AccountRecord): Promise<User[]> {
    const now = clock.now();
    const hit = usersCache.get(a.id);
    if (hit && now >= hit.at && now - hit.at < USERS_CACHE_MS) return hit.users;
    const list = (await d.employees.list(a.id)).map((e) => ({
      id: e.id,
      displayName: e.displayName,
      ext: e.ext,
      email: e.email,
    }));
    if (usersCache.size > 10_000) usersCache.clear();
    usersCache.set(a.id, { users: list, at: now });
    return list;
  }

  /** `GET /rest/user/status`: the status of the employee the API key acts as (account.apiUserId). */
  async function userStatus(a: AccountRecord): Promise<UserStatus> {
    const e = a.apiUserId === null ? null : await d.employees.get(a.id, a.apiUserId);
    if (!e?.monitored) return { status: USER_STATUS.notMonitored };
    // A paused employee is "not at their place" (spec: 32 pause): offline until unpaused.
    return { status: e.presence === 'online' && !e.paused ? USER_STATUS.online : USER_STATUS.offline };
  }

  /**
   * Trunks as the admin API answers them: each carrier with its registration's state now, as the
   * process registering it last wrote it (one read for the account's rows).
   */
  async function trunkViews(a: AccountRecord, list: Trunk[]): Promise<TrunkView[]> {
    const rows = list.some((t) => t.sipCarrier?.register)
      ? new Map((await store.carrierRegistrations.forAccount(a.id)).map((r) => [r.trunkId, r]))
      : new Map();
    const now = clock.now();
    return list.map((t) => ({
      ...t,
      sipCarrier: t.sipCarrier
        ? { ...t.sipCarrier, registration: registrationView(a.id, t, rows.get(t.id), now) }
        : null,
    }));
  }
  const trunkView = async (a: AccountRecord, t: Trunk): Promise<TrunkView> => (await trunkViews(a, [t]))[0];

  /** The employee as the admin API answers it: with whether their phone is registered now. */
  const employeeView = (a: AccountRecord, e: Employee): EmployeeView => {
    const contacts = registrations?.(a.id, e.ext);
    return { ...e, phone: contacts === undefined ? null : { registered: contacts > 0, contacts } };
  };

  return {
    employees,
    employeeView,
    trunkViews,
    trunkView,
    groups,
    ivr,
    trunks,
    crm,
    users,
    userStatus,
    /**
     * The SIP edge to tell of credential changes, once the SIP engine runs; `onError` hears a
     * push that failed (the change stands).
     */
    useSipEdge(sink: SipCredentialSink | null, onError: (err: unknown) => void = () => {}) {
      sipEdge = sink;
      onSipEdgeError = onError;
    },
    /** `fn` hears every trunk change (created, changed, deleted); null: nobody. */
    onTrunksChanged(fn: (() => void) | null) {
      trunksChanged = fn;
    },
    /** How many phones of an ext are registered (the SIP engine's view), once it runs; null: none. */
    useRegistrations(contactsOf: ((accountId: number, ext: string) => number) | null) {
      registrations = contactsOf;
    },
  };
}
export type DirectoryService = ReturnType<typeof createDirectoryService>;
