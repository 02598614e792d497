import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createTestDatabaseUrl, type Dialect, dialectSkipReason } from './dialects.ts';

const ALL: Dialect[] = ['sqlite', 'postgres'];

for (const dialect of ALL) {
  describe(`test databases on ${dialect}`, { skip: dialectSkipReason(dialect) }, () => {
    test('a new database accepts queries and is gone after drop', async () => {
      const db = await createTestDatabaseUrl(dialect);
      try {
        if (dialect === 'sqlite') {
          assert.match(db.url, /^sqlite:\//);
          const file = db.url.slice('sqlite:'.length);
          const conn = new Database(file);
          try {
            assert.deepEqual(conn.prepare('select 1 as one').get(), { one: 1 });
          } finally {
            conn.close();
          }
          assert.ok(fs.existsSync(file));
          await db.drop();
          assert.equal(fs.existsSync(file), false);
        } else {
          const name = new URL(db.url).pathname.slice(1);
          assert.match(name, /^dzvin_test_[0-9a-f]+$/);
          const client = new pg.Client({ connectionString: db.url });
          await client.connect();
          try {
            const r = await client.query('select 1 as one, current_database() as db');
            assert.deepEqual(r.rows, [{ one: 1, db: name }]);
          } finally {
            await client.end();
          }
          await db.drop();
          const admin = new pg.Client({ connectionString: process.env.DZVIN_TEST_PG_URL });
          await admin.connect();
          try {
            const gone = await admin.query('select 1 from pg_database where datname = $1', [name]);
            assert.equal(gone.rowCount, 0);
          } finally {
            await admin.end();
          }
        }
      } finally {
        await db.drop();
      }
    });

    test('two test databases are independent', async () => {
      const a = await createTestDatabaseUrl(dialect);
      const b = await createTestDatabaseUrl(dialect);
      try {
        assert.notEqual(a.url, b.url);
      } finally {
        await a.drop();
        await b.drop();
      }
    });
  });
}
