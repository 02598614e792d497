import { type Kysely, PostgresAdapter, type Selectable, sql } from 'kysely';
import type {
  AttemptOutcome,
  DeliveryAttemptRecord,
  DeliveryKind,
  DeliveryRecord,
  DeliveryStatus,
  DeliveryTarget,
  NewDelivery,
  OutboxStore,
} from '../domain/ports.ts';
import type { Database, OutboxTable } from './schema.ts';

/** Outcomes per UPDATE … FROM VALUES statement (see `record`). */
const RECORD_CHUNK = 64;

/** The columns a new row sets, in the order of `insertValues`' tuples. */
const INSERT_COLUMNS = sql.raw(
  'account_id, connection_id, kind, order_key, event, payload, webhook_id, status, attempts, created_at, retry_since, next_attempt_at',
);
/** The VALUES tuples of new pending rows (`extra`: more values for columns after INSERT_COLUMNS). */
const insertValues = (rows: NewDelivery[], extra = sql``) =>
  sql.join(
    rows.map(
      (r) =>
        sql`(${r.accountId}, ${r.connectionId}, ${r.kind}, ${r.orderKey}, ${r.event}, ${r.payload}, ${r.webhookId}, 'pending', 0, ${r.createdAt}, ${r.createdAt}, ${r.createdAt}${extra})`,
    ),
  );

const toRecord = (r: Selectable<OutboxTable>): DeliveryRecord => ({
  id: Number(r.id),
  accountId: Number(r.account_id),
  connectionId: Number(r.connection_id),
  kind: r.kind as DeliveryKind,
  orderKey: r.order_key,
  event: r.event,
  payload: r.payload,
  webhookId: r.webhook_id,
  status: r.status as DeliveryStatus,
  attempts: Number(r.attempts),
  createdAt: Number(r.created_at),
  retrySince: Number(r.retry_since),
  nextAttemptAt: Number(r.next_attempt_at),
  leaseUntil: r.lease_until === null ? null : Number(r.lease_until),
  lastAttemptAt: r.last_attempt_at === null ? null : Number(r.last_attempt_at),
  lastStatus: r.last_status,
  lastError: r.last_error,
  lastLatencyMs: r.last_latency_ms,
  responseExcerpt: r.response_excerpt,
  deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
});

/**
 * The outbox on SQLite and PostgreSQL. Claiming is one `UPDATE … WHERE id IN (SELECT … LIMIT n)
 * RETURNING` (graphile-worker's getJobs is the model): on PostgreSQL the inner select locks
 * with `FOR UPDATE SKIP LOCKED` so concurrent claimers never take the same rows; on SQLite
 * the single writer makes the statement atomic. A row is claimable when it is pending, due,
 * not leased (or its lease expired: a crashed process's claims are taken over) and no older
 * row of the same (connection, order key) is still pending — in order per call (spec #18).
 */
export function createOutboxStore(db: Kysely<Database>): OutboxStore {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  async function get(accountId: number, id: number): Promise<DeliveryRecord | null> {
    const r = await db
      .selectFrom('outbox')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r ? toRecord(r) : null;
  }
  return {
    async insert(rows) {
      // Chunks keep every statement under SQLite's and PostgreSQL's bound-parameter limits. A raw
      // statement, not the query builder: it runs with every call event (its tree cost more to
      // build than SQLite takes to run it).
      for (let i = 0; i < rows.length; i += 500)
        await sql`insert into outbox (${INSERT_COLUMNS}) values ${insertValues(rows.slice(i, i + 500))}`.execute(
          db,
        );
    },

    async insertLeased(rows, { owner, leaseUntil }) {
      // As `insert`, with the lease of the process that writes them (dispatcher.ts `writeClaimed`):
      // that process sends them without claiming them first. RETURNING's order is not guaranteed
      // (either database): ids are matched by webhook id, unique per row.
      const ids = new Map<string, number>();
      for (let i = 0; i < rows.length; i += 500) {
        const values = insertValues(rows.slice(i, i + 500), sql`, ${leaseUntil}, ${owner}`);
        const { rows: out } = await sql<{ id: number | string; webhook_id: string }>`
          insert into outbox (${INSERT_COLUMNS}, lease_until, lease_owner) values ${values}
          returning id, webhook_id`.execute(db);
        for (const r of out) ids.set(r.webhook_id, Number(r.id));
      }
      return rows.map((r) => {
        const id = ids.get(r.webhookId);
        if (id === undefined) throw new Error(`outbox insert returned no id for ${r.webhookId}`);
        return id;
      });
    },

    async pendingOf(keys) {
      if (!keys.length) return [];
      // The partial index on pending rows (connection_id, order_key, id) answers it; pairs are
      // matched here (a handful of keys per call event write).
      const want = new Set(keys.map((k) => `${k.connectionId} ${k.orderKey}`));
      const connections = [...new Set(keys.map((k) => k.connectionId))];
      const orderKeys = [...new Set(keys.map((k) => k.orderKey))];
      const out: { id: number; connectionId: number; orderKey: string }[] = [];
      for (let i = 0; i < orderKeys.length; i += 500) {
        const { rows } = await sql<{
          id: number | string;
          connection_id: number | string;
          order_key: string;
        }>`
          select id, connection_id, order_key from outbox
          where status = 'pending' and connection_id in (${sql.join(connections)})
            and order_key in (${sql.join(orderKeys.slice(i, i + 500))})`.execute(db);
        for (const r of rows)
          if (want.has(`${Number(r.connection_id)} ${r.order_key}`))
            out.push({ id: Number(r.id), connectionId: Number(r.connection_id), orderKey: r.order_key });
      }
      return out.sort((a, b) => a.id - b.id);
    },

    // The LIMIT is written into the SQL: SQLite re-prepares a statement whose LIMIT is bound, at
    // each run. The partial index outbox_pending covers the scan (migration 0022).
    async claim({ now, owner, leaseMs, limit, excludeConnections }) {
      const exclude = excludeConnections.length
        ? sql`and o.connection_id not in (${sql.join(excludeConnections)})`
        : sql``;
      const lock = postgres ? sql`for update of o skip locked` : sql``;
      const candidates = sql`
        select o.id from outbox o
        where o.status = 'pending' and o.next_attempt_at <= ${now}
          and (o.lease_until is null or o.lease_until < ${now})
          ${exclude}
          and not exists (
            select 1 from outbox e
            where e.connection_id = o.connection_id and e.order_key = o.order_key
              and e.status = 'pending' and e.id < o.id
          )
        order by o.id
        limit ${sql.lit(Math.max(1, Math.floor(limit)))}
        ${lock}`;
      // PostgreSQL: the locked candidates in a CTE joined by primary key (an `id in (…)` let the
      // planner scan the whole table as it grew); SQLite's single writer needs no lock.
      const { rows } = postgres
        ? await sql<Selectable<OutboxTable>>`
            with j as (${candidates})
            update outbox set lease_until = ${now + leaseMs}, lease_owner = ${owner}
            from j where outbox.id = j.id
            returning outbox.*`.execute(db)
        : await sql<Selectable<OutboxTable>>`
            update outbox set lease_until = ${now + leaseMs}, lease_owner = ${owner}
            where id in (${candidates})
            returning *`.execute(db);
      // RETURNING order is not guaranteed on PostgreSQL.
      return rows.map(toRecord).sort((a, b) => a.id - b.id);
    },

    async release(ids, owner) {
      if (!ids.length) return;
      await db
        .updateTable('outbox')
        .set({ lease_until: null, lease_owner: null })
        .where('id', 'in', ids)
        .where('lease_owner', '=', owner)
        .execute();
    },

    async leasedTo(owner) {
      // No index on lease_owner: this runs only after a dispatcher's failure, never per claim.
      const rows = await db
        .selectFrom('outbox')
        .select('id')
        .where('lease_owner', '=', owner)
        .where('status', '=', 'pending')
        .execute();
      return rows.map((r) => r.id);
    },

    async record(outcomes) {
      if (!outcomes.length) return;
      // One statement per batch (UPDATE … FROM VALUES, SQLite ≥ 3.33 and PostgreSQL): a
      // statement per row would cost more than the deliveries. At most 64 rows a statement:
      // beyond ~100 VALUES rows SQLite's planner (no table statistics) scans the whole outbox
      // and probes the values instead of looking each id up, turning 1 ms into tens.
      const chunks: AttemptOutcome[][] = [];
      for (let i = 0; i < outcomes.length; i += RECORD_CHUNK)
        chunks.push(outcomes.slice(i, i + RECORD_CHUNK));
      // A delivery attempted again keeps its earlier attempt in the log: the row's last attempt
      // is copied out before the new outcome replaces it. Only retries, replays and outcomes
      // recorded past their lease (another process may have recorded one meanwhile) pay for it.
      const copies = chunks.map((c) => c.filter((o) => o.attempt > 1 || o.pastLease).map((o) => o.id));
      const write = async (q: Kysely<Database>) => {
        for (const [n, chunk] of chunks.entries()) {
          if (copies[n].length)
            await sql`
              insert into outbox_attempts (delivery_id, attempt, at, http_status, error, latency_ms, response_excerpt)
              select id, attempts, last_attempt_at, last_status, last_error, last_latency_ms, response_excerpt
              from outbox where id in (${sql.join(copies[n])}) and attempts > 0 and last_attempt_at is not null
              on conflict (delivery_id, attempt) do nothing`.execute(q);
          const values = chunk.map(
            (o) =>
              sql`(cast(${o.id} as bigint), cast(${o.status} as text), cast(${o.at} as bigint), cast(${o.httpStatus} as integer), cast(${o.error} as text), cast(${o.latencyMs === null ? null : Math.round(o.latencyMs)} as integer), cast(${o.excerpt} as text), cast(${o.nextAttemptAt} as bigint))`,
          );
          await sql`
              with v(id, status, at, http_status, error, latency, excerpt, next) as (values ${sql.join(values)})
              update outbox set status = v.status, attempts = outbox.attempts + 1, last_attempt_at = v.at,
                last_status = v.http_status, last_error = v.error, last_latency_ms = v.latency,
                response_excerpt = v.excerpt, next_attempt_at = v.next,
                delivered_at = case when v.status = 'delivered' then v.at else null end,
                lease_until = null, lease_owner = null
              from v
              where outbox.id = v.id`.execute(q);
        }
      };
      // More than one statement: all or nothing, so a batch retried after a failure (the
      // dispatcher does) neither counts nor logs an attempt twice. The usual batch is one
      // statement and needs no transaction.
      if (chunks.length === 1 && !copies[0].length) await write(db);
      else if (db.isTransaction) await write(db);
      else await db.transaction().execute(write);
    },

    async nextDue(now) {
      // Head-of-line rows only (as `claim`): a row waiting behind an older pending one of its
      // call is due when that one is done, not at its own next_attempt_at (long past: the wake-up
      // would be skipped as due already while the older one's retry is still ahead).
      const { rows } = await sql<{ due: number | string | null }>`
        select min(case when o.lease_until is not null and o.lease_until > ${now} then o.lease_until
          else o.next_attempt_at end) as due
        from outbox o
        where o.status = 'pending'
          and not exists (
            select 1 from outbox e
            where e.connection_id = o.connection_id and e.order_key = o.order_key
              and e.status = 'pending' and e.id < o.id
          )`.execute(db);
      const due = rows[0]?.due;
      return due === null || due === undefined ? null : Number(due);
    },

    async targets(ids) {
      if (!ids.length) return [];
      // Raw: once per claim (the query builder's tree cost more than the lookup).
      const { rows } = await sql<
        Pick<
          Selectable<Database['crm_connections']>,
          'id' | 'account_id' | 'events_url' | 'utm_url' | 'secret' | 'enabled'
        >
      >`select id, account_id, events_url, utm_url, secret, enabled from crm_connections
        where id in (${sql.join(ids)})`.execute(db);
      return rows.map(
        (r): DeliveryTarget => ({
          id: Number(r.id),
          accountId: Number(r.account_id),
          eventsUrl: r.events_url,
          utmUrl: r.utm_url,
          secret: r.secret,
          enabled: Boolean(r.enabled),
        }),
      );
    },

    async list(accountId, q) {
      let query = db
        .selectFrom('outbox')
        .selectAll()
        .where('account_id', '=', accountId)
        .where('connection_id', '=', q.connectionId);
      if (q.status) query = query.where('status', '=', q.status);
      if (q.beforeId !== undefined) query = query.where('id', '<', q.beforeId);
      const rows = await query.orderBy('id', 'desc').limit(q.limit).execute();
      return rows.map(toRecord);
    },

    get,

    async attempts(accountId, id) {
      const row = await get(accountId, id);
      if (!row) return null;
      const earlier = await db
        .selectFrom('outbox_attempts')
        .selectAll()
        .where('delivery_id', '=', id)
        .where('attempt', '<', row.attempts)
        .orderBy('attempt')
        .execute();
      const out: DeliveryAttemptRecord[] = earlier.map((a) => ({
        attempt: Number(a.attempt),
        at: Number(a.at),
        httpStatus: a.http_status,
        error: a.error,
        latencyMs: a.latency_ms,
        excerpt: a.response_excerpt,
      }));
      // The last attempt is the row's own.
      if (row.lastAttemptAt !== null)
        out.push({
          attempt: row.attempts,
          at: row.lastAttemptAt,
          httpStatus: row.lastStatus,
          error: row.lastError,
          latencyMs: row.lastLatencyMs,
          excerpt: row.responseExcerpt,
        });
      return out;
    },

    async replay(accountId, q, now) {
      let query = db
        .updateTable('outbox')
        .set({
          status: 'pending',
          next_attempt_at: now,
          retry_since: now,
          lease_until: null,
          lease_owner: null,
          delivered_at: null,
        })
        .where('account_id', '=', accountId);
      if (q.ids) query = query.where('id', 'in', q.ids.length ? q.ids : [-1]);
      if (q.connectionId !== undefined) query = query.where('connection_id', '=', q.connectionId);
      if (q.statuses) query = query.where('status', 'in', q.statuses);
      const r = await query.executeTakeFirst();
      return Number(r.numUpdatedRows);
    },

    async counts(accountId) {
      let query = db.selectFrom('outbox').select((eb) => ['status', eb.fn.countAll<number>().as('n')]);
      if (accountId !== null) query = query.where('account_id', '=', accountId);
      const rows = await query.groupBy('status').execute();
      const out: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0, dead: 0 };
      for (const r of rows) out[r.status as DeliveryStatus] = Number(r.n);
      return out;
    },
  };
}
