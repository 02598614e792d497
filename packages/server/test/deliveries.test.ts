// Call events to CRMs through the durable outbox (spec #18), against real receivers on loopback.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OutboxEntry } from '../src/integrations/outbox/outbox.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  json: any;
  at: number;
}

/** A CRM on 127.0.0.1 that can go down and come back on the same port. */
async function receiver(
  answer: (h: Hit, n: number) => { status: number; headers?: Record<string, string> } | 'hang' = () => ({
    status: 200,
  }),
) {
  const hits: Hit[] = [];
  let server: http.Server | null = null;
  const r = {
    hits,
    port: 0,
    answer,
    get url() {
      return `http://127.0.0.1:${r.port}/events`;
    },
    async up() {
      server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const h: Hit = {
            path: req.url ?? '',
            headers: req.headers,
            text,
            json: JSON.parse(text),
            at: Date.now(),
          };
          hits.push(h);
          const a = r.answer(h, hits.length);
          if (a === 'hang') return;
          res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
          res.end('ok');
        });
      });
      await new Promise<void>((resolve) => server!.listen(r.port, '127.0.0.1', resolve));
      const addr = server.address();
      r.port = typeof addr === 'object' && addr ? addr.port : 0;
    },
    async down() {
      const s = server;
      server = null;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await r.up();
  return r;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const FAST_RETRY = {
  retryBaseMs: 30,
  retryCapMs: 200,
  retryForMs: 86_400_000,
  timeoutMs: 2_000,
  concurrencyPerConnection: 16,
  leaseMs: 60_000,
};

for (const dialect of DIALECTS) {
  describe(`call event deliveries (${dialect})`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let s: Session;
    let accountId: number;
    before(async () => {
      server = await startServer(dialect, { config: { webhooks: FAST_RETRY } });
      s = await server.account('deliver.localhost');
      accountId = (await server.built.store.accounts.byDomain('deliver.localhost'))!.id;
    });
    after(() => server.close());

    async function connection(body: Record<string, unknown>) {
      const r = await s.admin('POST', '/api/v1/crm-connections', { name: `crm ${Math.random()}`, ...body });
      assert.equal(r.status, 201, r.text);
      return r.json().id as number;
    }
    async function disable(id: number) {
      await s.admin('PATCH', `/api/v1/crm-connections/${id}`, { enabled: false });
    }
    const enqueue = (entries: OutboxEntry[]) => server.built.outbox.enqueue(server.built.store, entries);
    const ev = (connectionId: number, orderKey: string, n: number): OutboxEntry => ({
      accountId,
      connectionId,
      kind: 'event',
      orderKey,
      payload: { event: 'call.dial', uuid: orderKey, n, serverTime: 0 },
    });

    test('a call sends dial, bridge and hangup with every documented key, signed, in order', async () => {
      const crm = await receiver();
      const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
      const id = await connection({ eventsUrl: crm.url, secret });
      const trunk = await s.admin('POST', '/api/v1/trunks', {
        number: '+380441112233',
        name: 'Main line',
        destination: { type: 'employee', id: (await s.admin('GET', '/api/v1/employees')).json()[0].id },
      });
      assert.equal(trunk.status, 201, trunk.text);
      assert.ok(
        (await s.admin('PUT', '/api/v1/sim/behaviours/employees/001', { mode: 'manual' })).status < 300,
      );
      const placed = await s.admin('POST', '/api/v1/sim/calls', {
        from: '+380671234567',
        trunk: '+380441112233',
      });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      await until(() => crm.hits.length >= 1, 5000, 'the dial event');
      assert.ok((await s.admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '001' })).status < 300);
      await until(
        () => crm.hits.some((h) => h.json.event === 'call.bridge' && h.json.uuid === uuid),
        5000,
        'bridge',
      );
      assert.ok((await s.admin('POST', `/api/v1/sim/calls/${uuid}/hangup`, {})).status < 300);
      await until(
        () => crm.hits.some((h) => h.json.event === 'call.hangup' && h.json.uuid === uuid),
        5000,
        'hangup',
      );
      await sleep(100);
      const company = crm.hits.filter((h) => h.json.uuid === uuid).map((h) => h.json.event);
      assert.deepEqual(company, ['call.dial', 'call.bridge', 'call.hangup']);
      // A call to one employee is one call: no second uuid for the employee's leg.
      assert.deepEqual(
        crm.hits.filter((h) => h.json.parentUuid === uuid),
        [],
      );
      for (const h of crm.hits) {
        assert.deepEqual(Object.keys(h.json), [
          'event',
          'accountDomain',
          'uuid',
          'parentUuid',
          'dialAt',
          'bridgeAt',
          'serverTime',
          'lgDirection',
          'leg',
          'leg2',
          'otherLegs',
          'trunkNum',
          'trunkName',
        ]);
        assert.equal(h.json.accountDomain, 'deliver.localhost');
        assert.equal(h.json.lgDirection, 4);
        assert.equal(h.json.trunkNum, '+380441112233');
        assert.ok(h.json.serverTime > 1e12 && Math.abs(h.json.serverTime - h.at) < 5000, 'serverTime in ms');
        assert.ok(h.json.dialAt > 1e12);
        assert.equal(h.headers['content-type'], 'application/json; charset=utf-8');
        // Standard Webhooks, verified by hand with node:crypto.
        const wid = String(h.headers['webhook-id']);
        const ts = String(h.headers['webhook-timestamp']);
        const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
        const mac = createHmac('sha256', key).update(`${wid}.${ts}.${h.text}`).digest('base64');
        assert.equal(h.headers['webhook-signature'], `v1,${mac}`);
        assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 30);
      }
      const hangup = crm.hits.find((h) => h.json.uuid === uuid && h.json.event === 'call.hangup')!;
      assert.equal(hangup.json.leg.ext, '001');
      assert.ok(hangup.json.bridgeAt > 1e12);
      await disable(id);
      await crm.down();
    });

    test('without a secret a delivery carries no webhook headers (as Phonet sends them)', async () => {
      const crm = await receiver();
      const id = await connection({ eventsUrl: crm.url });
      await enqueue([ev(id, 'plain-1', 1)]);
      await until(() => crm.hits.length === 1);
      const h = crm.hits[0];
      assert.equal(h.headers['webhook-id'], undefined);
      assert.equal(h.headers['webhook-signature'], undefined);
      assert.equal(h.json.uuid, 'plain-1');
      await disable(id);
      await crm.down();
    });

    test('a receiver that is down and comes back gets everything, in order per call', async () => {
      const crm = await receiver();
      const id = await connection({ eventsUrl: crm.url });
      await crm.down();
      const entries: OutboxEntry[] = [];
      for (let n = 0; n < 8; n++)
        for (const key of ['a', 'b', 'c', 'd', 'e']) entries.push(ev(id, `down-${key}`, n));
      await enqueue(entries);
      await sleep(400); // several failed attempts (connection refused)
      assert.equal(crm.hits.length, 0);
      await crm.up();
      await until(
        () => new Set(crm.hits.map((h) => `${h.json.uuid}:${h.json.n}`)).size === 40,
        15_000,
        'all 40',
      );
      for (const key of ['a', 'b', 'c', 'd', 'e']) {
        const ns = crm.hits.filter((h) => h.json.uuid === `down-${key}`).map((h) => h.json.n);
        assert.deepEqual(ns, [0, 1, 2, 3, 4, 5, 6, 7], `order of ${key}`);
      }
      // An outcome is recorded a few milliseconds after its answer (with others): wait for the log.
      let list = await s.admin('GET', `/api/v1/crm-connections/${id}/deliveries?status=delivered&limit=100`);
      await until(
        async () => {
          list = await s.admin('GET', `/api/v1/crm-connections/${id}/deliveries?status=delivered&limit=100`);
          return list.status !== 200 || list.json().length === 40;
        },
        5_000,
        'all 40 recorded as delivered',
      );
      assert.equal(list.status, 200, list.text);
      assert.equal(list.json().length, 40);
      assert.ok(list.json().some((d: { attempts: number }) => d.attempts > 1));
      await disable(id);
      await crm.down();
    });

    test('410 and 400 are final; the next event of the call still goes', async () => {
      const crm = await receiver((h) => ({ status: h.json.n === 0 ? 410 : h.json.n === 1 ? 400 : 200 }));
      const id = await connection({ eventsUrl: crm.url });
      await enqueue([ev(id, 'final', 0), ev(id, 'final', 1), ev(id, 'final', 2)]);
      await until(() => crm.hits.length >= 3);
      await sleep(200);
      assert.deepEqual(
        crm.hits.map((h) => h.json.n),
        [0, 1, 2],
      );
      const list = (await s.admin('GET', `/api/v1/crm-connections/${id}/deliveries`)).json();
      const byN = new Map(list.map((d: { payload: string }) => [JSON.parse(d.payload).n, d]));
      // biome-ignore lint/suspicious/noExplicitAny: test
      const d0 = byN.get(0) as any;
      assert.equal(d0.status, 'failed');
      assert.equal(d0.lastStatus, 410);
      assert.equal(d0.attempts, 1);
      // biome-ignore lint/suspicious/noExplicitAny: test
      assert.equal((byN.get(1) as any).status, 'failed');
      // biome-ignore lint/suspicious/noExplicitAny: test
      assert.equal((byN.get(2) as any).status, 'delivered');
      // Replay of the failed ones sends them again.
      crm.answer = () => ({ status: 200 });
      const replay = await s.admin('POST', `/api/v1/crm-connections/${id}/deliveries/replay`, {
        statuses: ['failed'],
      });
      assert.equal(replay.status, 200, replay.text);
      assert.equal(replay.json().replayed, 2);
      await until(() => crm.hits.length >= 5);
      await disable(id);
      await crm.down();
    });

    test('503 with Retry-After waits that long, then delivers', async () => {
      const crm = await receiver((_h, n) =>
        n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 },
      );
      const id = await connection({ eventsUrl: crm.url });
      await enqueue([ev(id, 'retry-after', 0)]);
      await until(() => crm.hits.length >= 2, 5000);
      const gap = crm.hits[1].at - crm.hits[0].at;
      assert.ok(gap >= 950, `retried after ${gap} ms`);
      assert.equal(crm.hits[0].headers['webhook-id'], crm.hits[1].headers['webhook-id']);
      await disable(id);
      await crm.down();
    });

    test('a secret Dzvin generates signs the deliveries; generating again replaces it', async () => {
      const crm = await receiver();
      const id = await connection({ eventsUrl: crm.url });
      const verifies = (h: Hit, secret: string) => {
        const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
        const signed = `${h.headers['webhook-id']}.${h.headers['webhook-timestamp']}.${h.text}`;
        return (
          h.headers['webhook-signature'] === `v1,${createHmac('sha256', key).update(signed).digest('base64')}`
        );
      };
      const first = await s.admin('POST', `/api/v1/crm-connections/${id}/secret`);
      assert.equal(first.status, 200, first.text);
      const secret1: string = first.json().secret;
      assert.match(secret1, /^whsec_[A-Za-z0-9+/]{43}=$/, '32 random bytes in base64');
      const shown = await s.admin('GET', `/api/v1/crm-connections/${id}`);
      assert.equal(shown.json().hasSecret, true);
      assert.ok(!shown.text.includes(secret1.slice(6)), 'the secret is shown only once');
      await enqueue([ev(id, 'signed-1', 0)]);
      await until(() => crm.hits.length === 1, 5000, 'the first delivery');
      assert.ok(verifies(crm.hits[0], secret1), 'signed with the generated secret');

      const secret2: string = (await s.admin('POST', `/api/v1/crm-connections/${id}/secret`)).json().secret;
      assert.notEqual(secret2, secret1);
      await enqueue([ev(id, 'signed-2', 0)]);
      await until(() => crm.hits.length === 2, 5000, 'the second delivery');
      assert.ok(verifies(crm.hits[1], secret2), 'signed with the new secret');
      assert.ok(!verifies(crm.hits[1], secret1), 'not with the old one');

      const unknown = await s.admin('POST', '/api/v1/crm-connections/987654/secret');
      assert.equal(unknown.status, 404);
      assert.match(String(unknown.headers['content-type']), /^text\/plain/);
      assert.equal((await s.admin('POST', '/api/v1/crm-connections/x/secret')).status, 400);
      const other = await server.account('deliver-secret-other.localhost');
      assert.equal((await other.admin('POST', `/api/v1/crm-connections/${id}/secret`)).status, 404);
      await disable(id);
      await crm.down();
    });

    test('every attempt of a delivery stays in its log: 503, then 500, then 200, then a replay', async () => {
      const answers = [503, 500, 200, 202];
      const crm = await receiver((_h, n) => ({ status: answers[n - 1] ?? 200 }));
      const id = await connection({ eventsUrl: crm.url });
      await enqueue([ev(id, 'history', 0)]);
      const list = async () => (await s.admin('GET', `/api/v1/crm-connections/${id}/deliveries`)).json();
      await until(async () => (await list())[0]?.status === 'delivered', 5000, 'the delivery');
      const [d] = await list();
      assert.equal(d.attempts, 3);
      const attempts = async () => {
        const r = await s.admin('GET', `/api/v1/deliveries/${d.id}/attempts`);
        assert.equal(r.status, 200, r.text);
        return r.json() as { attempt: number; at: number; status: number | null; responseExcerpt: string }[];
      };
      let log = await attempts();
      assert.deepEqual(
        log.map((a) => [a.attempt, a.status]),
        [
          [1, 503],
          [2, 500],
          [3, 200],
        ],
      );
      // Each attempt at the time the CRM got it (the receiver's clock is the same machine's).
      for (const [i, a] of log.entries()) {
        assert.ok(Math.abs(a.at - crm.hits[i].at) < 1000, `attempt ${a.attempt} at ${a.at}`);
        assert.equal(a.responseExcerpt, 'ok');
        if (i) assert.ok(a.at >= log[i - 1].at);
      }
      // The last one is the delivery's own last… fields.
      assert.equal(log[2].at, d.lastAttemptAt);
      // A replay is a fourth attempt; the first three stay.
      assert.equal((await s.admin('POST', `/api/v1/deliveries/${d.id}/replay`)).status, 200);
      await until(async () => (await attempts()).length === 4, 5000, 'the replayed attempt recorded');
      log = await attempts();
      assert.deepEqual(
        log.map((a) => a.status),
        [503, 500, 200, 202],
      );
      // Bad ids: plain-text 400/404, and another account's delivery is not found.
      const bad = await s.admin('GET', '/api/v1/deliveries/abc/attempts');
      assert.equal(bad.status, 400);
      assert.match(String(bad.headers['content-type']), /^text\/plain/);
      const unknown = await s.admin('GET', '/api/v1/deliveries/987654321/attempts');
      assert.equal(unknown.status, 404);
      assert.match(unknown.text, /Delivery 987654321 not found/);
      const other = await server.account('deliver-other.localhost');
      assert.equal((await other.admin('GET', `/api/v1/deliveries/${d.id}/attempts`)).status, 404);
      await disable(id);
      await crm.down();
    });

    test('a CRM that hangs does not delay deliveries to another CRM', async () => {
      const slow = await receiver(() => 'hang');
      const fast = await receiver();
      const slowId = await connection({ eventsUrl: slow.url });
      const fastId = await connection({ eventsUrl: fast.url });
      const entries: OutboxEntry[] = [];
      for (let i = 0; i < 60; i++) entries.push(ev(slowId, `slow-${i}`, 0));
      for (let i = 0; i < 20; i++) entries.push(ev(fastId, `fast-${i}`, 0));
      await enqueue(entries);
      // Not delayed: every delivery to the fast CRM arrives before the first request the slow one
      // holds could time out (timeoutMs) — a queue shared between them would make the fast CRM
      // wait for those timeouts. Measured against the slow CRM's own first hit rather than a wall
      // budget, so a loaded machine (a slow enqueue) does not decide it.
      await until(() => fast.hits.length === 20, 10_000, 'the fast CRM');
      assert.ok(slow.hits.length > 0, 'the slow CRM was being delivered to meanwhile');
      const firstSlow = Math.min(...slow.hits.map((h) => h.at));
      const lastFast = Math.max(...fast.hits.map((h) => h.at));
      assert.ok(
        lastFast < firstSlow + FAST_RETRY.timeoutMs,
        `the fast CRM's last delivery ${lastFast - firstSlow} ms after the slow CRM's first (its timeout: ${FAST_RETRY.timeoutMs} ms)`,
      );
      assert.ok(
        slow.hits.length <= FAST_RETRY.concurrencyPerConnection,
        `no slow request timed out and was followed by another yet: ${slow.hits.length} hits`,
      );
      await disable(slowId);
      await disable(fastId);
      await slow.down();
      await fast.down();
    });

    test('a call waiting in an IVR is on the live stream at once (call.update, Dzvin only); the CRM gets only the documented events', async () => {
      const crm = await receiver();
      await connection({ eventsUrl: crm.url });
      const ivr = await s.admin('POST', '/api/v1/ivr', { name: 'Queue', timeoutSec: 60, options: [] });
      assert.equal(ivr.status, 201, ivr.text);
      const trunk = await s.admin('POST', '/api/v1/trunks', {
        number: '+380445550011',
        name: 'IVR line',
        destination: { type: 'ivr', id: ivr.json().id },
      });
      assert.equal(trunk.status, 201, trunk.text);
      const req = http.request(`${server.baseUrl}/api/v1/events/stream`, {
        headers: { host: s.host, authorization: `Bearer ${s.apiKey}` },
      });
      const opened = new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
      req.end();
      const res = await opened;
      let raw = '';
      res.on('data', (c: Buffer) => {
        raw += c.toString('utf8');
      });
      try {
        const placed = await s.admin('POST', '/api/v1/sim/calls', {
          from: '+380671230011',
          trunk: '+380445550011',
        });
        assert.equal(placed.status, 201, placed.text);
        const { uuid } = placed.json();
        const events = () =>
          raw
            .split('\n\n')
            .map((b) => ({ event: /^event: (.*)$/m.exec(b)?.[1], data: /^data: (.*)$/m.exec(b)?.[1] }))
            .filter((e) => e.event && e.data)
            .map((e) => ({ event: e.event!, data: JSON.parse(e.data!) }))
            .filter((e) => e.data.uuid === uuid);
        await until(() => events().length > 0, 5000, 'the call.update of the call in the IVR');
        const [update] = events();
        assert.equal(update.event, 'call.update');
        assert.equal(update.data.event, 'call.update');
        assert.equal(update.data.lgDirection, 4);
        assert.equal(update.data.leg?.displayName, 'Queue', 'the IVR has the call');
        // Nobody has been dialled: the documented events come only when the call ends.
        await sleep(300);
        assert.deepEqual(
          events().map((e) => e.event),
          ['call.update'],
        );
        assert.equal((await s.admin('POST', `/api/v1/sim/calls/${uuid}/hangup`)).status, 204);
        await until(
          () => crm.hits.filter((h) => h.json.uuid === uuid && h.json.event === 'call.hangup').length === 1,
          5000,
          "the CRM's hangup",
        );
        assert.deepEqual(
          crm.hits.filter((h) => h.json.uuid === uuid).map((h) => h.json.event),
          ['call.dial', 'call.hangup'],
        );
      } finally {
        req.destroy();
        await crm.down();
      }
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`delivery log, replay, live stream, outgoing safety (${dialect})`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    let server: TestServer;
    let s: Session;
    before(async () => {
      server = await startServer(dialect, {
        config: {
          mode: 'production',
          outgoing: { allowPrivate: false },
          webhooks: { ...FAST_RETRY, retryForMs: 300 },
        },
      });
      s = await server.account('log.localhost');
      // Production mode gives an account that has not chosen only real phones; these calls are
      // answered by simulated ones, so the account chooses them (as a sandbox account would).
      const phones = await s.admin('PATCH', '/api/v1/account', { phones: 'simulated' });
      assert.equal(phones.status, 200, phones.text);
    });
    after(() => server.close());

    async function connection(body: Record<string, unknown>) {
      const r = await s.admin('POST', '/api/v1/crm-connections', { name: `crm ${Math.random()}`, ...body });
      assert.equal(r.status, 201, r.text);
      return r.json().id as number;
    }
    // biome-ignore lint/suspicious/noExplicitAny: test convenience
    const deliveries = async (id: number, q = ''): Promise<any[]> => {
      const r = await s.admin('GET', `/api/v1/crm-connections/${id}/deliveries${q}`);
      assert.equal(r.status, 200, r.text);
      return r.json();
    };

    test('production mode refuses CRM URLs on loopback, by address and by a name resolving to it', async () => {
      const crm = await receiver();
      for (const url of [
        crm.url,
        `http://localhost:${crm.port}/events`,
        `http://[::ffff:127.0.0.1]:${crm.port}/e`,
      ]) {
        const id = await connection({ eventsUrl: url });
        const t = await s.admin('POST', `/api/v1/crm-connections/${id}/test`);
        assert.equal(t.status, 200, t.text);
        await until(async () => (await deliveries(id))[0]?.status === 'failed', 5000, `refusal of ${url}`);
        const [d] = await deliveries(id);
        assert.match(d.lastError, /refused_address/);
        assert.equal(d.lastStatus, null);
      }
      assert.equal(crm.hits.length, 0, 'nothing reached the loopback receiver');
      await crm.down();
    });

    test('a signing secret must be a Standard Webhooks secret (base64, optional whsec_), as the SDK decodes it', async () => {
      const bad = await s.admin('POST', '/api/v1/crm-connections', {
        name: 'bad',
        secret: '!!!!!!!!!!!!!!!!!!!!',
      });
      assert.equal(bad.status, 400);
      assert.match(bad.text, /secret/);
      assert.match(String(bad.headers['content-type']), /^text\/plain/);
      const good = await s.admin('POST', '/api/v1/crm-connections', {
        name: 'good',
        secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}`,
      });
      assert.equal(good.status, 201);
      assert.equal(good.json().hasSecret, true);
    });

    test('a CRM that keeps failing is dead-lettered after the retry window, visible and replayable', async () => {
      // The retry window is 300 ms here (24 h by default).
      const id = await connection({ eventsUrl: 'http://203.0.113.1:9/x' });
      await s.admin('PATCH', `/api/v1/crm-connections/${id}`, { eventsUrl: 'http://crm.invalid/x' });
      assert.equal((await s.admin('POST', `/api/v1/crm-connections/${id}/test`)).status, 200);
      await until(async () => (await deliveries(id))[0]?.status === 'dead', 8000, 'dead-letter');
      const [d] = await deliveries(id, '?status=dead');
      assert.ok(d.attempts >= 2, `attempts ${d.attempts}`);
      assert.match(d.lastError, /network/);
      const one = await s.admin('GET', `/api/v1/deliveries/${d.id}`);
      assert.equal(one.json().status, 'dead');
      const r = await s.admin('POST', `/api/v1/deliveries/${d.id}/replay`);
      assert.equal(r.status, 200);
      assert.equal(r.json().replayed, 1);
      assert.equal((await s.admin('POST', '/api/v1/deliveries/999999/replay')).status, 404);
      assert.equal(
        (await s.admin('GET', `/api/v1/crm-connections/${id}/deliveries?status=bogus`)).status,
        400,
      );
      assert.equal((await s.admin('GET', '/api/v1/crm-connections/424242/deliveries')).status, 404);
    });

    test('the live stream sends the same event payloads over SSE', async () => {
      const received: { event: string; data: string; id: string }[] = [];
      const req = http.request(`${server.baseUrl}/api/v1/events/stream`, {
        headers: { host: s.host, authorization: `Bearer ${s.apiKey}` },
      });
      const opened = new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
      req.end();
      const res = await opened;
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f = Object.fromEntries(
            block
              .split('\n')
              .filter((l) => !l.startsWith(':') && l.includes(': '))
              .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
          );
          if (f.event) received.push(f as { event: string; data: string; id: string });
          i = buf.indexOf('\n\n');
        }
      });
      await s.admin('POST', '/api/v1/employees', { displayName: 'Second', ext: '002' });
      await s.admin('PUT', '/api/v1/sim/behaviours/employees/002', { mode: 'manual' });
      const r0 = await s.admin('POST', '/api/v1/sim/internal', { fromExt: '001', toExt: '002' });
      assert.ok(r0.status < 300, r0.text);
      await until(() => received.some((e) => e.event === 'call.dial'), 5000, 'an SSE event');
      const first = received.find((e) => e.event === 'call.dial')!;
      const data = JSON.parse(first.data);
      assert.equal(data.event, 'call.dial');
      assert.equal(data.accountDomain, 'log.localhost');
      assert.ok('serverTime' in data && 'otherLegs' in data && 'leg2' in data);
      // Ids are unique across the processes of a cluster: a sequence number and the process.
      assert.match(first.id, /^\d+-[0-9a-f]{8}$/);
      // End the call; a client reconnecting with Last-Event-ID gets exactly what came after it.
      const callUuid = data.parentUuid ?? data.uuid;
      assert.equal((await s.admin('POST', `/api/v1/sim/calls/${callUuid}/hangup`)).status, 204);
      await until(() => received.some((e) => e.event === 'call.hangup'), 5000, 'the hangup over SSE');
      req.destroy();
      const after = received.slice(received.indexOf(first) + 1);
      const again = http.request(`${s.server.baseUrl}/api/v1/events/stream`, {
        headers: { host: s.host, authorization: `Bearer ${s.apiKey}`, 'last-event-id': first.id },
      });
      const reopened = new Promise<http.IncomingMessage>((resolve) => again.on('response', resolve));
      again.end();
      const res2 = await reopened;
      let replay = '';
      res2.on('data', (c: Buffer) => {
        replay += c.toString('utf8');
      });
      await until(() => (replay.match(/^id: /gm) ?? []).length >= after.length, 5000, 'the replay');
      again.destroy();
      assert.deepEqual(
        [...replay.matchAll(/^id: (.+)$/gm)].map((m) => m[1]),
        after.map((e) => e.id),
      );
      // Without credentials: 403, plain text.
      const r = await s.server.request('GET', '/api/v1/events/stream', { host: s.host });
      assert.equal(r.status, 403);
    });
  });
}

describe('a server killed with SIGKILL in the middle of a burst loses no event (sqlite)', () => {
  test('restarted on the same database, it delivers every committed event; duplicates are counted', async (t) => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { openDatabase } = await import('../src/store/db.ts');
    const { createStore } = await import('../src/store/create-store.ts');
    const { spawnAppChild } = await import('./support/app-child-process.ts');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-kill-'));
    const file = path.join(dir, 'dzvin.sqlite');
    const crm = await receiver(() => ({ status: 200 }));
    // Set up the account and connection directly in the database.
    const db = await openDatabase(`sqlite:${file}`);
    const store = createStore(db.db);
    const account = await store.accounts.create({
      domain: 'kill.localhost',
      name: 'kill',
      apiKeyHash: 'x'.repeat(64),
      defaultCountry: 'UA',
      apiUserId: null,
      createdAt: Date.now(),
      recordingsNeedSession: false,
      // biome-ignore lint/suspicious/noExplicitAny: fields added by other migrations default in the database
    } as any);
    const conn = await store.directory.crm.create(
      account.id,
      {
        name: 'crm',
        callSettingsUrl: null,
        eventsUrl: crm.url,
        utmUrl: null,
        priority: 1,
        secret: null,
        enabled: true,
      },
      Date.now(),
    );
    await db.close();

    const child = (burst: boolean) => {
      const c = spawnAppChild({
        DZVIN_CHILD_DB: file,
        ...(burst ? { DZVIN_CHILD_BURST: `${conn.id}:${account.id}` } : {}),
      });
      return {
        ...c,
        get committed() {
          return c.lines.filter((l) => l.startsWith('committed ')).map((l) => l.slice(10));
        },
        isReady: () => c.lines.includes('ready'),
      };
    };

    const first = child(true);
    await until(() => first.committed.length >= 300 && crm.hits.length >= 100, 60_000, 'a burst under way');
    first.p.kill('SIGKILL');
    await first.exited;
    const committed = [...first.committed];
    const second = child(false);
    try {
      const want = new Set(
        committed.flatMap((u) => ['call.dial', 'call.bridge', 'call.hangup'].map((e) => `${u}/${e}`)),
      );
      const got = () => new Set(crm.hits.map((h) => `${h.json.uuid}/${h.json.event}`));
      await until(
        () => [...want].every((k) => got().has(k)),
        60_000,
        'every committed event after the restart',
      );
      const seen = new Map<string, number>();
      for (const h of crm.hits) {
        const k = `${h.json.uuid}/${h.json.event}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
      const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);
      // In order per call: the first arrival of each event keeps dial < bridge < hangup.
      for (const u of committed) {
        const order = crm.hits
          .filter((h) => h.json.uuid === u)
          .map((h) => h.json.event)
          .filter((e, i, all) => all.indexOf(e) === i);
        assert.deepEqual(order, ['call.dial', 'call.bridge', 'call.hangup'], `order of ${u}`);
      }
      t.diagnostic(
        `committed calls before SIGKILL: ${committed.length} (${want.size} events); received ${crm.hits.length} requests; duplicates: ${duplicates}; lost: 0`,
      );
    } finally {
      second.p.kill('SIGTERM');
      await second.exited;
      await crm.down();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
