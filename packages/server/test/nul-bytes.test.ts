// A NUL character (U+0000) anywhere in what a client sends — path, query, JSON or form body — is
// a 400 naming the problem, on SQLite and PostgreSQL alike (regression: PostgreSQL text cannot hold
// NUL, so `/api/v1/public/%00/tracking/sessions` and NUL in stored strings were 500s there; found
// by the hostile-input proof, bench/lib/hostile.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { contactBody, type Session, startServer, type TestServer } from './support/harness.ts';

for (const dialect of DIALECTS) {
  describe(`NUL characters in requests [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let s: Session;
    before(async () => {
      server = await startServer(dialect);
      s = await server.account('nul.localhost');
    });
    after(() => server?.close());

    test('in a path, a query, a JSON body or a form body: 400 in plain text, nothing stored', async () => {
      const cases = [
        await server.request('POST', '/api/v1/public/%00/tracking/sessions', { body: {} }),
        await server.request('POST', '/api/v1/public/nul.localhost%00/callback', {
          body: { number: '0501234567' },
        }),
        await s.get('/rest/crm/contacts/v2/?searchText=a%00b'),
        await s.get('/rest/crm/contacts/v2/searchByOLNum?otherLegNum=050%00'),
        await s.post('/rest/crm/contacts/v2/batch', {
          merge: 0,
          contacts: [contactBody({ first: 'Nul\u0000l' })],
        }),
        await s.admin('POST', '/api/v1/employees', { displayName: 'A\u0000B', ext: '150' }),
        await server.request('POST', '/rest/security/authorize', {
          raw: 'domain=nul.localhost%00&apiKey=x',
          contentType: 'application/x-www-form-urlencoded',
        }),
        await server.request('POST', '/rest/security/authorize', {
          body: { domain: 'a\u0000', apiKey: 'x' },
        }),
      ];
      for (const r of cases) {
        assert.equal(r.status, 400, `${r.status} ${r.text}`);
        assert.match(String(r.headers['content-type']), /^text\/plain; charset=utf-8$/);
        assert.match(r.text, /NUL/);
      }
      assert.deepEqual((await s.get('/rest/crm/contacts/v2/')).json(), []);
      assert.equal((await s.admin('GET', '/api/v1/employees')).json().length, 1);
    });

    test('other control characters and unicode still go through', async () => {
      const r = await s.post('/rest/crm/contacts/v2/batch', {
        merge: 0,
        contacts: [contactBody({ first: 'Tab\there 🐝 \u0001' })],
      });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json().succeeded, 1);
    });
  });
}
