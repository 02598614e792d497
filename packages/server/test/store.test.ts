import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../src/domain/ports.ts';
import { createStore, openDatabase } from '../src/index.ts';
import type { OpenDatabase } from '../src/store/db.ts';
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
  });
}
