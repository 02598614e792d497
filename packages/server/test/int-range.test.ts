// Numbers a client sends for 32-bit columns are checked against that range: a note's elementType,
// noteType, logicDirection or billSec of 2^31 and more is a 400 on every database (regression: it
// overflowed PostgreSQL's integer column, a 500; found by the hostile-input proof,
// bench/lib/hostile.ts). The extremes that fit are stored and read back.
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
  describe(`32-bit note fields [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let s: Session;
    let contactId: number;
    before(async () => {
      server = await startServer(dialect);
      s = await server.account('ints.localhost');
      [contactId] = await createContacts(s, [contactBody({ first: 'Int' })]);
    });
    after(() => server?.close());

    test('2^31 or below -2^31 in a 32-bit note field is a 400 naming it; nothing is stored', async () => {
      for (const key of ['elementType', 'noteType', 'logicDirection', 'billSec'])
        for (const value of [2 ** 31, 1795741111750, -(2 ** 31) - 1]) {
          const r = await s.post(`/rest/crm/contacts/v2/${contactId}/notes`, { content: 'x', [key]: value });
          assert.equal(r.status, 400, `${key}=${value}: ${r.status} ${r.text}`);
          assert.match(r.text, new RegExp(key));
        }
      assert.deepEqual((await s.get(`/rest/crm/contacts/v2/${contactId}/notes`)).json(), []);
    });

    test('the extremes that fit are stored and read back', async () => {
      const body = {
        content: 'edge',
        elementType: 2 ** 31 - 1,
        noteType: -(2 ** 31),
        logicDirection: 2 ** 31 - 1,
        billSec: 0,
      };
      const r = await s.post(`/rest/crm/contacts/v2/${contactId}/notes`, body);
      assert.equal(r.status, 200, r.text);
      const [note] = (await s.get(`/rest/crm/contacts/v2/${contactId}/notes`)).json();
      assert.equal(note.noteType, -(2 ** 31));
      assert.equal(note.logicDirection, 2 ** 31 - 1);
    });
  });
}
