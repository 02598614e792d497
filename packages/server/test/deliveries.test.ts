// Call events to CRMs through the durable outbox (spec #18), against real receivers on loopback.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OutboxEntry } from '../src/integrations/outbox.ts';
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
      await until(() => crm.hits.length >= 2, 5000, 'dial events');
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
      const legs = crm.hits.filter((h) => h.json.parentUuid === uuid);
      assert.deepEqual(
        [...new Set(legs.map((h) => h.json.event))],
        ['call.dial', 'call.bridge', 'call.hangup'],
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
      const legHangup = legs.find((h) => h.json.event === 'call.hangup')!;
      assert.equal(legHangup.json.leg.ext, '001');
      assert.ok(legHangup.json.bridgeAt > 1e12);
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
      const list = await s.admin(
        'GET',
        `/api/v1/crm-connections/${id}/deliveries?status=delivered&limit=100`,
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

    test('a CRM that hangs does not delay deliveries to another CRM', async () => {
      const slow = await receiver(() => 'hang');
      const fast = await receiver();
      const slowId = await connection({ eventsUrl: slow.url });
      const fastId = await connection({ eventsUrl: fast.url });
      const entries: OutboxEntry[] = [];
      for (let i = 0; i < 60; i++) entries.push(ev(slowId, `slow-${i}`, 0));
      for (let i = 0; i < 20; i++) entries.push(ev(fastId, `fast-${i}`, 0));
      const t0 = Date.now();
      await enqueue(entries);
      await until(() => fast.hits.length === 20, 1500, 'the fast CRM');
      assert.ok(Date.now() - t0 < 1500);
      await disable(slowId);
      await disable(fastId);
      await slow.down();
      await fast.down();
    });
  });
}
