import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { type CompiledQuery, Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Store } from '../src/domain/ports.ts';
import { createStore, openDatabase } from '../src/index.ts';
import type { OpenDatabase } from '../src/store/db.ts';
import type { Database } from '../src/store/schema.ts';
import { bareContact } from './support/contacts.ts';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason, type TestDatabase } from './support/dialects.ts';

const contact = bareContact;

for (const dialect of DIALECTS) {
  describe(`store [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let tdb: TestDatabase;
    let db: OpenDatabase;
    let store: Store;
    let accountId: number;
    before(async () => {
      tdb = await createTestDatabaseUrl(dialect);
      db = await openDatabase(tdb.url);
      store = createStore(db.db);
      accountId = (
        await store.accounts.create({
          domain: 's.localhost',
          name: 's',
          apiKeyHash: 'h',
          defaultCountry: 'UA',
          apiUserId: null,
          createdAt: 1,
        })
      ).id;
    });
    after(async () => {
      await db.close();
      await tdb.drop();
    });

    test("a trunk's carrier registration row: replaced by an upsert, removed only by its node when one is named, gone with its trunk; one for a trunk deleted meanwhile is not written", async () => {
      const trunk = await store.directory.trunks.create(
        accountId,
        {
          number: '+380441230001',
          name: 'r',
          destination: null,
          isDefault: false,
          sipPeers: [],
          sipDidFrom: 'either',
          sipCarrier: null,
        },
        1,
      );
      const row = {
        trunkId: trunk.id,
        accountId,
        nodeId: 'node-a',
        configKey: 'k1',
        state: 'pending' as const,
        expiresAt: null,
        lastStatus: null,
        lastError: null,
        lastAttemptAt: 1_764_190_000_000,
        nextAttemptAt: null,
        failures: 0,
        updatedAt: 1_764_190_000_000,
      };
      await store.carrierRegistrations.put(row);
      const registered = {
        ...row,
        state: 'registered' as const,
        expiresAt: 1_764_190_600_000,
        lastStatus: 200,
      };
      await store.carrierRegistrations.put(registered);
      assert.deepEqual(
        await store.carrierRegistrations.forAccount(accountId),
        [registered],
        'numbers come back as numbers',
      );
      await store.carrierRegistrations.remove(trunk.id, 'node-b');
      assert.equal(
        (await store.carrierRegistrations.forAccount(accountId)).length,
        1,
        'another node removes nothing',
      );
      await store.directory.trunks.delete(accountId, trunk.id);
      assert.deepEqual(await store.carrierRegistrations.forAccount(accountId), [], 'gone with the trunk');
      await store.carrierRegistrations.put(row);
      assert.deepEqual(
        await store.carrierRegistrations.forAccount(accountId),
        [],
        'a deleted trunk gets no row',
      );
    });

    test('migrating an up-to-date database again is a no-op', async () => {
      const again = await openDatabase(tdb.url);
      await again.close();
      assert.equal(await store.accounts.count(), 1);
    });

    test('a transaction that fails leaves nothing behind', async () => {
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.contacts.insert(accountId, contact('Ghost'), ['+380441111111'], 'ghost');
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(await store.contacts.idsByPhones(accountId, ['+380441111111']), []);
      assert.deepEqual(
        await store.contacts.list(accountId, { offset: 0, limit: 10, searchText: 'ghost' }),
        [],
      );
    });

    test('item ids are unique under concurrent allocation', async () => {
      const blocks = await Promise.all(
        Array.from({ length: 20 }, () => store.transaction((tx) => tx.contacts.allocateItemIds(5))),
      );
      const all = blocks.flat();
      assert.equal(all.length, 100);
      assert.equal(new Set(all).size, 100);
      for (const b of blocks) assert.deepEqual(b, [b[0], b[0] + 1, b[0] + 2, b[0] + 3, b[0] + 4]);
    });

    test('times and ids come back as numbers (int8 parsing on PostgreSQL)', async () => {
      const id = await store.contacts.insert(
        accountId,
        { ...contact('Big'), dateCreate: 1795727099685, lastModified: 1795727099685 },
        [],
        'big',
      );
      const c = await store.contacts.get(accountId, id);
      assert.equal(typeof c?.id, 'number');
      assert.equal(c?.dateCreate, 1795727099685);
    });

    test('phones are indexed per account: another account never sees them', async () => {
      const other = (
        await store.accounts.create({
          domain: 'o.localhost',
          name: 'o',
          apiKeyHash: 'h2',
          defaultCountry: 'UA',
          apiUserId: null,
          createdAt: 1,
        })
      ).id;
      const mine = await store.contacts.insert(accountId, contact('Mine'), ['+380442222222'], 'mine');
      assert.deepEqual(await store.contacts.idsByPhones(accountId, ['+380442222222']), [mine]);
      assert.deepEqual(await store.contacts.idsByPhones(other, ['+380442222222']), []);
      assert.equal(await store.contacts.get(other, mine), null);
      assert.equal(await store.contacts.delete(other, mine), false);
      assert.ok(await store.contacts.get(accountId, mine));
    });

    test('an account read that began before the cache was dropped is not remembered', async () => {
      await store.accounts.byId(accountId);
      assert.ok(store.accounts.cachedById(accountId), 'remembered');
      // Another process changed the account while this read was on its way: the answer may be
      // the old one, so it must not be kept (the next read goes to the database).
      const reading = store.accounts.byId(accountId);
      store.accounts.forgetCached(accountId);
      assert.ok(await reading);
      assert.equal(store.accounts.cachedById(accountId), null);
      const byDomain = store.accounts.byDomain('s.localhost');
      store.accounts.forgetCached(accountId);
      assert.ok(await byDomain);
      assert.equal(store.accounts.cachedById(accountId), null);
      // A read that began after it is remembered again.
      await store.accounts.byId(accountId);
      assert.ok(store.accounts.cachedById(accountId));
    });

    test("a call's directory lookups (a ring group's members, the CRM connections, the tracking session) go by their indexes; the members come back in the group's order, only the account's", async () => {
      const other = await store.accounts.create({
        domain: 'plans.localhost',
        name: 'p',
        apiKeyHash: 'hp',
        defaultCountry: 'UA',
        apiUserId: null,
        createdAt: 1,
      });
      const ids: number[] = [];
      for (let k = 0; k < 40; k++) {
        for (const a of [accountId, other.id]) {
          const e = await store.directory.employees.create(
            a,
            {
              displayName: `e${k}`,
              ext: String(7000 + k),
              email: null,
              monitored: false,
              presence: 'online',
              paused: false,
            },
            1,
          );
          if (a === accountId) ids.push(e.id);
        }
      }
      const crmRow = {
        callSettingsUrl: null,
        eventsUrl: 'http://127.0.0.1:9/e',
        utmUrl: null,
        priority: 0,
        secret: null,
        enabled: true,
      };
      const crmA = await store.directory.crm.create(accountId, { ...crmRow, name: 'a' }, 1);
      await store.directory.crm.create(other.id, { ...crmRow, name: 'b' }, 1);
      // A bench:sip group's size: with a handful of ids SQLite picks the primary key even without the index.
      const members = ids.slice(5, 30).reverse();

      // The same stores over a second connection that logs every statement with its parameters.
      const seen: CompiledQuery[] = [];
      const log = (e: { level: string; query: CompiledQuery }) => {
        if (e.level === 'query') seen.push(e.query);
      };
      const file = tdb.url.replace(/^sqlite:/, '');
      const pool = dialect === 'postgres' ? new pg.Pool({ connectionString: tdb.url, max: 1 }) : null;
      const logged = new Kysely<Database>({
        dialect: pool ? new PostgresDialect({ pool }) : new SqliteDialect({ database: new SQLite(file) }),
        log,
      });
      const plan = async (q: CompiledQuery): Promise<string> => {
        if (!pool) {
          const raw = new SQLite(file, { readonly: true });
          try {
            const rows = raw.prepare(`explain query plan ${q.sql}`).all(...q.parameters) as {
              detail: string;
            }[];
            return rows.map((r) => r.detail).join(' | ');
          } finally {
            raw.close();
          }
        }
        // Tables this small are read whole when that is cheaper: what is asked is which index serves.
        const c = await pool.connect();
        try {
          await c.query('set enable_seqscan = off');
          const r = await c.query<{ 'QUERY PLAN': string }>(`explain ${q.sql}`, [...q.parameters]);
          return r.rows.map((x) => x['QUERY PLAN']).join(' | ');
        } finally {
          c.release(true);
        }
      };
      try {
        const s2 = createStore(logged);
        const got = await s2.directory.employees.byIds(accountId, members);
        assert.deepEqual(
          got.map((e) => e.id),
          members,
        );
        assert.deepEqual(await s2.directory.employees.byIds(other.id, members), []);
        const [membersQuery] = seen.splice(0);
        const crm = await s2.directory.crm.list(accountId);
        assert.deepEqual(
          crm.map((c) => c.id),
          [crmA.id],
        );
        const [crmList] = seen.splice(0);
        assert.equal(await s2.tracking.sessionAt(accountId, '+380441230001', 5), null);
        const [session] = seen.splice(0);

        const membersPlan = await plan(membersQuery);
        const crmPlan = await plan(crmList);
        if (dialect === 'sqlite') {
          // Before 0021: `SEARCH employees USING INDEX sqlite_autoindex_employees_1 (account_id=?)`,
          // every employee of the account read to keep the group's; `SCAN crm_connections`.
          assert.match(
            membersPlan,
            /SEARCH employees USING (INDEX employees_account_id \(account_id=\? AND id=\?|INTEGER PRIMARY KEY)/,
            membersPlan,
          );
          assert.doesNotMatch(crmPlan, /SCAN crm_connections/, crmPlan);
          assert.match(crmPlan, /crm_connections_account/, crmPlan);
        } else {
          assert.match(crmPlan, /crm_connections_account/, crmPlan);
          assert.doesNotMatch(membersPlan, /Seq Scan/, membersPlan);
        }
        // LIMIT written into the SQL: SQLite re-prepares a statement whose LIMIT is bound, each run.
        assert.match(session.sql, /limit 1$/, session.sql);
        assert.equal(session.parameters.length, 5, session.sql);

        // The outbox's claim (every enqueue that wrote rows unleased, every completion): its scan
        // of the pending rows is covered by outbox_pending (0022), so rows in flight (leased)
        // and those of saturated connections are skipped without reading the table; LIMIT literal.
        await s2.outbox.claim({
          now: 1,
          owner: 'plan',
          leaseMs: 1,
          limit: 50,
          excludeConnections: [crmA.id],
        });
        const claimQuery = seen.splice(0).find((q) => /update outbox/.test(q.sql));
        assert.ok(claimQuery, 'the claim ran');
        assert.match(claimQuery.sql, /limit 50\s/, claimQuery.sql);
        if (dialect === 'sqlite') {
          const claimPlan = await plan(claimQuery);
          // Before 0022: `SCAN o USING INDEX outbox_pending` (a table lookup per pending row).
          assert.match(claimPlan, /SCAN o USING COVERING INDEX outbox_pending\b/, claimPlan);
        }
      } finally {
        await logged.destroy();
      }
    });
  });
}
