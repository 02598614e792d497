import type { Kysely } from 'kysely';
import type { PresenceStore } from '../domain/ports.ts';
import type { Database } from './schema.ts';

/**
 * Presence on SQLite and PostgreSQL. A claim is a row keyed by the employee, so two processes
 * claiming one employee at once are decided by the primary key: the second insert does nothing
 * and reads who holds them. A group's turn is one upsert that answers the count it left.
 */
export function createPresenceStore(db: Kysely<Database>): PresenceStore {
  return {
    async claim(c) {
      // Twice at most: a holder released between the insert and the read leaves nobody to compare.
      for (let attempt = 0; ; attempt++) {
        const inserted = await db
          .insertInto('employee_calls')
          .values({
            account_id: c.accountId,
            employee_id: c.employeeId,
            leg_uuid: c.legUuid,
            node_id: c.nodeId,
            since: c.since,
          })
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return true;
        const holder = await db
          .selectFrom('employee_calls')
          .select('leg_uuid')
          .where('account_id', '=', c.accountId)
          .where('employee_id', '=', c.employeeId)
          .executeTakeFirst();
        if (holder || attempt > 0) return holder?.leg_uuid === c.legUuid;
      }
    },

    async release(legUuids) {
      if (!legUuids.length) return;
      await db.deleteFrom('employee_calls').where('leg_uuid', 'in', legUuids).execute();
    },

    async busyAmong(accountId, employeeIds) {
      if (!employeeIds.length) return [];
      const rows = await db
        .selectFrom('employee_calls')
        .select('employee_id')
        .where('account_id', '=', accountId)
        .where('employee_id', 'in', employeeIds)
        .execute();
      return rows.map((r) => Number(r.employee_id));
    },

    async nextTurn(accountId, groupId) {
      const row = await db
        .insertInto('ring_turns')
        .values({ account_id: accountId, group_id: groupId, turn: 1 })
        .onConflict((oc) =>
          oc
            .columns(['account_id', 'group_id'])
            .doUpdateSet((eb) => ({ turn: eb('ring_turns.turn', '+', 1) })),
        )
        .returning('turn')
        .executeTakeFirstOrThrow();
      return Number(row.turn) - 1;
    },

    async sweep(alive, before) {
      let q = db.deleteFrom('employee_calls').where('since', '<', before);
      if (alive.length) q = q.where('node_id', 'not in', alive);
      const r = await q.executeTakeFirst();
      return Number(r.numDeletedRows ?? 0);
    },
  };
}
