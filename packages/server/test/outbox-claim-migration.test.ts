// Migration 0022 (the claim's covering index) on a database the previous release left, with
// deliveries pending: it runs, claims find the same rows in the same order, and a process killed
// between its DROP INDEX and CREATE INDEX (SQLite runs DDL outside the migration's transaction)
// does not keep the next start from migrating. Real SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { createStore, openDatabase } from '../src/index.ts';
import { migrateUpTo } from '../src/store/migrations.ts';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason, type TestDatabase } from './support/dialects.ts';

const open = (dialect: string, url: string) =>
  dialect === 'sqlite'
    ? new Kysely<unknown>({
        dialect: new SqliteDialect({ database: new SQLite(url.replace(/^sqlite:/, '')) }),
      })
    : new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) }) });

for (const dialect of DIALECTS) {
  describe(`outbox rows pending across migration 0022 [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    let tdb: TestDatabase;
    before(async () => {
      tdb = await createTestDatabaseUrl(dialect);
      const old = open(dialect, tdb.url);
      await migrateUpTo(old, dialect, '0021_directory_account_indexes');
      await sql`insert into accounts (domain, name, api_key_hash, default_country, created_at)
        values ('old.localhost', 'old', 'h', 'UA', 1)`.execute(old);
      const account = Number((await sql<{ id: number }>`select id from accounts`.execute(old)).rows[0].id);
      await sql`insert into crm_connections (account_id, name, events_url, priority, enabled, created_at)
        values (${account}, 'crm', 'http://127.0.0.1:9/e', 0, 1, 1)`.execute(old);
      const conn = Number(
        (await sql<{ id: number }>`select id from crm_connections`.execute(old)).rows[0].id,
      );
      // Call a: its first event in flight (leased elsewhere), its second waiting behind it. Call b:
      // two events, neither leased. Call c: one event, its retry not due yet.
      const rows: [string, string, number | null, number][] = [
        ['a', 'call.dial', 10 ** 13, 0],
        ['b', 'call.dial', null, 0],
        ['a', 'call.hangup', null, 0],
        ['b', 'call.hangup', null, 0],
        ['c', 'call.dial', null, 10 ** 13],
      ];
      let n = 0;
      for (const [key, event, leaseUntil, next] of rows)
        await sql`insert into outbox (account_id, connection_id, kind, order_key, event, payload, webhook_id,
            status, attempts, created_at, retry_since, next_attempt_at, lease_until, lease_owner)
          values (${account}, ${conn}, 'event', ${key}, ${event}, '{}', ${`w${++n}`}, 'pending', 0, 1, 1,
            ${next}, ${leaseUntil}, ${leaseUntil === null ? null : 'other'})`.execute(old);
      await old.destroy();
    });
    after(async () => {
      await tdb?.drop();
    });

    test('it migrates; a claim takes the head rows due and free, oldest first, nothing behind a row in flight', async () => {
      const db = await openDatabase(tdb.url);
      try {
        const claimed = await createStore(db.db).outbox.claim({
          now: 1000,
          owner: 'me',
          leaseMs: 1000,
          limit: 10,
          excludeConnections: [],
        });
        assert.deepEqual(
          claimed.map((r) => `${r.orderKey} ${r.event}`),
          ['b call.dial'],
        );
      } finally {
        await db.close();
      }
    });

    test('a start killed between its DROP INDEX and CREATE INDEX: the next start migrates', async () => {
      // What such a kill leaves: the index gone, the migration not recorded.
      const old = open(dialect, tdb.url);
      await sql`drop index outbox_pending`.execute(old);
      await sql`delete from kysely_migration where name = '0022_outbox_claim_covering'`.execute(old);
      await old.destroy();
      const db = await openDatabase(tdb.url);
      try {
        const names =
          dialect === 'sqlite'
            ? (
                await sql<{ name: string }>`select name from sqlite_master where type = 'index'`.execute(
                  db.db,
                )
              ).rows
            : (await sql<{ name: string }>`select indexname as name from pg_indexes`.execute(db.db)).rows;
        assert.ok(
          names.some((r) => r.name === 'outbox_pending'),
          'the index is back',
        );
      } finally {
        await db.close();
      }
    });
  });
}
