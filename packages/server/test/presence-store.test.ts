// The shared presence store (store/presence-store.ts) on both databases: one leg holds an
// employee at a time, whoever claims first; the hold ends with the leg; a round-robin group's
// turns are counted once each however many claim them at once; a dead process's claims are swept.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../src/domain/ports.ts';
import { createStore, openDatabase } from '../src/index.ts';
import type { OpenDatabase } from '../src/store/db.ts';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason, type TestDatabase } from './support/dialects.ts';

for (const dialect of DIALECTS) {
  describe(`presence store [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let tdb: TestDatabase;
    let db: OpenDatabase;
    let store: Store;
    let accountId = 0;
    let other = 0;
    const claim = (
      employeeId: number,
      legUuid: string,
      nodeId = 'node-a',
      since = Date.now(),
      acc = accountId,
    ) => store.presence.claim({ accountId: acc, employeeId, legUuid, nodeId, since });
    before(async () => {
      tdb = await createTestDatabaseUrl(dialect);
      db = await openDatabase(tdb.url);
      store = createStore(db.db);
      const account = (domain: string) =>
        store.accounts.create({
          domain,
          name: domain,
          apiKeyHash: `h-${domain}`,
          defaultCountry: 'UA',
          apiUserId: null,
          createdAt: 1,
        });
      accountId = (await account('p.localhost')).id;
      other = (await account('q.localhost')).id;
    });
    after(async () => {
      await db.close();
      await tdb.drop();
    });

    test('the first leg to claim an employee holds them; claiming again with the same leg still holds', async () => {
      assert.equal(await claim(1, 'leg-1'), true);
      assert.equal(await claim(1, 'leg-2', 'node-b'), false, 'another leg (another process) finds them held');
      assert.equal(await claim(1, 'leg-1'), true, 'idempotent for the holder');
      assert.equal(
        await claim(1, 'leg-3', 'node-a', Date.now(), other),
        true,
        "another account's employee 1",
      );
      assert.deepEqual(await store.presence.busyAmong(accountId, [1, 2, 3]), [1]);
      await store.presence.release(['leg-1', 'leg-3', 'never-claimed']);
      assert.deepEqual(await store.presence.busyAmong(accountId, [1]), []);
      assert.equal(await claim(1, 'leg-2', 'node-b'), true, 'free once released');
      await store.presence.release(['leg-2']);
    });

    test('twenty legs claiming one employee at once: exactly one holds them', async () => {
      const won = await Promise.all(
        Array.from({ length: 20 }, (_, i) => claim(7, `race-${i}`, `node-${i % 2}`)),
      );
      assert.equal(won.filter(Boolean).length, 1);
      await store.presence.release(Array.from({ length: 20 }, (_, i) => `race-${i}`));
    });

    test("a release inside a transaction that rolls back keeps the hold (it ends with the leg's saved record)", async () => {
      assert.equal(await claim(8, 'leg-8'), true);
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.presence.release(['leg-8']);
          throw new Error('the save failed');
        }),
        /the save failed/,
      );
      assert.deepEqual(await store.presence.busyAmong(accountId, [8]), [8]);
      await store.transaction((tx) => tx.presence.release(['leg-8']));
      assert.deepEqual(await store.presence.busyAmong(accountId, [8]), []);
    });

    test("a group's turns count 0, 1, 2… once each, also when taken at once; each group its own", async () => {
      const turns = await Promise.all(
        Array.from({ length: 10 }, () => store.presence.nextTurn(accountId, 5)),
      );
      assert.deepEqual(
        [...turns].sort((x, y) => x - y),
        Array.from({ length: 10 }, (_, i) => i),
      );
      assert.equal(await store.presence.nextTurn(accountId, 5), 10);
      assert.equal(await store.presence.nextTurn(accountId, 6), 0);
      assert.equal(await store.presence.nextTurn(other, 5), 0);
    });

    test('the sweep frees old claims of processes not alive, and nothing else', async () => {
      const old = Date.now() - 60_000;
      await claim(11, 'dead-old', 'dead', old);
      await claim(12, 'dead-new', 'dead', Date.now());
      await claim(13, 'alive-old', 'alive', old);
      assert.equal(await store.presence.sweep(['alive'], Date.now() - 15_000), 1);
      assert.deepEqual(
        (await store.presence.busyAmong(accountId, [11, 12, 13])).sort((x, y) => x - y),
        [12, 13],
      );
      await store.presence.release(['dead-new', 'alive-old']);
    });
  });
}
