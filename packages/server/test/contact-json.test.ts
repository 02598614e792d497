// searchByOLNum sends the contacts as JSON text the store writes itself (contact-store.ts
// `contactJson`), skipping object building and the response serializer. On both databases that
// text must be exactly the JSON of the contacts `byPhone` returns, whatever the contact holds:
// quotes, backslashes, control characters, emoji, lone surrogates, nulls, several values.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ContactInput } from '@dzvin/protocol';
import fc from 'fast-check';
import { buildContact } from '../src/domain/crm/contact-fields.ts';
import { DomainError } from '../src/domain/errors.ts';
import type { Store } from '../src/domain/ports.ts';
import { createStore, openDatabase } from '../src/index.ts';
import type { OpenDatabase } from '../src/store/db.ts';
import { bareContact } from './support/contacts.ts';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason, type TestDatabase } from './support/dialects.ts';

// No NUL: PostgreSQL text cannot hold it, and the HTTP layer refuses it before (nul-guard.ts).
const text = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replaceAll('\u0000', ''));
const tricky = fc.oneof(
  text,
  fc.constantFrom('"', '\\', '\n\t', '\u0001', '\u2028', '😀', '\ud800', '</script>'),
);
const phone = fc.integer({ min: 100_000_000, max: 999_999_999 }).map((n) => `+380${n}`);
const inputArb = fc.record({
  fields: fc.array(
    fc.oneof(
      fc.record({
        enumCode: fc.constantFrom('Имя', 'Прізвище', 'Компания', 'Email', 'Категория', 'Нотатка'),
        values: fc.array(fc.record({ value: fc.oneof(tricky, fc.constant(null)) }), { maxLength: 1 }),
      }),
      fc.record({
        enumCode: fc.constantFrom('Телефон'),
        values: fc.array(fc.record({ value: phone, enumValueCode: fc.option(tricky) }), { maxLength: 3 }),
      }),
    ),
    { maxLength: 5 },
  ),
});

for (const dialect of DIALECTS) {
  describe(`contact JSON of searchByOLNum [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
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
          domain: 'json.localhost',
          name: 'json',
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

    test('byPhoneJson is the JSON of byPhone, for any contact and page', async () => {
      const shared = '+380441234567';
      await fc.assert(
        fc.asyncProperty(
          inputArb,
          fc.option(fc.integer({ min: 1, max: 2 ** 31 - 1 })),
          fc.integer({ min: 0, max: 3 }),
          fc.integer({ min: 0, max: 2 }),
          async (input, responsible, limit, offset) => {
            // Inputs the domain refuses (an e-mail that is not one…) are not contacts: skipped.
            const built = await buildContact({
              input: input as ContactInput,
              existing: null,
              mode: 'replace',
              country: 'UA',
              now: 1_700_000_000_000 + Math.floor(Math.random() * 1e9),
              createUserId: responsible,
              responsibleUserId: responsible,
              allocateIds: (n) => store.contacts.allocateItemIds(n),
            }).catch((e: unknown) => {
              if (e instanceof DomainError) return null;
              throw e;
            });
            if (!built) return;
            const phones = [...built.phones, shared];
            await store.contacts.insert(accountId, built.contact, phones, built.searchText);
            for (const p of phones) {
              const objects = await store.contacts.byPhone(accountId, p, offset, limit);
              const json = await store.contacts.byPhoneJson(accountId, p, offset, limit);
              assert.equal(json, JSON.stringify(objects));
            }
          },
        ),
        { numRuns: 60 },
      );
      // Several contacts share one number: a page of many.
      const all = await store.contacts.byPhone(accountId, shared, 0, 50);
      assert.ok(all.length > 3);
      assert.equal(await store.contacts.byPhoneJson(accountId, shared, 0, 50), JSON.stringify(all));
      assert.equal(await store.contacts.byPhoneJson(accountId, '+380000000000', 0, 50), '[]');
      assert.equal(await store.contacts.byPhoneJson(accountId + 1, shared, 0, 50), '[]');
    });

    // On SQLite byPhoneJson reads synchronously, beside Kysely (store/db.ts DirectReads). While a
    // transaction holds the one connection it must not: it would see rows that are not committed.
    test('byPhoneJson never answers with rows of a transaction that is still open', async () => {
      const number = '+380449998877';
      const contact = bareContact('Uncommitted');
      const rolledBack = new Error('rolled back on purpose');
      let read: Promise<string> | undefined;
      let readDuring: string | undefined;
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.contacts.insert(accountId, contact, [number], 'uncommitted');
          // A read from outside the transaction, started while it is open, and given time to
          // answer before the transaction ends.
          read = store.contacts.byPhoneJson(accountId, number, 0, 50);
          void read.then((json) => {
            readDuring = json;
          });
          await new Promise((r) => setTimeout(r, 50));
          // SQLite: the read waits for the connection; PostgreSQL: another connection, which
          // answers at once without the uncommitted row. Either way, never that row.
          assert.ok(readDuring === undefined || readDuring === '[]', `read during: ${readDuring}`);
          throw rolledBack;
        }),
        (e) => e === rolledBack,
      );
      assert.equal(await read, '[]');
      assert.equal(await store.contacts.byPhoneJson(accountId, number, 0, 50), '[]');
    });
  });
}
