import type { Contact, CrmConnection, Employee, Ivr, Note, RingGroup, Target, Trunk } from '@dzvin/protocol';
import type { PhoneMode } from './accounts/phone-mode.ts';
import type { CallStore, FinishedCall } from './calls/call-model.ts';
import type { TrackingStore } from './tracking.ts';

/** The ports the domain owns; store/ implements each once for SQLite and PostgreSQL. */

export interface AccountRecord {
  id: number;
  domain: string;
  name: string;
  apiKeyHash: string;
  defaultCountry: string;
  apiUserId: number | null;
  createdAt: number;
  /** Recordings are served only with a session of this account (spec #15); default off. */
  recordingsNeedSession: boolean;
  /** The built-in contacts book's priority among the account's CRMs (spec #17; lower wins). */
  contactsPriority: number;
  /** Which phones the employees use; null: the server's default (domain/accounts/phone-mode.ts). */
  phones: PhoneMode | null;
}

export interface AccountStore {
  count(): Promise<number>;
  byId(id: number): Promise<AccountRecord | null>;
  /**
   * What `byId` would answer from this process's memory, synchronously: the same object while
   * it is fresh and not updated since, else null. Never reads the database.
   */
  cachedById(id: number): AccountRecord | null;
  /** Drops this process's memory of the account (another process changed it). */
  forgetCached(id: number): void;
  /** `fresh` skips any cache: credential checks must see a rotated key at once. */
  byDomain(domain: string, opts?: { fresh?: boolean }): Promise<AccountRecord | null>;
  byApiKeyHash(hash: string): Promise<AccountRecord | null>;
  /** A new account; settings not given start at their defaults. */
  create(
    a: Omit<AccountRecord, 'id' | 'recordingsNeedSession' | 'contactsPriority' | 'phones'>,
  ): Promise<AccountRecord>;
  update(id: number, patch: Partial<Omit<AccountRecord, 'id' | 'domain' | 'createdAt'>>): Promise<void>;
}

export interface SessionRecord {
  tokenHash: string;
  accountId: number;
  createdAt: number;
  lastSeenAt: number;
  /** An employee's own session (signed in with ext + SIP password); null: the account's. */
  employeeId: number | null;
}

export interface SessionStore {
  create(s: SessionRecord): Promise<void>;
  find(tokenHash: string): Promise<SessionRecord | null>;
  touch(tokenHash: string, at: number): Promise<void>;
  delete(tokenHash: string): Promise<void>;
  deleteForAccount(accountId: number): Promise<void>;
  /** Ends an employee's own sessions (their SIP password changed or was removed). */
  deleteForEmployee(accountId: number, employeeId: number): Promise<void>;
  deleteIdleBefore(at: number): Promise<number>;
}

export interface AuthFailureStore {
  record(keys: string[], at: number): Promise<void>;
  /** Failures per key since `since`. */
  count(key: string, since: number): Promise<number>;
  prune(before: number): Promise<void>;
}

export type CrmConnectionRecord = CrmConnection & { secret: string | null };

/** Create/patch shapes the directory store persists (validated by the domain first). */
export type EmployeeRow = Omit<Employee, 'id' | 'createdAt' | 'hasSipPassword'>;
export type RingGroupRow = Omit<RingGroup, 'id'>;
export type IvrRow = Omit<Ivr, 'id'>;
export type TrunkRow = Omit<Trunk, 'id'>;
export type CrmConnectionRow = Omit<CrmConnectionRecord, 'id' | 'hasSecret'>;

/** One kind of directory entity, scoped by account. */
export interface EntityStore<T, Row> {
  list(accountId: number): Promise<T[]>;
  get(accountId: number, id: number): Promise<T | null>;
  /** Those of `ids` that exist in the account, in the order of `ids` (one query). */
  byIds(accountId: number, ids: readonly number[]): Promise<T[]>;
  create(accountId: number, row: Row, now: number): Promise<T>;
  update(accountId: number, id: number, row: Row): Promise<T | null>;
  delete(accountId: number, id: number): Promise<boolean>;
}

export interface DirectoryStore {
  employees: EntityStore<Employee, EmployeeRow> & {
    byExt(accountId: number, ext: string): Promise<Employee | null>;
  };
  groups: EntityStore<RingGroup, RingGroupRow> & {
    byExt(accountId: number, ext: string): Promise<RingGroup | null>;
  };
  ivr: EntityStore<Ivr, IvrRow>;
  trunks: EntityStore<Trunk, TrunkRow> & {
    clearDefault(accountId: number, exceptId: number): Promise<void>;
    /** The trunk with this number (E.164; unique across accounts), with its account: who a carrier's call is for. */
    byNumber(number: string): Promise<{ accountId: number; trunk: Trunk }[]>;
    /** The carrier's digest password of a trunk (write-only in the API; the SIP engine's alone). */
    carrierSecret(accountId: number, id: number): Promise<string | null>;
    setCarrierSecret(accountId: number, id: number, secret: string | null): Promise<void>;
    /** Every trunk with a SIP carrier, with its account (the registrations to keep). */
    withCarrier(): Promise<{ accountId: number; trunk: Trunk }[]>;
  };
  crm: EntityStore<CrmConnectionRecord, CrmConnectionRow>;
}

export type { Target };

export interface ContactQuery {
  offset: number;
  limit: number;
  searchText?: string;
  searchNoteText?: string;
  dateColumn?: 'dateCreate' | 'lastModified';
  from?: number;
  to?: number;
}

export type NoteRow = Omit<Note, 'id' | 'elementId'>;

export interface ContactStore {
  get(accountId: number, id: number): Promise<Contact | null>;
  list(accountId: number, q: ContactQuery): Promise<Contact[]>;
  byPhone(accountId: number, phone: string, offset: number, limit: number): Promise<Contact[]>;
  /** `byPhone` as the JSON text of the list (what the route sends), without building objects. */
  byPhoneJson(accountId: number, phone: string, offset: number, limit: number): Promise<string>;
  /** Ids of contacts having any of these normalized phones, lowest first. */
  idsByPhones(accountId: number, phones: string[]): Promise<number[]>;
  insert(accountId: number, c: Omit<Contact, 'id'>, phones: string[], searchText: string): Promise<number>;
  update(accountId: number, c: Contact, phones: string[], searchText: string): Promise<boolean>;
  delete(accountId: number, id: number): Promise<boolean>;
  /** Allocates `n` fresh ids for contact fields/values (unique across the database). */
  allocateItemIds(n: number): Promise<number[]>;
  notes: {
    list(accountId: number, contactId: number): Promise<Note[]>;
    get(accountId: number, contactId: number, noteId: number): Promise<Note | null>;
    insert(accountId: number, contactId: number, n: NoteRow, searchText: string): Promise<Note>;
    update(
      accountId: number,
      contactId: number,
      noteId: number,
      n: NoteRow,
      searchText: string,
    ): Promise<boolean>;
    delete(accountId: number, contactId: number, noteId: number): Promise<boolean>;
  };
}

/**
 * call.settings answers cached per account and number (the document's cache note), shared by
 * every process on the database. The payload is the lookup's own JSON.
 */
export interface LookupCacheStore {
  /** The payload stored for the number, unless it expired by `now`. */
  get(accountId: number, number: string, now: number): Promise<string | null>;
  put(accountId: number, number: string, payloadJson: string, expiresAt: number): Promise<void>;
  /** Removes rows expired by `now`; answers how many. */
  deleteExpired(now: number): Promise<number>;
}

/** A webhook delivery's state (spec #18): `failed` = final 4xx, `dead` = retried too long. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead';
export type DeliveryKind = 'event' | 'utm';

/** One delivery of one payload to one CRM connection, as the outbox keeps it. Times are epoch ms. */
export interface DeliveryRecord {
  id: number;
  accountId: number;
  connectionId: number;
  kind: DeliveryKind;
  orderKey: string;
  /** `call.dial`… for events, null for UTM batches. */
  event: string | null;
  /** The JSON body, as text. */
  payload: string;
  /** Standard Webhooks `webhook-id`, stable across retries. */
  webhookId: string;
  status: DeliveryStatus;
  attempts: number;
  createdAt: number;
  /** When the current retry window began (creation, or the last replay). */
  retrySince: number;
  nextAttemptAt: number;
  leaseUntil: number | null;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  responseExcerpt: string | null;
  deliveredAt: number | null;
}

export type NewDelivery = Pick<
  DeliveryRecord,
  'accountId' | 'connectionId' | 'kind' | 'orderKey' | 'event' | 'payload' | 'webhookId' | 'createdAt'
>;

/** A pending delivery of a (connection, order key), as `OutboxStore.pendingOf` answers it. */
export interface PendingKeyRow {
  id: number;
  connectionId: number;
  orderKey: string;
}

/** Where a claimed delivery goes: its connection as it is now. */
export interface DeliveryTarget {
  id: number;
  accountId: number;
  eventsUrl: string | null;
  utmUrl: string | null;
  secret: string | null;
  enabled: boolean;
}

/** One recorded attempt of a delivery (its log). */
export interface DeliveryAttemptRecord {
  attempt: number;
  at: number;
  httpStatus: number | null;
  error: string | null;
  latencyMs: number | null;
  excerpt: string | null;
}

/** The outcome of one attempt, recorded in the delivery log. */
export interface AttemptOutcome {
  id: number;
  /** 1 for the first attempt of the delivery; a later one keeps the earlier attempts in the log. */
  attempt: number;
  /**
   * Recorded after the claim's lease ran out: another process may have attempted and recorded
   * the delivery meanwhile, whose outcome is then kept in the log too.
   */
  pastLease?: boolean;
  at: number;
  status: DeliveryStatus;
  httpStatus: number | null;
  error: string | null;
  latencyMs: number | null;
  excerpt: string | null;
  nextAttemptAt: number;
}

/**
 * The durable outbox: rows claimed with a lease so several processes never send one delivery at
 * once, and only the oldest pending row of each (connection, order key) is claimable.
 */
export interface OutboxStore {
  insert(rows: NewDelivery[]): Promise<void>;
  /**
   * Inserts rows already leased to `owner` until `leaseUntil` (the writing process sends them
   * itself, with no claim); answers their ids, in the order of `rows`.
   */
  insertLeased(rows: NewDelivery[], lease: { owner: string; leaseUntil: number }): Promise<number[]>;
  /** The pending rows of these (connection, order key) pairs, oldest first. */
  pendingOf(keys: { connectionId: number; orderKey: string }[]): Promise<PendingKeyRow[]>;
  /** Leases up to `limit` due, head-of-line rows (oldest first), skipping `excludeConnections`. */
  claim(q: {
    now: number;
    owner: string;
    leaseMs: number;
    limit: number;
    excludeConnections: number[];
  }): Promise<DeliveryRecord[]>;
  /** Gives claimed rows back unsent (shutdown, local backlog full). */
  release(ids: number[], owner: string): Promise<void>;
  /**
   * Pending rows leased to `owner` now. After a failure a dispatcher compares them with what it
   * holds: a claim committed but lost with its reply left rows leased to it that it never saw.
   */
  leasedTo(owner: string): Promise<number[]>;
  /** Records attempt outcomes, all or none. */
  record(outcomes: AttemptOutcome[]): Promise<void>;
  /** The earliest time a pending row becomes due or a lease expires, after `now`; null when none. */
  nextDue(now: number): Promise<number | null>;
  targets(connectionIds: number[]): Promise<DeliveryTarget[]>;
  list(
    accountId: number,
    q: { connectionId: number; status?: DeliveryStatus; limit: number; beforeId?: number },
  ): Promise<DeliveryRecord[]>;
  get(accountId: number, id: number): Promise<DeliveryRecord | null>;
  /** Every recorded attempt of a delivery, oldest first; null for an unknown delivery. */
  attempts(accountId: number, id: number): Promise<DeliveryAttemptRecord[] | null>;
  /** Makes deliveries pending again, due `now`, with a fresh retry window; answers how many. */
  replay(
    accountId: number,
    q: { ids?: number[]; connectionId?: number; statuses?: DeliveryStatus[] },
    now: number,
  ): Promise<number>;
  /** Counts per status (tests, benches, the console). */
  counts(accountId: number | null): Promise<Record<DeliveryStatus, number>>;
}

/**
 * Who is on a call, shared by every process over one database (cluster/presence.ts): a claim
 * holds an employee for one leg; each round-robin group counts its turns.
 */
export interface PresenceStore {
  /**
   * Claims the employee for `legUuid`: true when this leg holds them now (also when it already
   * did), false when another leg does.
   */
  claim(c: {
    accountId: number;
    employeeId: number;
    legUuid: string;
    nodeId: string;
    since: number;
  }): Promise<boolean>;
  /** Frees whatever these legs hold (none of them may hold anything). */
  release(legUuids: string[]): Promise<void>;
  /** Which of these employees a leg holds now. */
  busyAmong(accountId: number, employeeIds: number[]): Promise<number[]>;
  /** The group's turn before this call (0 for its first), counting this one. */
  nextTurn(accountId: number, groupId: number): Promise<number>;
  /** Frees the claims of processes not in `alive` that are older than `before`; answers how many. */
  sweep(alive: string[], before: number): Promise<number>;
}

/**
 * A call in progress as the ledger keeps it (domain/calls/live-ledger.ts): the records it would
 * be saved as if it were cut at `updatedAt` — the call's, each leg's still up, the primary legs'
 * waiting for it. `version` orders the writes of one call (an older one never replaces a newer).
 */
export interface LiveCallRow {
  uuid: string;
  accountId: number;
  nodeId: string;
  updatedAt: number;
  version: number;
  records: FinishedCall[];
}

/** The calls in progress of every process, and when each process was last alive (migration 0017). */
export interface LiveCallStore {
  /** Writes these calls' rows; a row already written with a newer version is left alone. */
  put(rows: LiveCallRow[]): Promise<void>;
  /** Deletes these calls' rows (in the transaction that saves their history). */
  remove(uuids: string[]): Promise<void>;
  /** The process `nodeId` is alive at `at` (one row per process, whatever its calls). */
  touch(nodeId: string, at: number): Promise<void>;
  /**
   * The calls of processes not in `alive` whose process was last seen (or, never seen, the row
   * last written) before `before`; at most `limit`.
   */
  orphans(alive: string[], before: number, limit: number): Promise<string[]>;
  /**
   * Deletes one row and answers it with when its process was last known alive (its last touch
   * or the row's last write, whichever is later); null when it is gone (taken first elsewhere).
   */
  take(uuid: string): Promise<{ row: LiveCallRow; seenAt: number } | null>;
  /** Which of these records are in the history already, as `uuid kind` keys. */
  saved(records: Pick<FinishedCall, 'uuid' | 'kind'>[]): Promise<Set<string>>;
  /** Forgets processes last seen before `before` that have no call left; answers how many. */
  prune(before: number): Promise<number>;
}

/** An employee's SIP digest credential: the HA1 (MD5(ext:domain:password)), never the password. */
export interface SipCredentialRecord {
  accountId: number;
  employeeId: number;
  ha1: string;
  setAt: number;
}

/**
 * Employees' SIP credentials (the admin API's sip-password); a row goes with its employee. The
 * SIP edge is told each change and reads them all (`withIdentity`) when it holds none.
 */
/** IVR greetings (recorded audio, 8 kHz 16-bit mono PCM), one per scenario. */
export interface IvrGreetingStore {
  set(accountId: number, ivrId: number, pcm: Buffer, setAt: number): Promise<void>;
  /** Answers whether there was one. */
  remove(accountId: number, ivrId: number): Promise<boolean>;
  get(accountId: number, ivrId: number): Promise<{ pcm: Buffer; setAt: number } | null>;
  /** When it was set (null: none), without reading the audio. */
  setAt(accountId: number, ivrId: number): Promise<number | null>;
}

/**
 * A trunk's registration at its carrier as the process registering it wrote it (issue 16): one
 * row per trunk, replaced at each change, removed when the trunk stops registering.
 */
export interface CarrierRegistrationRecord {
  trunkId: number;
  accountId: number;
  /** The process that registers it (cluster node id). */
  nodeId: string;
  /** The carrier settings it was written for (domain/directory/trunk-registration.ts). */
  configKey: string;
  state: 'pending' | 'registered' | 'failed';
  expiresAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  lastAttemptAt: number | null;
  nextAttemptAt: number | null;
  failures: number;
  updatedAt: number;
}

export interface CarrierRegistrationStore {
  put(r: CarrierRegistrationRecord): Promise<void>;
  /** Removes the trunk's row (only when `nodeId` wrote it, if given). */
  remove(trunkId: number, nodeId?: string): Promise<void>;
  forAccount(accountId: number): Promise<CarrierRegistrationRecord[]>;
}

export interface SipCredentialStore {
  /** Adds or replaces the employee's credential. */
  set(c: SipCredentialRecord): Promise<void>;
  /** Answers whether there was one. */
  remove(accountId: number, employeeId: number): Promise<boolean>;
  /** The employee's HA1, or null when they have no SIP password. */
  ha1Of(accountId: number, employeeId: number): Promise<string | null>;
  /** Every credential with the identity it is checked under: the employee's ext, the account's domain. */
  withIdentity(): Promise<(SipCredentialRecord & { ext: string; domain: string })[]>;
}

/** Who a SIP credential belongs to: the employee's ext on the account's domain (`ext@domain`). */
export interface SipIdentity {
  ext: string;
  domain: string;
}

/**
 * Where a changed SIP credential goes at once: the SIP edge (Kamailio), when this process runs
 * one. Never fails the change: the stored credential is the truth, the edge is brought back in
 * step by itself (engine/sip/edge/credential-sync.ts).
 */
export interface SipCredentialSink {
  set(id: SipIdentity, ha1: string): Promise<void>;
  /** Forgets the credential and drops the phones registered with it. */
  remove(id: SipIdentity): Promise<void>;
}

/** Everything persistent; `transaction` runs `fn` atomically against a store bound to one transaction. */
export interface Store {
  accounts: AccountStore;
  sessions: SessionStore;
  authFailures: AuthFailureStore;
  directory: DirectoryStore;
  contacts: ContactStore;
  calls: CallStore;
  lookupCache: LookupCacheStore;
  tracking: TrackingStore;
  outbox: OutboxStore;
  presence: PresenceStore;
  liveCalls: LiveCallStore;
  sipCredentials: SipCredentialStore;
  ivrGreetings: IvrGreetingStore;
  carrierRegistrations: CarrierRegistrationStore;
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
}
