import type { OtherLeg } from '@dzvin/protocol';
import {
  CompiledQuery,
  type Kysely,
  PostgresAdapter,
  type RawBuilder,
  type Selectable,
  type SelectQueryBuilder,
  sql,
} from 'kysely';
import type {
  CallRecordKind,
  CallStore,
  Direction,
  FinishedCall,
  HistoryQuery,
  Party,
} from '../domain/calls/call-model.ts';
import type { DialectName } from './db.ts';
import type { CallsTable, Database } from './schema.ts';

type Row = Selectable<CallsTable>;

const party = (
  type: number | null,
  id: number | null,
  ext: string | null,
  displayName: string | null,
): Party | null =>
  type === null || id === null
    ? null
    : { type: type as Party['type'], id, ext, displayName: displayName ?? '' };

const toCall = (r: Row): FinishedCall => ({
  uuid: r.uuid,
  accountId: r.account_id,
  kind: r.kind as CallRecordKind,
  parentUuid: r.parent_uuid,
  direction: r.direction as Direction,
  leg: party(r.leg_type, r.leg_id, r.leg_ext, r.leg_display_name),
  leg2: party(r.leg2_type, r.leg2_id, r.leg2_ext, r.leg2_display_name),
  otherLegNum: r.other_leg_num,
  otherLegName: r.other_leg_name,
  otherLegs: JSON.parse(r.other_legs_json) as OtherLeg[],
  trunkNum: r.trunk_num,
  trunkName: r.trunk_name,
  trunk: r.trunk,
  dialAt: r.dial_at,
  bridgeAt: r.bridge_at,
  endAt: r.end_at,
  billSecs: r.bill_secs,
  duration: r.duration,
  disposition: r.disposition as FinishedCall['disposition'],
  transferHistory: r.transfer_history,
  recordingUuid: r.recording_uuid,
});

const toRow = (c: FinishedCall): Row => ({
  uuid: c.uuid,
  account_id: c.accountId,
  kind: c.kind,
  parent_uuid: c.parentUuid,
  direction: c.direction,
  leg_type: c.leg?.type ?? null,
  leg_id: c.leg?.id ?? null,
  leg_ext: c.leg?.ext ?? null,
  leg_display_name: c.leg?.displayName ?? null,
  leg2_type: c.leg2?.type ?? null,
  leg2_id: c.leg2?.id ?? null,
  leg2_ext: c.leg2?.ext ?? null,
  leg2_display_name: c.leg2?.displayName ?? null,
  other_leg_num: c.otherLegNum,
  other_leg_name: c.otherLegName,
  other_legs_json: JSON.stringify(c.otherLegs ?? []),
  trunk_num: c.trunkNum,
  trunk_name: c.trunkName,
  trunk: c.trunk,
  dial_at: c.dialAt,
  bridge_at: c.bridgeAt,
  end_at: c.endAt,
  bill_secs: c.billSecs,
  duration: c.duration,
  disposition: c.disposition,
  transfer_history: c.transferHistory,
  recording_uuid: c.recordingUuid,
});

const CALL_DIRECTIONS: Direction[] = [1, 2, 4];
const USER_DIRECTIONS: Direction[] = [1, 2, 4, 32, 64];
const covers = (selected: Direction[], all: Direction[]) => all.every((d) => selected.includes(d));

/**
 * Newest first; uuid breaks ties so offset paging neither repeats nor skips a record. (LIMIT and
 * OFFSET stay bound parameters here: the plan is the same either way for this scan, and one SQL
 * text per query shape keeps the prepared statement reused across offsets.)
 */
function page<O>(q: SelectQueryBuilder<Database, 'calls', O>, h: Pick<HistoryQuery, 'offset' | 'limit'>) {
  return q.orderBy('calls.end_at', 'desc').orderBy('calls.uuid', 'desc').limit(h.limit).offset(h.offset);
}

/**
 * One history record (`toHistoryRecord` in the domain is the definition; a store test checks
 * the two agree on both databases) as JSON text built by the database itself. A page is then 50
 * strings instead of 50 objects of 27 columns turned into records and serialized again: on
 * SQLite, making the row objects was most of a page's cost (≈0.8 of 1.1 ms at 1M calls).
 * Recording uuids are ours (hex and dashes), so the URL needs no escaping.
 */
function recordJson(dialect: DialectName, baseUrl: string): RawBuilder<string> {
  const obj = dialect === 'postgres' ? sql.raw('json_build_object') : sql.raw('json_object');
  const leg = (p: 'leg' | 'leg2') => {
    const [type, id, ext, name] = ['type', 'id', 'ext', 'display_name'].map((c) =>
      sql.ref(`calls.${p}_${c}`),
    );
    const inner = sql`case when ${type} is null or ${id} is null then null else ${obj}('id', ${id}, 'type', ${type}, 'displayName', coalesce(${name}, ''), 'ext', ${ext}) end`;
    // SQLite keeps an object built by json_object as JSON only when it comes straight from a
    // JSON function; json() restores that after the CASE.
    return dialect === 'postgres' ? inner : sql`json(${inner})`;
  };
  const base = dialect === 'postgres' ? sql`cast(${baseUrl} as text)` : sql`${baseUrl}`;
  // PostgreSQL's driver would parse a json value back into objects: ask for the text.
  const cast = dialect === 'postgres' ? sql.raw('::text') : sql.raw('');
  return sql<string>`${obj}(
    'parentUuid', calls.parent_uuid, 'uuid', calls.uuid, 'endAt', calls.end_at,
    'lgDirection', calls.direction, 'otherLegNum', calls.other_leg_num,
    'otherLegName', coalesce(calls.other_leg_name, calls.other_leg_num),
    'leg', ${leg('leg')}, 'leg2', ${leg('leg2')},
    'billSecs', calls.bill_secs, 'duration', calls.duration, 'disposition', calls.disposition,
    'transferHistory', calls.transfer_history,
    'audioRecUrl', case when calls.recording_uuid is null then null
      else ${base} || '/rest/public/calls/' || calls.recording_uuid || '/audio' end,
    'trunk', calls.trunk)${cast}`;
}

/** The compiled upsert of `save`, per dialect (the same text for every call). */
const saveSql = new Map<DialectName, string>();

function saveQuery(db: Kysely<Database>, row: Row, accountId: number) {
  const updatable = (Object.keys(row) as Array<keyof Row>).filter(
    (k) => k !== 'uuid' && k !== 'kind' && k !== 'account_id',
  );
  return db
    .insertInto('calls')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['uuid', 'kind'])
        .doUpdateSet((eb) => Object.fromEntries(updatable.map((k) => [k, eb.ref(`excluded.${k}`)])))
        .where('calls.account_id', '=', accountId),
    );
}

/**
 * Finished calls for history. Every list is one range scan of an index in page order
 * (migration 0002): company and missed on (account, kind, end_at, uuid), users on the partial
 * (account, end_at, uuid) index of non-company rows, the missed.api call-back check on
 * (account, other_leg_num, end_at).
 */
export function createCallStore(db: Kysely<Database>): CallStore {
  const dialect: DialectName = db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
  const inPeriod = (accountId: number, q: Pick<HistoryQuery, 'from' | 'to'>) =>
    db
      .selectFrom('calls')
      .where('calls.account_id', '=', accountId)
      .where('calls.end_at', '>=', q.from)
      .where('calls.end_at', '<=', q.to);
  type Filtered = ReturnType<typeof inPeriod>;

  const company = (accountId: number, q: HistoryQuery): Filtered | null => {
    if (q.limit <= 0 || q.directions.length === 0) return null;
    const query = inPeriod(accountId, q).where('calls.kind', '=', 'company');
    return covers(q.directions, CALL_DIRECTIONS) ? query : query.where('calls.direction', 'in', q.directions);
  };

  const users = (accountId: number, q: HistoryQuery): Filtered | null => {
    if (q.limit <= 0 || q.directions.length === 0) return null;
    const kinds = [
      ...(q.directions.some((d) => d <= 4) ? ['user'] : []),
      ...(q.directions.includes(32) ? ['pause'] : []),
      ...(q.directions.includes(64) ? ['unpause'] : []),
    ];
    // One kind: the (account, kind, end_at) index; several: the partial index, whose
    // predicate must appear literally (not as a bound parameter) for SQLite to pick it.
    let query =
      kinds.length === 1
        ? inPeriod(accountId, q).where('calls.kind', '=', kinds[0])
        : inPeriod(accountId, q).where(sql<boolean>`calls.kind <> 'company'`);
    const e = q.employeeId;
    if (e !== undefined)
      query = query.where((eb) =>
        eb.or([
          eb.and([eb('calls.leg_type', '=', 1), eb('calls.leg_id', '=', e)]),
          eb.and([eb('calls.leg2_type', '=', 1), eb('calls.leg2_id', '=', e)]),
        ]),
      );
    return covers(q.directions, USER_DIRECTIONS) ? query : query.where('calls.direction', 'in', q.directions);
  };

  const missed = (accountId: number, q: Omit<HistoryQuery, 'directions'>): Filtered | null => {
    if (q.limit <= 0) return null;
    // spec #13: incoming, nobody answered, and no answered call with that number (incoming or
    // outgoing) ended after it — at any time, also after the period asked for.
    return inPeriod(accountId, q)
      .where('calls.kind', '=', 'company')
      .where('calls.direction', '=', 4)
      .where('calls.disposition', '<>', 0)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('calls as later')
              .select(sql.lit(1).as('one'))
              .where('later.account_id', '=', accountId)
              .whereRef('later.other_leg_num', '=', 'calls.other_leg_num')
              .whereRef('later.end_at', '>', 'calls.end_at')
              .where('later.kind', '=', 'company')
              .where('later.disposition', '=', 0)
              .where('later.direction', 'in', [2, 4]),
          ),
        ),
      );
  };

  const calls = async (query: Filtered | null, q: Pick<HistoryQuery, 'offset' | 'limit'>) =>
    query ? (await page(query.selectAll('calls'), q).execute()).map(toCall) : [];

  const records = async (
    query: Filtered | null,
    q: Pick<HistoryQuery, 'offset' | 'limit'>,
    baseUrl: string,
  ) => {
    if (!query) return '[]';
    const rows = await page(query.select(recordJson(dialect, baseUrl).as('record')), q).execute();
    return `[${rows.map((r) => r.record).join(',')}]`;
  };

  return {
    async save(call) {
      // Saving the same (uuid, kind) again updates it (the engine may re-save a call, e.g. once its
      // recording is final) and never duplicates it; a uuid of another account is left alone.
      // The statement is the same for every call: built by Kysely once per dialect, then run
      // with new parameters (building it cost more than running it at 50 calls/s).
      const row = toRow(call);
      const params = [...Object.values(row), call.accountId];
      let text = saveSql.get(dialect);
      if (text === undefined) {
        const built = saveQuery(db, row, call.accountId).compile();
        if (built.parameters.length !== params.length || built.parameters.some((p, i) => p !== params[i]))
          throw new Error('calls.save: the statement does not take its parameters in row order');
        text = built.sql;
        saveSql.set(dialect, text);
      }
      await db.executeQuery(CompiledQuery.raw(text, params));
    },

    company: (accountId, q) => calls(company(accountId, q), q),
    users: (accountId, q) => calls(users(accountId, q), q),
    missed: (accountId, q) => calls(missed(accountId, q), q),
    companyRecords: (accountId, q, baseUrl) => records(company(accountId, q), q, baseUrl),
    usersRecords: (accountId, q, baseUrl) => records(users(accountId, q), q, baseUrl),
    missedRecords: (accountId, q, baseUrl) => records(missed(accountId, q), q, baseUrl),

    async byUuid(uuid) {
      // A direct call has two rows under its uuid (company and user, migration 0010): the company one.
      const r = await db
        .selectFrom('calls')
        .selectAll()
        .where('uuid', '=', uuid)
        .orderBy(sql`case when kind = 'company' then 0 else 1 end`)
        .limit(1)
        .executeTakeFirst();
      return r ? toCall(r) : null;
    },
  };
}
