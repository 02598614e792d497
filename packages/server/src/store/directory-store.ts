import type { Employee, Ivr, RingGroup, SipCarrier, Trunk } from '@dzvin/protocol';
import { type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import type {
  CrmConnectionRecord,
  CrmConnectionRow,
  DirectoryStore,
  EmployeeRow,
  EntityStore,
  IvrRow,
  RingGroupRow,
  TrunkRow,
} from '../domain/ports.ts';
import type { Database, TrunksTable } from './schema.ts';

type DirTable = 'employees' | 'ring_groups' | 'ivr_scenarios' | 'trunks' | 'crm_connections';

/**
 * One generic account-scoped CRUD over a directory table: every query filters by account_id,
 * so an id of another account is simply "not found".
 */
function entityStore<T extends DirTable, E, Row>(
  db: Kysely<Database>,
  table: T,
  toEntity: (r: Selectable<Database[T]>) => E,
  toColumns: (row: Row) => Omit<Insertable<Database[T]>, 'id' | 'account_id' | 'created_at'>,
  hasCreatedAt: boolean,
): EntityStore<E, Row> {
  // Kysely cannot type a table chosen by a generic parameter; the mappers above are typed instead.
  // biome-ignore lint/suspicious/noExplicitAny: see above
  const k = db as unknown as Kysely<any>;
  // biome-ignore lint/suspicious/noExplicitAny: see above
  const name = table as any;
  // biome-ignore lint/suspicious/noExplicitAny: see above
  const entity = (r: any) => toEntity(r as Selectable<Database[T]>);
  return {
    async list(accountId) {
      // Raw: the CRM connections are listed with every call event (the query builder's tree
      // cost more than the lookup).
      const { rows } =
        await sql`select * from ${sql.table(table)} where account_id = ${accountId} order by id`.execute(db);
      return rows.map(entity);
    },
    async get(accountId, id) {
      const r = await k
        .selectFrom(name)
        .selectAll()
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      return r ? entity(r) : null;
    },
    async byIds(accountId, ids) {
      if (!ids.length) return [];
      const rows = await k
        .selectFrom(name)
        .selectAll()
        .where('account_id', '=', accountId)
        .where('id', 'in', ids)
        .execute();
      const found = new Map(rows.map((r) => [r.id as number, entity(r)]));
      return ids.flatMap((id) => (found.has(id) ? [found.get(id) as E] : []));
    },
    async create(accountId, row, now) {
      const values = {
        ...toColumns(row),
        account_id: accountId,
        ...(hasCreatedAt ? { created_at: now } : {}),
      };
      const r = await k.insertInto(name).values(values).returningAll().executeTakeFirstOrThrow();
      return entity(r);
    },
    async update(accountId, id, row) {
      const r = await k
        .updateTable(name)
        .set(toColumns(row) as Record<string, unknown>)
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return r ? entity(r) : null;
    },
    async delete(accountId, id) {
      const r = await k
        .deleteFrom(name)
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
  };
}

const parse = <T>(json: string | null): T | null => (json === null ? null : (JSON.parse(json) as T));

export function createDirectoryStore(db: Kysely<Database>): DirectoryStore {
  const toEmployee = (r: Selectable<Database['employees']>): Employee => ({
    id: r.id,
    displayName: r.display_name,
    ext: r.ext,
    email: r.email,
    monitored: r.monitored === 1,
    presence: r.presence === 'online' ? 'online' : 'offline',
    paused: r.paused === 1,
    createdAt: r.created_at,
    // Selected by the employee queries below; a row just inserted has no credential yet.
    hasSipPassword: Number((r as { has_sip?: unknown }).has_sip ?? 0) > 0,
  });
  const employees = entityStore<'employees', Employee, EmployeeRow>(
    db,
    'employees',
    toEmployee,
    (e) => ({
      display_name: e.displayName,
      ext: e.ext,
      email: e.email,
      monitored: e.monitored ? 1 : 0,
      presence: e.presence,
      paused: e.paused ? 1 : 0,
    }),
    true,
  );
  const toGroup = (r: Selectable<Database['ring_groups']>): RingGroup => ({
    id: r.id,
    name: r.name,
    ext: r.ext,
    strategy: r.strategy as RingGroup['strategy'],
    ringTimeoutSec: r.ring_timeout_sec,
    members: parse<number[]>(r.members_json) ?? [],
  });
  const groups = entityStore<'ring_groups', RingGroup, RingGroupRow>(
    db,
    'ring_groups',
    toGroup,
    (g) => ({
      name: g.name,
      ext: g.ext,
      strategy: g.strategy,
      ring_timeout_sec: g.ringTimeoutSec,
      members_json: JSON.stringify(g.members),
    }),
    false,
  );
  const ivr = entityStore<'ivr_scenarios', Ivr, IvrRow>(
    db,
    'ivr_scenarios',
    (r) => ({
      id: r.id,
      name: r.name,
      greeting: r.greeting,
      timeoutSec: r.timeout_sec,
      options: parse<Ivr['options']>(r.options_json) ?? [],
      defaultTarget: parse<Ivr['defaultTarget']>(r.default_target_json),
    }),
    (i) => ({
      name: i.name,
      greeting: i.greeting,
      timeout_sec: i.timeoutSec,
      options_json: JSON.stringify(i.options),
      default_target_json: i.defaultTarget ? JSON.stringify(i.defaultTarget) : null,
    }),
    false,
  );
  /** A carrier as stored: everything but `hasPassword`, which the secret column tells. */
  const carrierJson = ({ hasPassword: _h, ...c }: SipCarrier) => c;
  const toTrunk = (r: Selectable<TrunksTable>): Trunk => ({
    id: r.id,
    number: r.number,
    name: r.name,
    destination: parse<Trunk['destination']>(r.destination_json),
    isDefault: r.is_default === 1,
    sipPeers: parse<string[]>(r.sip_peers_json) ?? [],
    sipDidFrom: r.sip_did_from === 'request-uri' || r.sip_did_from === 'to' ? r.sip_did_from : 'either',
    sipCarrier: r.sip_carrier_json
      ? {
          ...parse<Omit<SipCarrier, 'hasPassword'>>(r.sip_carrier_json)!,
          hasPassword: r.sip_carrier_secret !== null,
        }
      : null,
  });
  const trunks = entityStore<'trunks', Trunk, TrunkRow>(
    db,
    'trunks',
    toTrunk,
    (t) => ({
      number: t.number,
      name: t.name,
      destination_json: t.destination ? JSON.stringify(t.destination) : null,
      is_default: t.isDefault ? 1 : 0,
      sip_peers_json: t.sipPeers.length ? JSON.stringify(t.sipPeers) : null,
      sip_did_from: t.sipDidFrom === 'either' ? null : t.sipDidFrom,
      sip_carrier_json: t.sipCarrier ? JSON.stringify(carrierJson(t.sipCarrier)) : null,
    }),
    false,
  );
  const crm = entityStore<'crm_connections', CrmConnectionRecord, CrmConnectionRow>(
    db,
    'crm_connections',
    (r) => ({
      id: r.id,
      name: r.name,
      callSettingsUrl: r.call_settings_url,
      eventsUrl: r.events_url,
      utmUrl: r.utm_url,
      priority: r.priority,
      hasSecret: r.secret !== null,
      secret: r.secret,
      enabled: r.enabled === 1,
    }),
    (c) => ({
      name: c.name,
      call_settings_url: c.callSettingsUrl,
      events_url: c.eventsUrl,
      utm_url: c.utmUrl,
      priority: c.priority,
      secret: c.secret,
      enabled: c.enabled ? 1 : 0,
    }),
    true,
  );
  // The employee as the API shows it also says whether a SIP password is set (its own table).
  const employeeRows = (accountId: number) =>
    db
      .selectFrom('employees')
      .selectAll('employees')
      .select((eb) =>
        eb
          .exists(
            eb
              .selectFrom('sip_credentials')
              .select('sip_credentials.employee_id')
              .whereRef('sip_credentials.employee_id', '=', 'employees.id')
              .whereRef('sip_credentials.account_id', '=', 'employees.account_id'),
          )
          .as('has_sip'),
      )
      .where('employees.account_id', '=', accountId);
  const getEmployee = async (accountId: number, id: number): Promise<Employee | null> => {
    const r = await employeeRows(accountId).where('employees.id', '=', id).executeTakeFirst();
    return r ? toEmployee(r) : null;
  };
  return {
    employees: {
      ...employees,
      async list(accountId) {
        return (await employeeRows(accountId).orderBy('employees.id').execute()).map(toEmployee);
      },
      get: getEmployee,
      async byIds(accountId, ids) {
        if (!ids.length) return [];
        const rows = await employeeRows(accountId).where('employees.id', 'in', ids).execute();
        const found = new Map(rows.map((r) => [r.id, toEmployee(r)]));
        return ids.flatMap((id) => found.get(id) ?? []);
      },
      async update(accountId, id, row) {
        // The generic update answers the row it wrote, without the credential flag: read it back.
        return (await employees.update(accountId, id, row)) ? getEmployee(accountId, id) : null;
      },
      async byExt(accountId, ext) {
        const r = await db
          .selectFrom('employees')
          .select('id')
          .where('account_id', '=', accountId)
          .where('ext', '=', ext)
          .executeTakeFirst();
        return r ? getEmployee(accountId, r.id) : null;
      },
    },
    groups: {
      ...groups,
      async byExt(accountId, ext) {
        const r = await db
          .selectFrom('ring_groups')
          .selectAll()
          .where('account_id', '=', accountId)
          .where('ext', '=', ext)
          .executeTakeFirst();
        return r ? toGroup(r) : null;
      },
    },
    ivr,
    trunks: {
      ...trunks,
      async clearDefault(accountId, exceptId) {
        await db
          .updateTable('trunks')
          .set({ is_default: 0 })
          .where('account_id', '=', accountId)
          .where('id', '!=', exceptId)
          .execute();
      },
      async carrierSecret(accountId, id) {
        const r = await db
          .selectFrom('trunks')
          .select('sip_carrier_secret')
          .where('account_id', '=', accountId)
          .where('id', '=', id)
          .executeTakeFirst();
        return r?.sip_carrier_secret ?? null;
      },
      async setCarrierSecret(accountId, id, secret) {
        await db
          .updateTable('trunks')
          .set({ sip_carrier_secret: secret })
          .where('account_id', '=', accountId)
          .where('id', '=', id)
          .execute();
      },
      async withCarrier() {
        const rows = await db
          .selectFrom('trunks')
          .selectAll()
          .where('sip_carrier_json', 'is not', null)
          .execute();
        return rows.map((r) => ({ accountId: r.account_id, trunk: toTrunk(r) }));
      },
      async byNumber(number) {
        // Raw: twice per call coming in on a trunk.
        const { rows } = await sql<
          Selectable<Database['trunks']>
        >`select * from trunks where number = ${number}`.execute(db);
        return rows.map((r) => ({ accountId: r.account_id, trunk: toTrunk(r) }));
      },
    },
    crm,
  };
}
