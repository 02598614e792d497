// A note posted while its contact is being deleted gets 200 (it won the race) or 404 (the
// contact went first), never a 500 (regression: the foreign key refused the insert after the
// existence check, a 500; found by the hostile-input proof on PostgreSQL, bench/lib/hostile.ts).
// The interleaving is not forced: this exercises the race (40 pairs) but does not reproduce it
// every time; the proof's concurrent fuzzing is what found it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import {
  contactBody,
  createContacts,
  type Session,
  startServer,
  type TestServer,
} from './support/harness.ts';

for (const dialect of DIALECTS) {
  describe(`notes racing a contact's deletion [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let s: Session;
    before(async () => {
      server = await startServer(dialect);
      s = await server.account('race.localhost');
    });
    after(() => server?.close());

    test('POST note and DELETE contact at once: 200 or 404, and no note outlives its contact', async () => {
      const ids = await createContacts(
        s,
        Array.from({ length: 40 }, (_, i) => contactBody({ first: `Race ${i}` })),
      );
      const statuses: number[] = [];
      await Promise.all(
        ids.map(async (id) => {
          const [note, del] = await Promise.all([
            s.post(`/rest/crm/contacts/v2/${id}/notes`, { content: 'racing' }),
            s.delete(`/rest/crm/contacts/v2/${id}`),
          ]);
          statuses.push(note.status);
          assert.equal(del.status, 200, del.text);
          assert.ok([200, 404].includes(note.status), `note: ${note.status} ${note.text}`);
        }),
      );
      for (const id of ids) assert.equal((await s.get(`/rest/crm/contacts/v2/${id}/notes`)).status, 404);
      assert.ok(statuses.length === ids.length);
    });
  });
}
