import type { Contact, CrmConnection, Employee, Ivr, Note, RingGroup, Target, Trunk } from '@dzvin/protocol';
import type { CallStore } from './calls/call-model.ts';
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
}

export interface AccountStore {
  count(): Promise<number>;
  byId(id: number): Promise<AccountRecord | null>;
  /** `fresh` skips any cache: credential checks must see a rotated key at once. */
  byDomain(domain: string, opts?: { fresh?: boolean }): Promise<AccountRecord | null>;
  byApiKeyHash(hash: string): Promise<AccountRecord | null>;
  /** A new account; settings not given start at their defaults. */
  create(a: Omit<AccountRecord, 'id' | 'recordingsNeedSession' | 'contactsPriority'>): Promise<AccountRecord>;
  update(id: number, patch: Partial<Omit<AccountRecord, 'id' | 'domain' | 'createdAt'>>): Promise<void>;
}

export interface SessionRecord {
  tokenHash: string;
  accountId: number;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionStore {
  create(s: SessionRecord): Promise<void>;
  find(tokenHash: string): Promise<SessionRecord | null>;
  touch(tokenHash: string, at: number): Promise<void>;
  delete(tokenHash: string): Promise<void>;
  deleteForAccount(accountId: number): Promise<void>;
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
export type EmployeeRow = Omit<Employee, 'id' | 'createdAt'>;
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
  trunks: EntityStore<Trunk, TrunkRow> & { clearDefault(accountId: number, exceptId: number): Promise<void> };
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
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
}
