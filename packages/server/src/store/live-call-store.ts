import { type Kysely, sql } from 'kysely';
import type { FinishedCall } from '../domain/calls/call-model.ts';
import type { LiveCallRow, LiveCallStore } from '../domain/ports.ts';
import type { Database } from './schema.ts';

const key = (r: Pick<FinishedCall, 'uuid' | 'kind'>) => `${r.uuid} ${r.kind}`;
// Rows per statement: well under SQLite's 32,766 bound parameters (6 a row).
const CHUNK = 200;

/** The calls in progress (domain/ports.ts LiveCallStore) on SQLite and PostgreSQL. */
export function createLiveCallStore(db: Kysely<Database>): LiveCallStore {
  return {
    async put(rows) {
      for (let i = 0; i < rows.length; i += CHUNK) {
        // A raw statement, not the query builder: it runs with every event of every call, and
        // building the upsert's tree each time cost more than SQLite running it. Same SQL on
        // SQLite and PostgreSQL.
        const values = sql.join(
          rows
            .slice(i, i + CHUNK)
            .map(
              (r) =>
                sql`(${r.uuid}, ${r.accountId}, ${r.nodeId}, ${r.updatedAt}, ${r.version}, ${JSON.stringify(r.records)})`,
            ),
        );
        // Two writes of one call may commit out of order: the newer snapshot stays.
        await sql`insert into live_calls (uuid, account_id, node_id, updated_at, version, records_json)
          values ${values}
          on conflict (uuid) do update set node_id = excluded.node_id, updated_at = excluded.updated_at,
            version = excluded.version, records_json = excluded.records_json
          where live_calls.version < excluded.version`.execute(db);
      }
    },

    async remove(uuids) {
      // Raw, as `put`: once per call saved.
      for (let i = 0; i < uuids.length; i += CHUNK)
        await sql`delete from live_calls where uuid in (${sql.join(uuids.slice(i, i + CHUNK))})`.execute(db);
    },

    async touch(nodeId, at) {
      await db
        .insertInto('live_nodes')
        .values({ node_id: nodeId, seen_at: at })
        .onConflict((oc) => oc.column('node_id').doUpdateSet({ seen_at: at }))
        .execute();
    },

    async orphans(alive, before, limit) {
      // A process is as recent as its last touch or its newest row, whichever is later (a
      // process never touched — it died before its first touch — by its rows alone).
      const seen = sql<number>`case when n.seen_at > c.updated_at then n.seen_at else c.updated_at end`;
      let q = db
        .selectFrom('live_calls as c')
        .leftJoin('live_nodes as n', 'n.node_id', 'c.node_id')
        .select('c.uuid')
        .where(seen, '<', before);
      if (alive.length) q = q.where('c.node_id', 'not in', alive);
      const rows = await q.limit(limit).execute();
      return rows.map((r) => r.uuid);
    },

    async take(uuid) {
      // One statement: of two processes closing the same orphan, only one gets the row.
      const row = await db
        .deleteFrom('live_calls')
        .where('uuid', '=', uuid)
        .returningAll()
        .executeTakeFirst();
      if (!row) return null;
      const node = await db
        .selectFrom('live_nodes')
        .select('seen_at')
        .where('node_id', '=', row.node_id)
        .executeTakeFirst();
      const updatedAt = Number(row.updated_at);
      return {
        row: {
          uuid: row.uuid,
          accountId: Number(row.account_id),
          nodeId: row.node_id,
          updatedAt,
          version: Number(row.version),
          records: JSON.parse(row.records_json) as FinishedCall[],
        } satisfies LiveCallRow,
        seenAt: Math.max(updatedAt, node ? Number(node.seen_at) : 0),
      };
    },

    async saved(records) {
      const uuids = [...new Set(records.map((r) => r.uuid))];
      if (!uuids.length) return new Set();
      const rows = await db.selectFrom('calls').select(['uuid', 'kind']).where('uuid', 'in', uuids).execute();
      return new Set(rows.map((r) => key({ uuid: r.uuid, kind: r.kind as FinishedCall['kind'] })));
    },

    async prune(before) {
      const r = await db
        .deleteFrom('live_nodes')
        .where('seen_at', '<', before)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('live_calls')
                .select('uuid')
                .whereRef('live_calls.node_id', '=', 'live_nodes.node_id'),
            ),
          ),
        )
        .executeTakeFirst();
      return Number(r.numDeletedRows ?? 0);
    },
  };
}
