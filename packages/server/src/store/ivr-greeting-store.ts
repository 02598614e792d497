import type { Kysely } from 'kysely';
import type { IvrGreetingStore } from '../domain/ports.ts';
import type { Database } from './schema.ts';

/** IVR greetings on SQLite (blob) and PostgreSQL (bytea): one row per scenario, replaced by an upsert. */
export function createIvrGreetingStore(db: Kysely<Database>): IvrGreetingStore {
  return {
    async set(accountId, ivrId, pcm, setAt) {
      await db
        .insertInto('ivr_greetings')
        .values({ account_id: accountId, ivr_id: ivrId, pcm, set_at: setAt })
        .onConflict((oc) => oc.columns(['account_id', 'ivr_id']).doUpdateSet({ pcm, set_at: setAt }))
        .execute();
    },
    async remove(accountId, ivrId) {
      const r = await db
        .deleteFrom('ivr_greetings')
        .where('account_id', '=', accountId)
        .where('ivr_id', '=', ivrId)
        .executeTakeFirst();
      return Number(r.numDeletedRows ?? 0) > 0;
    },
    async get(accountId, ivrId) {
      const r = await db
        .selectFrom('ivr_greetings')
        .select(['pcm', 'set_at'])
        .where('account_id', '=', accountId)
        .where('ivr_id', '=', ivrId)
        .executeTakeFirst();
      return r ? { pcm: Buffer.from(r.pcm), setAt: Number(r.set_at) } : null;
    },
    async setAt(accountId, ivrId) {
      const r = await db
        .selectFrom('ivr_greetings')
        .select('set_at')
        .where('account_id', '=', accountId)
        .where('ivr_id', '=', ivrId)
        .executeTakeFirst();
      return r ? Number(r.set_at) : null;
    },
  };
}
