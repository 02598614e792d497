// Sessions (lazy authorization, re-authorization after the server expired the session, single
// flight under concurrency) against a real Dzvin on a manual clock; error classes from real
// answers; timeouts and retries against small loopback servers that misbehave on purpose.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  DzvinAdminClient,
  PhonetAuthError,
  PhonetClient,
  PhonetConflictError,
  PhonetConnectionError,
  PhonetError,
  PhonetNotFoundError,
  PhonetRateLimitError,
  PhonetServerError,
  PhonetTimeoutError,
} from '@dzvin/sdk';
import { createManualClock } from '../../server/src/index.ts';
import { RequestLog, type SdkFixture, startDzvin } from './support/dzvin.ts';

const clock = createManualClock(Date.UTC(2026, 10, 26, 12));

describe('sessions against a real Dzvin (idle timeout 60 s, manual clock)', () => {
  let f: SdkFixture;
  before(async () => {
    f = await startDzvin('session.localhost', {
      clock,
      sessionIdleSec: 60,
      auth: { maxFailuresPerIp: 1000, maxFailuresPerDomain: 3, failureWindowSec: 600 },
    });
  });
  after(() => f.close());

  test('after the server expires the session, the next request authorizes again and succeeds', async () => {
    const client = f.newClient();
    await client.users.list();
    assert.equal(client.authorizations, 1);
    await clock.advance(61_000);
    f.log.clear();
    const users = await client.users.list();
    assert.equal(users.length, 1);
    assert.equal(client.authorizations, 2);
    assert.deepEqual(f.log.lines, ['GET /rest/users', 'POST /rest/security/authorize', 'GET /rest/users']);
  });

  test('concurrent requests during re-authorization share exactly one authorize', async () => {
    const client = f.newClient();
    await client.users.status();
    await clock.advance(61_000);
    f.log.clear();
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        i % 3 === 0 ? client.users.list() : i % 3 === 1 ? client.users.status() : client.calls.active(),
      ),
    );
    assert.equal(results.length, 24);
    assert.equal(f.log.count(/^POST \/rest\/security\/authorize$/), 1);
    assert.equal(client.authorizations, 2);
    // Every request was answered 403 at most once, then repeated once.
    assert.equal(f.log.lines.length, 24 + 1 + 24, 'all 24 saw the 403, one authorize, 24 repeats');
    assert.ok(f.log.lines.slice(0, 24).every((l) => l.startsWith('GET ')));
  });

  test('concurrent first requests of a fresh client share one authorize', async () => {
    const client = f.newClient();
    f.log.clear();
    await Promise.all(Array.from({ length: 10 }, () => client.users.list()));
    assert.equal(f.log.count(/authorize/), 1);
    assert.equal(f.log.lines.length, 11);
  });

  test('a key that stops working: one re-authorization, then PhonetAuthError (no loop)', async () => {
    const s = await f.server.account('rotated.localhost');
    const client = new PhonetClient({
      domain: s.domain,
      apiKey: s.apiKey,
      baseUrl: f.server.baseUrl,
      fetch: f.log.fetch,
    });
    await client.users.list();
    await new DzvinAdminClient({ baseUrl: f.server.baseUrl, apiKey: s.apiKey }).account.rotateKey();
    f.log.clear();
    const e = await client.users.list().catch((x) => x);
    assert.ok(e instanceof PhonetAuthError, String(e));
    assert.equal(e.status, 403);
    assert.equal(e.code, 'auth');
    assert.deepEqual(e.request, { method: 'POST', path: '/rest/security/authorize' });
    assert.deepEqual(f.log.lines, ['GET /rest/users', 'POST /rest/security/authorize']);
    assert.ok(!e.message.includes(s.apiKey), 'the API key never appears in errors');
  });

  test('error classes from real answers: auth, not found, conflict, rate limit (Retry-After)', async () => {
    const wrong = f.newClient({ domain: 'session.localhost', apiKey: 'x'.repeat(32) });
    const auth = await wrong.users.list().catch((x) => x);
    assert.ok(auth instanceof PhonetAuthError && auth instanceof PhonetError);
    assert.match(auth.text, /Invalid/i);

    const nf = await f.client.contacts.get(424242).catch((x) => x);
    assert.ok(nf instanceof PhonetNotFoundError);
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.request, { method: 'GET', path: '/rest/crm/contacts/v2/424242' });
    assert.match(nf.message, /^GET \/rest\/crm\/contacts\/v2\/424242 → 404: /);

    await f.admin.sim.pause('001');
    const conflict = await f.client.calls
      .make({ legExt: '001', otherLegNum: '+380993034330' })
      .catch((x) => x);
    assert.ok(conflict instanceof PhonetConflictError);
    assert.match(conflict.text, /paused/);
    await f.admin.sim.unpause('001');

    await f.server.account('brute.localhost');
    const brute = f.newClient({ domain: 'brute.localhost', apiKey: 'y'.repeat(32), retry: false });
    const statuses: unknown[] = [];
    for (let i = 0; i < 4; i++) statuses.push(await brute.users.list().catch((x) => x));
    assert.ok(statuses.slice(0, 3).every((x) => x instanceof PhonetAuthError));
    const limited = statuses[3];
    assert.ok(limited instanceof PhonetRateLimitError, String(limited));
    assert.equal(limited.status, 429);
    assert.ok((limited.retryAfterMs ?? 0) > 0, 'Retry-After is read');
  });

  test('the admin client maps the same errors (404, 409)', async () => {
    await assert.rejects(f.admin.employees.get(999_999), PhonetNotFoundError);
    await assert.rejects(f.admin.employees.create({ displayName: 'Twin', ext: '001' }), PhonetConflictError);
  });
});

/** A loopback server whose answers the test scripts; counts hits per `METHOD path`. */
async function scripted(handler: (req: http.IncomingMessage, res: http.ServerResponse, hit: number) => void) {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const key = `${req.method} ${req.url?.split('?')[0]}`;
    const n = (hits.get(key) ?? 0) + 1;
    hits.set(key, n);
    req.resume();
    req.on('end', () => handler(req, res, n));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    hits: (key: string) => hits.get(key) ?? 0,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('timeouts and retries (idempotent requests only)', () => {
  const fast = { retries: 2, baseDelayMs: 5, maxDelayMs: 2_000 };

  test('5xx: GET is retried with backoff until it succeeds; POST is tried once', async () => {
    const s = await scripted((req, res, hit) => {
      if (req.method === 'GET' && hit >= 3)
        return res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
    });
    try {
      const admin = new DzvinAdminClient({ baseUrl: s.url, apiKey: 'k', retry: fast });
      assert.deepEqual(await admin.employees.list(), []);
      assert.equal(s.hits('GET /api/v1/employees'), 3);
      const e = await admin.sim.incoming({ from: '1', trunk: '2' }).catch((x) => x);
      assert.ok(e instanceof PhonetServerError);
      assert.equal(e.text, 'busy');
      assert.equal(s.hits('POST /api/v1/sim/calls'), 1, 'a POST may have done its work: never repeated');
    } finally {
      await s.close();
    }
  });

  test('429 with a short Retry-After is waited for and retried; a long one is reported', async () => {
    const s = await scripted((req, res, hit) => {
      if (req.url?.startsWith('/api/v1/trunks'))
        return res.writeHead(429, { 'retry-after': '120' }).end('slow down');
      if (hit === 1) return res.writeHead(429, { 'retry-after': '1' }).end('slow down');
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    try {
      const admin = new DzvinAdminClient({ baseUrl: s.url, apiKey: 'k', retry: fast });
      const t0 = Date.now();
      await admin.groups.list();
      assert.ok(Date.now() - t0 >= 900, 'waited for Retry-After');
      assert.equal(s.hits('GET /api/v1/groups'), 2);
      const e = await admin.trunks.list().catch((x) => x);
      assert.ok(e instanceof PhonetRateLimitError);
      assert.equal(e.retryAfterMs, 120_000);
      assert.equal(s.hits('GET /api/v1/trunks'), 1);
    } finally {
      await s.close();
    }
  });

  test('no answer in time: PhonetTimeoutError after the retries of a GET, after one try of a POST', async () => {
    const s = await scripted(() => {
      /* never answers */
    });
    try {
      const admin = new DzvinAdminClient({ baseUrl: s.url, apiKey: 'k', timeoutMs: 150, retry: fast });
      const e = await admin.employees.list().catch((x) => x);
      assert.ok(e instanceof PhonetTimeoutError && e instanceof PhonetConnectionError);
      assert.equal(e.code, 'timeout');
      assert.equal(e.timeoutMs, 150);
      assert.deepEqual(e.request, { method: 'GET', path: '/api/v1/employees' });
      assert.equal(s.hits('GET /api/v1/employees'), 3);
      await assert.rejects(
        admin.sim.outgoing({ fromExt: '001', number: '+380993034330' }),
        PhonetTimeoutError,
      );
      assert.equal(s.hits('POST /api/v1/sim/outgoing'), 1);
    } finally {
      await s.close();
    }
  });

  test('nobody listening: PhonetConnectionError naming the cause, after retrying the authorize', async () => {
    const s = await scripted(() => {});
    const url = s.url;
    await s.close();
    const log = new RequestLog();
    const client = new PhonetClient({
      domain: 'x.localhost',
      apiKey: 'k',
      baseUrl: url,
      fetch: log.fetch,
      retry: fast,
    });
    const e = await client.users.list().catch((x) => x);
    assert.ok(e instanceof PhonetConnectionError && !(e instanceof PhonetTimeoutError), String(e));
    assert.equal(e.detail, 'ECONNREFUSED');
    assert.equal(e.status, undefined);
    assert.equal(log.count(/authorize/), 3);
  });

  test('403 again after the one re-authorization is PhonetAuthError (two authorizes, no loop)', async () => {
    const s = await scripted((req, res) => {
      if (req.url === '/rest/security/authorize')
        return res
          .writeHead(200, { 'set-cookie': `JSESSIONID=${'a'.repeat(32)}; Path=/; HttpOnly` })
          .end('{}');
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Session is not valid: authorize again');
    });
    try {
      const client = new PhonetClient({ domain: 'x.localhost', apiKey: 'k', baseUrl: s.url, retry: fast });
      const e = await client.users.list().catch((x) => x);
      assert.ok(e instanceof PhonetAuthError);
      assert.deepEqual(e.request, { method: 'GET', path: '/rest/users' });
      assert.equal(s.hits('POST /rest/security/authorize'), 2);
      assert.equal(s.hits('GET /rest/users'), 2);
    } finally {
      await s.close();
    }
  });
});
