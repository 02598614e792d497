// Migration 0010 (history rows keyed by (uuid, kind)) keeps the rows an older Dzvin wrote: a
// database migrated up to 0009 gets calls of the old shape (company call U + employee leg L with
// parentUuid U), then the current Dzvin opens it and reads them as they were.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { FinishedCall } from '../src/domain/calls/call-model.ts';
import { createStore, openDatabase } from '../src/index.ts';
import type { OpenDatabase } from '../src/store/db.ts';
import { migrateUpTo } from '../src/store/migrations.ts';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason, type TestDatabase } from './support/dialects.ts';

const T = Date.UTC(2026, 10, 1, 12);

function record(o: Partial<FinishedCall> & Pick<FinishedCall, 'uuid' | 'kind' | 'accountId'>): FinishedCall {
  return {
    parentUuid: null,
    direction: 4,
    leg: { type: 1, id: 1, ext: '001', displayName: 'Олена' },
    leg2: null,
    otherLegNum: '+380501112233',
    otherLegName: '+380501112233',
    otherLegs: [],
    trunkNum: '+380442246595',
    trunkName: 'Головний',
    trunk: 'i=380442246595;',
    dialAt: T,
    bridgeAt: T + 3000,
    endAt: T + 33_000,
    billSecs: 30,
    duration: 33,
    disposition: 0,
    transferHistory: '001',
    recordingUuid: o.uuid,
    ...o,
  };
}

for (const dialect of DIALECTS) {
  describe(`history rows written before one uuid per call [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    let tdb: TestDatabase;
    let db: OpenDatabase;
    let accountId = 0;
    before(async () => {
      tdb = await createTestDatabaseUrl(dialect);
      // The schema as the previous release left it, with its rows.
      const old =
        dialect === 'sqlite'
          ? new Kysely<unknown>({
              dialect: new SqliteDialect({ database: new SQLite(tdb.url.replace(/^sqlite:/, '')) }),
            })
          : new Kysely<unknown>({
              dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: tdb.url }) }),
            });
      await migrateUpTo(old, dialect, '0009_delivery_attempts');
      await sql`insert into accounts (domain, name, api_key_hash, default_country, created_at)
        values ('old.localhost', 'old', 'h', 'UA', 1)`.execute(old);
      const id = (await sql<{ id: number | string }>`select id from accounts`.execute(old)).rows[0].id;
      accountId = Number(id);
      const cols =
        'uuid, account_id, kind, parent_uuid, direction, leg_type, leg_id, leg_ext, leg_display_name, other_leg_num, other_leg_name, other_legs_json, trunk_num, trunk_name, trunk, dial_at, bridge_at, end_at, bill_secs, duration, disposition, transfer_history, recording_uuid';
      for (const [uuid, kind, parent] of [
        ['old-company', 'company', null],
        ['old-leg', 'user', 'old-company'],
      ] as const)
        await sql`insert into calls (${sql.raw(cols)}) values (${uuid}, ${accountId}, ${kind}, ${parent}, 4, 1, 1, '001', 'Олена',
          '+380501112233', '+380501112233', '[{"id":null,"name":"Old","num":null,"url":null,"priority":1}]', '+380442246595', 'Головний', 'i=380442246595;',
          ${T}, ${T + 3000}, ${T + 33_000}, 30, 33, 0, '001', 'old-company')`.execute(old);
      await old.destroy();
      db = await openDatabase(tdb.url);
    });
    after(async () => {
      await db?.close();
      await tdb?.drop();
    });

    test('the old company call and its leg read as they were, in company.api and users.api', async () => {
      const store = createStore(db.db);
      const q = { from: T, to: T + 60_000, directions: [1, 2, 4] as (1 | 2 | 4)[], offset: 0, limit: 50 };
      const company = await store.calls.company(accountId, q);
      assert.deepEqual(
        company.map((c) => [c.uuid, c.kind, c.parentUuid]),
        [['old-company', 'company', null]],
      );
      const users = await store.calls.users(accountId, q);
      assert.deepEqual(
        users.map((c) => [c.uuid, c.kind, c.parentUuid]),
        [['old-leg', 'user', 'old-company']],
      );
      // Stored otherLegs keep their old nulls.
      assert.deepEqual(company[0].otherLegs, [{ id: null, name: 'Old', num: null, url: null, priority: 1 }]);
      const json = JSON.parse(await store.calls.companyRecords(accountId, q, 'http://old.localhost'));
      assert.equal(json[0].audioRecUrl, 'http://old.localhost/rest/public/calls/old-company/audio');
      assert.equal((await store.calls.byUuid('old-leg'))?.kind, 'user');
      // The history indexes survive SQLite's table rebuild (the pages' plans depend on them).
      const indexes =
        dialect === 'sqlite'
          ? await sql<{
              name: string;
            }>`select name from sqlite_master where type = 'index' and tbl_name = 'calls' and sql is not null order by name`.execute(
              db.db,
            )
          : await sql<{
              name: string;
            }>`select indexname as name from pg_indexes where tablename = 'calls' and indexname <> 'calls_pkey' order by indexname`.execute(
              db.db,
            );
      assert.deepEqual(
        indexes.rows.map((r) => r.name),
        ['calls_account_kind_end', 'calls_account_number_end', 'calls_account_users_end'],
      );
    });

    test('after the migration a direct call is two rows under one uuid; saving again updates each, never duplicates', async () => {
      const store = createStore(db.db);
      const company = record({ uuid: 'new-direct', kind: 'company', accountId });
      const user = record({ uuid: 'new-direct', kind: 'user', accountId, transferHistory: '001' });
      await store.calls.save(company);
      await store.calls.save(user);
      await store.calls.save({ ...company, billSecs: 31 });
      const q = { from: T, to: T + 60_000, directions: [1, 2, 4] as (1 | 2 | 4)[], offset: 0, limit: 50 };
      const listed = (await store.calls.company(accountId, q)).filter((c) => c.uuid === 'new-direct');
      assert.deepEqual(
        listed.map((c) => [c.kind, c.billSecs]),
        [['company', 31]],
      );
      assert.equal((await store.calls.users(accountId, q)).filter((c) => c.uuid === 'new-direct').length, 1);
      assert.equal((await store.calls.byUuid('new-direct'))?.kind, 'company', 'a recording finds the call');
    });
  });
}
