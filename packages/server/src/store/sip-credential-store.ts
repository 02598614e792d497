import type { Kysely } from 'kysely';
import type { SipCredentialStore } from '../domain/ports.ts';
import type { Database } from './schema.ts';

/** SIP credentials on SQLite and PostgreSQL: one row per employee, replaced by an upsert. */
export function createSipCredentialStore(db: Kysely<Database>): SipCredentialStore {
  return {
    async set(c) {
      await db
        .insertInto('sip_credentials')
        .values({ account_id: c.accountId, employee_id: c.employeeId, ha1: c.ha1, set_at: c.setAt })
        .onConflict((oc) =>
          oc.columns(['account_id', 'employee_id']).doUpdateSet({ ha1: c.ha1, set_at: c.setAt }),
        )
        .execute();
    },

    async remove(accountId, employeeId) {
      const r = await db
        .deleteFrom('sip_credentials')
        .where('account_id', '=', accountId)
        .where('employee_id', '=', employeeId)
        .executeTakeFirst();
      return Number(r.numDeletedRows ?? 0) > 0;
    },

    async ha1Of(accountId, employeeId) {
      const r = await db
        .selectFrom('sip_credentials')
        .select('ha1')
        .where('account_id', '=', accountId)
        .where('employee_id', '=', employeeId)
        .executeTakeFirst();
      return r?.ha1 ?? null;
    },

    async withIdentity() {
      const rows = await db
        .selectFrom('sip_credentials as c')
        .innerJoin('employees as e', (j) =>
          j.onRef('e.id', '=', 'c.employee_id').onRef('e.account_id', '=', 'c.account_id'),
        )
        .innerJoin('accounts as a', 'a.id', 'c.account_id')
        .select(['c.account_id', 'c.employee_id', 'c.ha1', 'c.set_at', 'e.ext', 'a.domain'])
        .orderBy('c.account_id')
        .orderBy('c.employee_id')
        .execute();
      return rows.map((r) => ({
        accountId: Number(r.account_id),
        employeeId: Number(r.employee_id),
        ha1: r.ha1,
        setAt: Number(r.set_at),
        ext: r.ext,
        domain: r.domain,
      }));
    },
  };
}
