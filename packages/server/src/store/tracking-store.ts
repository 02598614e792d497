import { type Kysely, PostgresAdapter, type Selectable, sql } from 'kysely';
import type {
  CompletedTrackedCall,
  TrackingKind,
  TrackingNumber,
  TrackingSession,
  TrackingStore,
} from '../domain/tracking.ts';
import type { Database, TrackingNumbersTable, TrackingSessionsTable } from './schema.ts';

const n = (v: number | string | null): number | null => (v === null ? null : Number(v));

/**
 * `limit 1` written into the SQL, not bound: SQLite (3.53 here) re-prepares a statement whose
 * LIMIT is a bound parameter on every run (the planner takes its value as a constant, and
 * better-sqlite3 binds anew each time): 8–9 µs more per lookup alone, ~100 µs inside bench:sip's
 * calls, for the session lookup every incoming call on a trunk makes.
 */
const ONE = sql.lit(1);

const toNumber = (r: Selectable<TrackingNumbersTable>): TrackingNumber => ({
  id: Number(r.id),
  number: r.number,
  reservedUntil: n(r.reserved_until),
  lastGivenAt: n(r.last_given_at),
  createdAt: Number(r.created_at),
});

const toSession = (r: Selectable<TrackingSessionsTable>): TrackingSession => ({
  id: Number(r.id),
  accountId: Number(r.account_id),
  kind: r.kind as TrackingKind,
  number: r.number,
  utmSource: r.utm_source,
  utmMedium: r.utm_medium,
  utmCampaign: r.utm_campaign,
  utmContent: r.utm_content,
  utmTerm: r.utm_term,
  googleClientId: r.google_client_id,
  clientIp: r.client_ip,
  referrer: r.referrer,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
});

/**
 * Call tracking on SQLite and PostgreSQL. Reserving a number is one `UPDATE … WHERE id =
 * (SELECT … LIMIT 1) AND <still free> RETURNING`: PostgreSQL re-checks the outer condition on the
 * row it updates (and the inner select skips rows another reservation holds), SQLite's single
 * writer makes it atomic, so two sessions never get one number.
 */
export function createTrackingStore(db: Kysely<Database>): TrackingStore {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  return {
    numbers: {
      async list(accountId) {
        const rows = await db
          .selectFrom('tracking_numbers')
          .selectAll()
          .where('account_id', '=', accountId)
          .orderBy('id')
          .execute();
        return rows.map(toNumber);
      },
      async add(accountId, number, now) {
        const row = await db
          .insertInto('tracking_numbers')
          .values({ account_id: accountId, number, created_at: now })
          .onConflict((oc) => oc.columns(['account_id', 'number']).doNothing())
          .returningAll()
          .executeTakeFirst();
        return row ? toNumber(row) : null;
      },
      async remove(accountId, id) {
        const r = await db
          .deleteFrom('tracking_numbers')
          .where('account_id', '=', accountId)
          .where('id', '=', id)
          .executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      },
    },

    async reserve(accountId, now, until) {
      const lock = postgres ? sql`for update skip locked` : sql``;
      const { rows } = await sql<Selectable<TrackingNumbersTable>>`
        update tracking_numbers set reserved_until = ${until}, last_given_at = ${now}
        where id = (
          select id from tracking_numbers
          where account_id = ${accountId} and (reserved_until is null or reserved_until <= ${now})
          order by coalesce(last_given_at, -1), id
          limit 1
          ${lock}
        ) and (reserved_until is null or reserved_until <= ${now})
        returning *`.execute(db);
      return rows[0] ? toNumber(rows[0]) : null;
    },

    async createSession(s) {
      const row = await db
        .insertInto('tracking_sessions')
        .values({
          account_id: s.accountId,
          kind: s.kind,
          number: s.number,
          utm_source: s.utmSource,
          utm_medium: s.utmMedium,
          utm_campaign: s.utmCampaign,
          utm_content: s.utmContent,
          utm_term: s.utmTerm,
          google_client_id: s.googleClientId,
          client_ip: s.clientIp,
          referrer: s.referrer,
          created_at: s.createdAt,
          expires_at: s.expiresAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toSession(row);
    },

    async sessionAt(accountId, number, at) {
      const row = await db
        .selectFrom('tracking_sessions')
        .selectAll()
        .where('account_id', '=', accountId)
        .where('number', '=', number)
        .where('kind', '=', 'calltracker')
        .where('created_at', '<=', at)
        .where('expires_at', '>', at)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(ONE)
        .executeTakeFirst();
      return row ? toSession(row) : null;
    },

    async calledBefore(accountId, number, before) {
      // calls_account_other_end: (account_id, other_leg_num, end_at) — an index probe.
      const row = await db
        .selectFrom('calls')
        .select('uuid')
        .where('account_id', '=', accountId)
        .where('other_leg_num', '=', number)
        .where('kind', '=', 'company')
        .where('dial_at', '<', before)
        .limit(ONE)
        .executeTakeFirst();
      return row !== undefined;
    },

    async addCall(r) {
      await db
        .insertInto('tracked_calls')
        .values({
          account_id: r.accountId,
          call_uuid: r.callUuid,
          session_id: r.sessionId,
          label: r.label,
          utm_source: r.utmSource,
          utm_medium: r.utmMedium,
          utm_campaign: r.utmCampaign,
          utm_content: r.utmContent,
          utm_term: r.utmTerm,
          google_client_id: r.googleClientId,
          client_ip: r.clientIp,
          referrer: r.referrer,
          created_at: r.createdAt,
        })
        .onConflict((oc) => oc.column('call_uuid').doNothing())
        .execute();
    },

    async unbatched(limit) {
      let q = db
        .selectFrom('tracked_calls as t')
        .innerJoin('calls as c', (j) => j.onRef('c.uuid', '=', 't.call_uuid').on('c.kind', '=', 'company'))
        .select([
          't.id',
          't.account_id',
          't.call_uuid',
          't.label',
          't.utm_source',
          't.utm_medium',
          't.utm_campaign',
          't.utm_content',
          't.utm_term',
          't.google_client_id',
          't.client_ip',
          't.referrer',
          'c.other_leg_num',
          'c.trunk_num',
          'c.dial_at',
          'c.end_at',
        ])
        .where('t.batched_at', 'is', null)
        .orderBy('t.id')
        .limit(limit);
      if (postgres) q = q.forUpdate('t').skipLocked();
      const rows = await q.execute();
      return rows.map(
        (r): CompletedTrackedCall => ({
          id: Number(r.id),
          accountId: Number(r.account_id),
          callUuid: r.call_uuid,
          label: r.label,
          utmSource: r.utm_source,
          utmMedium: r.utm_medium,
          utmCampaign: r.utm_campaign,
          utmContent: r.utm_content,
          utmTerm: r.utm_term,
          googleClientId: r.google_client_id,
          clientIp: r.client_ip,
          referrer: r.referrer,
          otherLegNum: r.other_leg_num,
          trunkNum: r.trunk_num,
          dialAt: Number(r.dial_at),
          endAt: Number(r.end_at),
        }),
      );
    },

    async markBatched(ids, at) {
      for (let i = 0; i < ids.length; i += 500)
        await db
          .updateTable('tracked_calls')
          .set({ batched_at: at })
          .where('id', 'in', ids.slice(i, i + 500))
          .execute();
    },
  };
}
