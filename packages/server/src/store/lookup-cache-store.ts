import type { Kysely } from 'kysely';
import type { LookupCacheStore } from '../domain/ports.ts';
import type { Database } from './schema.ts';

/** The call.settings cache in the database (one row per account and number, upserted). */
export function createLookupCacheStore(db: Kysely<Database>): LookupCacheStore {
  return {
    async get(accountId, number, now) {
      const r = await db
        .selectFrom('lookup_cache')
        .select('payload_json')
        .where('account_id', '=', accountId)
        .where('number', '=', number)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return r?.payload_json ?? null;
    },
    async put(accountId, number, payloadJson, expiresAt) {
      await db
        .insertInto('lookup_cache')
        .values({ account_id: accountId, number, payload_json: payloadJson, expires_at: expiresAt })
        .onConflict((oc) =>
          oc
            .columns(['account_id', 'number'])
            .doUpdateSet({ payload_json: payloadJson, expires_at: expiresAt }),
        )
        .execute();
    },
    async deleteExpired(now) {
      const r = await db.deleteFrom('lookup_cache').where('expires_at', '<=', now).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}
