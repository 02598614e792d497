import type { Kysely } from 'kysely';
import type { CarrierRegistrationRecord, CarrierRegistrationStore } from '../domain/ports.ts';
import type { CarrierRegistrationsTable, Database } from './schema.ts';

const nullableNumber = (v: unknown) => (v === null || v === undefined ? null : Number(v));

// pg answers int8 as strings: every number is read back through Number().
function toRecord(r: CarrierRegistrationsTable): CarrierRegistrationRecord {
  return {
    trunkId: Number(r.trunk_id),
    accountId: Number(r.account_id),
    nodeId: r.node_id,
    configKey: r.config_key,
    state: r.state as CarrierRegistrationRecord['state'],
    expiresAt: nullableNumber(r.expires_at),
    lastStatus: nullableNumber(r.last_status),
    lastError: r.last_error,
    lastAttemptAt: nullableNumber(r.last_attempt_at),
    nextAttemptAt: nullableNumber(r.next_attempt_at),
    failures: Number(r.failures),
    updatedAt: Number(r.updated_at),
  };
}

/** Trunk registrations' state (migration 0018): one row per trunk, replaced by an upsert. */
export function createCarrierRegistrationStore(db: Kysely<Database>): CarrierRegistrationStore {
  return {
    async put(r) {
      const row = {
        account_id: r.accountId,
        node_id: r.nodeId,
        config_key: r.configKey,
        state: r.state,
        expires_at: r.expiresAt,
        last_status: r.lastStatus,
        last_error: r.lastError,
        last_attempt_at: r.lastAttemptAt,
        next_attempt_at: r.nextAttemptAt,
        failures: r.failures,
        updated_at: r.updatedAt,
      };
      const gone = async () =>
        !(await db.selectFrom('trunks').select('id').where('id', '=', r.trunkId).executeTakeFirst());
      try {
        await db
          .insertInto('carrier_registrations')
          .values({ trunk_id: r.trunkId, ...row })
          .onConflict((oc) => oc.column('trunk_id').doUpdateSet(row))
          .execute();
      } catch (err) {
        // A trunk deleted meanwhile has no row to keep (the foreign key refused it): nothing lost.
        if (!(await gone())) throw err;
      }
    },
    async remove(trunkId, nodeId) {
      let q = db.deleteFrom('carrier_registrations').where('trunk_id', '=', trunkId);
      if (nodeId !== undefined) q = q.where('node_id', '=', nodeId);
      await q.execute();
    },
    async forAccount(accountId) {
      const rows = await db
        .selectFrom('carrier_registrations')
        .selectAll()
        .where('account_id', '=', accountId)
        .execute();
      return rows.map(toRecord);
    },
  };
}
