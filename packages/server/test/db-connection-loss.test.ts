// A PostgreSQL connection the server terminates while Dzvin holds it (a transaction between two
// statements — what `pg_ctl stop -m fast` or a restart does to every backend) fails that
// transaction only: the process stays up and the pool serves the next query on a new connection.
// (Found by the fault part of `npm run proof`: every Dzvin process died of an unhandled 'error'
// event on a checked-out pg Client when PostgreSQL stopped.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { type OpenDatabase, openDatabase } from '../src/store/db.ts';
import { createTestDatabaseUrl, dialectSkipReason, type TestDatabase } from './support/dialects.ts';

describe('PostgreSQL connection loss [postgres]', { skip: dialectSkipReason('postgres') }, () => {
  let database: TestDatabase;
  let open: OpenDatabase;
  const idleErrors: Error[] = [];

  before(async () => {
    database = await createTestDatabaseUrl('postgres');
    open = await openDatabase(database.url, { poolSize: 2, onIdleError: (err) => idleErrors.push(err) });
  });
  after(async () => {
    await open?.close();
    await database?.drop();
  });

  test('a backend terminated inside a transaction fails that transaction, not the process; the next query works', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const tx = open.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        // Terminated from another connection while this one is checked out and between statements.
        const admin = new pg.Client({ connectionString: database.url });
        await admin.connect();
        await admin.query('select pg_terminate_backend($1)', [rows[0].pid]);
        await admin.end();
        await new Promise((r) => setTimeout(r, 300));
        await sql`select 1`.execute(trx);
      });
      await assert.rejects(tx);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(uncaught, []);
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(open.db);
      assert.equal(rows[0].one, 1);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
