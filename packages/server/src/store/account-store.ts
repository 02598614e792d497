import type { Kysely, Selectable } from 'kysely';
import { isPhoneMode } from '../domain/accounts/phone-mode.ts';
import type { AccountRecord, AccountStore, AuthFailureStore, SessionStore } from '../domain/ports.ts';
import type { AccountsTable, Database } from './schema.ts';

const toAccount = (r: Selectable<AccountsTable>): AccountRecord => ({
  id: r.id,
  domain: r.domain,
  name: r.name,
  apiKeyHash: r.api_key_hash,
  defaultCountry: r.default_country,
  apiUserId: r.api_user_id,
  createdAt: r.created_at,
  recordingsNeedSession: r.recordings_need_session === 1,
  contactsPriority: r.contacts_priority,
  phones: isPhoneMode(r.phones) ? r.phones : null,
});

/**
 * Accounts are read on every request and change rarely: remembered for a few seconds. Changes
 * made through this process drop the entry at once; other processes are told over the cluster
 * channel (`forgetCached`) and see them within the TTL should that message be lost.
 * `generation` grows with every drop: a read that began before one is not remembered, so a
 * change cannot be undone by an older answer arriving after it.
 */
export interface AccountCache {
  byId: Map<number, { account: AccountRecord; at: number }>;
  idByDomain: Map<string, number>;
  generation: number;
}
export const ACCOUNT_CACHE_MS = 5_000;
export const createAccountCache = (): AccountCache => ({
  byId: new Map(),
  idByDomain: new Map(),
  generation: 0,
});

export function createAccountStore(
  db: Kysely<Database>,
  cache: AccountCache = createAccountCache(),
): AccountStore {
  const remember = (a: AccountRecord | null, since: number) => {
    if (!a || since !== cache.generation) return a;
    if (cache.byId.size > 10_000) cache.byId.clear();
    if (cache.idByDomain.size > 10_000) cache.idByDomain.clear();
    cache.byId.set(a.id, { account: a, at: Date.now() });
    cache.idByDomain.set(a.domain, a.id);
    return a;
  };
  const cached = (id: number | undefined) => {
    const hit = id === undefined ? undefined : cache.byId.get(id);
    return hit && Date.now() - hit.at < ACCOUNT_CACHE_MS ? hit.account : null;
  };
  const one = async (col: 'id' | 'domain' | 'api_key_hash', v: string | number) => {
    const r = await db.selectFrom('accounts').selectAll().where(col, '=', v).executeTakeFirst();
    return r ? toAccount(r) : null;
  };
  /** Read and remember, unless the cache was dropped meanwhile. */
  const load = async (col: 'id' | 'domain', v: string | number) => {
    const since = cache.generation;
    return remember(await one(col, v), since);
  };
  const drop = (id: number) => {
    cache.generation++;
    cache.byId.delete(id);
  };
  return {
    async count() {
      const r = await db
        .selectFrom('accounts')
        .select((e) => e.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    byId: async (id) => cached(id) ?? (await load('id', id)),
    cachedById: (id) => cached(id),
    forgetCached: drop,
    byDomain: async (domain, opts) =>
      (opts?.fresh ? null : cached(cache.idByDomain.get(domain))) ?? (await load('domain', domain)),
    byApiKeyHash: (hash) => one('api_key_hash', hash),
    async create(a) {
      const r = await db
        .insertInto('accounts')
        .values({
          domain: a.domain,
          name: a.name,
          api_key_hash: a.apiKeyHash,
          default_country: a.defaultCountry,
          api_user_id: a.apiUserId,
          created_at: a.createdAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toAccount(r);
    },
    async update(id, p) {
      const set: Partial<Selectable<AccountsTable>> = {};
      if (p.name !== undefined) set.name = p.name;
      if (p.apiKeyHash !== undefined) set.api_key_hash = p.apiKeyHash;
      if (p.defaultCountry !== undefined) set.default_country = p.defaultCountry;
      if (p.apiUserId !== undefined) set.api_user_id = p.apiUserId;
      if (p.contactsPriority !== undefined) set.contacts_priority = p.contactsPriority;
      if (p.phones !== undefined) set.phones = p.phones;
      if (p.recordingsNeedSession !== undefined)
        set.recordings_need_session = p.recordingsNeedSession ? 1 : 0;
      drop(id);
      if (Object.keys(set).length) await db.updateTable('accounts').set(set).where('id', '=', id).execute();
      drop(id);
    },
  };
}

export function createSessionStore(db: Kysely<Database>): SessionStore {
  return {
    async create(s) {
      await db
        .insertInto('sessions')
        .values({
          token_hash: s.tokenHash,
          account_id: s.accountId,
          created_at: s.createdAt,
          last_seen_at: s.lastSeenAt,
          employee_id: s.employeeId,
        })
        .execute();
    },
    async find(tokenHash) {
      const r = await db
        .selectFrom('sessions')
        .selectAll()
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst();
      return r
        ? {
            tokenHash: r.token_hash,
            accountId: r.account_id,
            createdAt: r.created_at,
            lastSeenAt: r.last_seen_at,
            employeeId: r.employee_id === null ? null : Number(r.employee_id),
          }
        : null;
    },
    async touch(tokenHash, at) {
      await db
        .updateTable('sessions')
        .set({ last_seen_at: at })
        .where('token_hash', '=', tokenHash)
        .execute();
    },
    async delete(tokenHash) {
      await db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute();
    },
    async deleteForAccount(accountId) {
      await db.deleteFrom('sessions').where('account_id', '=', accountId).execute();
    },
    async deleteForEmployee(accountId, employeeId) {
      await db
        .deleteFrom('sessions')
        .where('account_id', '=', accountId)
        .where('employee_id', '=', employeeId)
        .execute();
    },
    async deleteIdleBefore(at) {
      const r = await db.deleteFrom('sessions').where('last_seen_at', '<', at).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

export function createAuthFailureStore(db: Kysely<Database>): AuthFailureStore {
  return {
    async record(keys, at) {
      if (keys.length)
        await db
          .insertInto('auth_failures')
          .values(keys.map((key) => ({ key, at })))
          .execute();
    },
    async count(key, since) {
      const r = await db
        .selectFrom('auth_failures')
        .select((e) => e.fn.countAll<number>().as('n'))
        .where('key', '=', key)
        .where('at', '>=', since)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    async prune(before) {
      await db.deleteFrom('auth_failures').where('at', '<', before).execute();
    },
  };
}
