import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../src/index.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';

for (const dialect of DIALECTS) {
  describe(`sessions and authorization [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    const clock = createManualClock(Date.UTC(2026, 10, 26, 12));
    let server: TestServer;
    let acme: Session;
    before(async () => {
      server = await startServer(dialect, {
        clock,
        config: {
          sessionIdleSec: 60,
          auth: { maxFailuresPerIp: 5, maxFailuresPerDomain: 8, failureWindowSec: 600 },
        },
      });
      acme = await server.account('acme.localhost');
    });
    after(() => server.close());

    test('authorize answers 200 with exactly one Set-Cookie in the documented form', async () => {
      const r = await acme.authorize();
      assert.equal(r.status, 200);
      const cookies = r.headers['set-cookie'] ?? [];
      assert.equal(cookies.length, 1);
      assert.match(cookies[0], /^JSESSIONID=[A-Za-z0-9]{32}; Path=\/; HttpOnly$/);
      assert.equal(r.json().domain, 'acme.localhost');
    });

    test('each authorize gives a new session id and the old one keeps working', async () => {
      const first = acme.cookie;
      await acme.authorize();
      assert.notEqual(acme.cookie, first);
      assert.equal((await acme.get('/rest/users', { cookie: first })).status, 200);
    });

    test('a request without a session, or with an unknown or garbled one, is 403 with a plain-text reason', async () => {
      for (const cookie of [
        undefined,
        'JSESSIONID=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        'JSESSIONID=;;;',
        'other=1',
        'JSESSIONID="%%%"',
      ]) {
        const r = await acme.get('/rest/users', { cookie: cookie ?? '' });
        assert.equal(r.status, 403, String(cookie));
        assert.match(String(r.headers['content-type']), /^text\/plain; charset=utf-8/);
        assert.ok(r.text.length > 5);
      }
    });

    test('a session survives other cookies around JSESSIONID', async () => {
      const r = await acme.get('/rest/users', { cookie: `a=b; ${acme.cookie}; lang=uk` });
      assert.equal(r.status, 200);
    });

    test('wrong API key and unknown domain are both 403 with the same reason', async () => {
      const wrongKey = await server.request('POST', '/rest/security/authorize', {
        body: { domain: 'acme.localhost', apiKey: 'x'.repeat(32) },
      });
      const unknown = await server.request('POST', '/rest/security/authorize', {
        body: { domain: 'nobody.localhost', apiKey: acme.apiKey },
      });
      assert.equal(wrongKey.status, 403);
      assert.equal(unknown.status, 403);
      assert.equal(wrongKey.text, unknown.text);
      assert.equal(wrongKey.headers['set-cookie'], undefined);
    });

    test('the body domain must match a Host that is an account domain (spec #4)', async () => {
      const other = await server.account('other.localhost');
      const r = await server.request('POST', '/rest/security/authorize', {
        host: `acme.localhost:${server.port}`,
        body: { domain: 'other.localhost', apiKey: other.apiKey },
      });
      assert.equal(r.status, 403);
      // From a Host that names no account (an IP), the body domain decides.
      const ok = await server.request('POST', '/rest/security/authorize', {
        body: { domain: 'OTHER.localhost', apiKey: other.apiKey },
      });
      assert.equal(ok.status, 200);
    });

    test('the API key alone signs in on the account’s own Host, and that session works (spec #4)', async () => {
      // What a TypeScript Phonet client on npm posts to https://{domain}/rest/security/authorize.
      const r = await server.request('POST', '/rest/security/authorize', {
        host: acme.host,
        body: { apiKey: acme.apiKey },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json().domain, 'acme.localhost');
      const cookies = r.headers['set-cookie'] ?? [];
      assert.equal(cookies.length, 1);
      assert.match(cookies[0], /^JSESSIONID=[A-Za-z0-9]{32}; Path=\/; HttpOnly$/);
      const users = await server.request('GET', '/rest/users', {
        host: acme.host,
        cookie: cookies[0].split(';')[0],
      });
      assert.equal(users.status, 200);
      assert.equal(users.json()[0].ext, '001');
    });

    test('the API key alone from a Host that names no account is a plain-text 400 naming domain', async () => {
      for (const host of [undefined, `nobody.localhost:${server.port}`]) {
        const r = await server.request('POST', '/rest/security/authorize', {
          host,
          localAddress: '127.0.0.41',
          body: { apiKey: acme.apiKey },
        });
        assert.equal(r.status, 400, String(host));
        assert.match(String(r.headers['content-type']), /^text\/plain; charset=utf-8/);
        assert.match(r.text, /'domain'/);
        assert.equal(r.headers['set-cookie'], undefined);
      }
      // Such a body tries no key, so it is no failed attempt: the IP is not limited by them.
      for (let i = 0; i < 6; i++)
        assert.equal(
          (
            await server.request('POST', '/rest/security/authorize', {
              localAddress: '127.0.0.41',
              body: { apiKey: 'x'.repeat(32) },
            })
          ).status,
          400,
        );
      const ok = await server.request('POST', '/rest/security/authorize', {
        localAddress: '127.0.0.41',
        body: { domain: 'acme.localhost', apiKey: acme.apiKey },
      });
      assert.equal(ok.status, 200);
    });

    test('the API key alone with a wrong key is 403, like a wrong key with the domain', async () => {
      const r = await server.request('POST', '/rest/security/authorize', {
        host: acme.host,
        localAddress: '127.0.0.40',
        body: { apiKey: 'x'.repeat(32) },
      });
      assert.equal(r.status, 403);
      assert.equal(r.text, 'Invalid domain or API key');
      assert.equal(r.headers['set-cookie'], undefined);
    });

    test("a session of one account is refused on another account's Host", async () => {
      const r = await server.request('GET', '/rest/users', {
        host: `other.localhost:${server.port}`,
        cookie: acme.cookie,
      });
      assert.equal(r.status, 403);
    });

    test('an idle session expires (403), and authorizing again works — what real clients do', async () => {
      const s = await server.account('idle.localhost');
      assert.equal((await s.get('/rest/users')).status, 200);
      await clock.advance(45_000);
      assert.equal((await s.get('/rest/users')).status, 200, 'use within the idle time keeps it alive');
      await clock.advance(45_000);
      assert.equal((await s.get('/rest/users')).status, 200, 'the previous use refreshed it');
      await clock.advance(61_000);
      const expired = await s.get('/rest/users');
      assert.equal(expired.status, 403);
      assert.match(expired.text, /expired/i);
      assert.equal((await s.authorize()).status, 200);
      assert.equal((await s.get('/rest/users')).status, 200);
    });

    test('sign-out ends the session', async () => {
      const s = await server.account('signout.localhost');
      // Used first, so the session is remembered in memory (auth-service resolveSessionNow).
      for (let i = 0; i < 2; i++) assert.equal((await s.get('/rest/users')).status, 200);
      const r = await s.post('/api/v1/session/sign-out');
      assert.equal(r.status, 204);
      assert.equal((await s.get('/rest/users')).status, 403);
    });

    test('a session remembered for its own Host is still refused with another account’s Host', async () => {
      const mine = await server.account('remembered.localhost');
      const other = await server.account('elsewhere.localhost');
      for (let i = 0; i < 2; i++) assert.equal((await mine.get('/rest/users')).status, 200);
      const r = await mine.get('/rest/users', { host: other.host });
      assert.equal(r.status, 403);
      assert.match(r.text, /another account/);
      assert.equal((await mine.get('/rest/users')).status, 200);
    });

    test('an account change shows in the very next request of a remembered session', async () => {
      const s = await server.account('country.localhost');
      const created = await s.post('/rest/crm/contacts/v2/batch', {
        merge: 0,
        contacts: [{ fields: [{ enumCode: 'Телефон', values: [{ value: '+380442246595' }] }] }],
      });
      assert.equal(created.status, 201);
      const search = async () =>
        (await s.get('/rest/crm/contacts/v2/searchByOLNum?otherLegNum=0442246595')).json();
      // National format under the default country UA: found, twice (the second from memory).
      for (let i = 0; i < 2; i++) assert.equal((await search()).length, 1);
      assert.equal((await s.admin('PATCH', '/api/v1/account', { defaultCountry: 'PL' })).status, 200);
      // Now 044… is a Polish number: not this contact.
      assert.deepEqual(await search(), []);
    });

    test('rotating the API key shows it once, ends sessions and retires the old key', async () => {
      const s = await server.account('rotate.localhost');
      for (let i = 0; i < 2; i++) assert.equal((await s.get('/rest/users')).status, 200);
      const r = await s.admin('POST', '/api/v1/account/rotate-key');
      assert.equal(r.status, 200);
      const { apiKey } = r.json();
      assert.match(apiKey, /^[A-Za-z0-9]{32}$/);
      assert.equal((await s.get('/rest/users')).status, 403, 'old session ended');
      assert.equal((await s.authorize()).status, 403, 'old key refused');
      const fresh = await server.request('POST', '/rest/security/authorize', {
        body: { domain: s.domain, apiKey },
      });
      assert.equal(fresh.status, 200);
    });

    test('repeated failed authorize attempts from one IP are rate-limited (429 with Retry-After)', async () => {
      await clock.advance(601_000); // forget the failures earlier tests made
      const target = await server.account('brute.localhost');
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await server.request('POST', '/rest/security/authorize', {
          localAddress: '127.0.0.20',
          body: {
            domain: i % 2 ? 'brute.localhost' : 'nobody.localhost',
            apiKey: `wrong-key-${i}-aaaaaaaaaaaaaaa`,
          },
        });
        statuses.push(r.status);
        if (r.status === 429) assert.ok(Number(r.headers['retry-after']) > 0);
      }
      assert.deepEqual(statuses, [403, 403, 403, 403, 403, 429, 429, 429]);
      // Even the right key is refused from that IP while it is limited: that is what stops guessing.
      const right = { domain: 'brute.localhost', apiKey: target.apiKey };
      assert.equal(
        (
          await server.request('POST', '/rest/security/authorize', {
            localAddress: '127.0.0.20',
            body: right,
          })
        ).status,
        429,
      );
      // Other clients are not affected.
      assert.equal(
        (
          await server.request('POST', '/rest/security/authorize', {
            localAddress: '127.0.0.21',
            body: right,
          })
        ).status,
        200,
      );
      await clock.advance(601_000);
      assert.equal(
        (
          await server.request('POST', '/rest/security/authorize', {
            localAddress: '127.0.0.20',
            body: right,
          })
        ).status,
        200,
      );
    });

    test('failed attempts against one domain from many IPs are rate-limited per domain', async () => {
      await clock.advance(601_000);
      const target = await server.account('spread.localhost');
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await server.request('POST', '/rest/security/authorize', {
          localAddress: `127.0.1.${i + 1}`,
          body: { domain: 'spread.localhost', apiKey: `wrong-key-${i}-aaaaaaaaaaaaaaa` },
        });
        statuses.push(r.status);
      }
      assert.deepEqual(statuses, [403, 403, 403, 403, 403, 403, 403, 403, 429, 429]);
      assert.equal((await target.authorize()).status, 429);
      // Another account's domain is not affected.
      assert.equal((await acme.authorize()).status, 200);
    });
  });
}
