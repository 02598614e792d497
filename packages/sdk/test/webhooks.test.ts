// The webhook receiver with real HTTP deliveries on loopback into each adapter (node:http,
// Express-style (req, res, next) — Express itself is not installed, so it runs under node:http —
// and Fastify), as plain HTTP POSTs of the documented payloads signed like Standard Webhooks
// senders sign them. dispatcher.test.ts has deliveries from Dzvin's own dispatcher.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  type CallEvent,
  type CallSettingsRequest,
  createMemoryDedupeStore,
  createWebhookHandler,
  type DedupeStore,
  PHONET_SOURCE_IPS,
  signWebhook,
  type UtmItem,
  verifyWebhookSignature,
  type WebhookHandlerOptions,
} from '@dzvin/sdk';
import {
  buildCallEvent,
  buildCallEvents,
  buildCallSettingsRequest,
  buildUtmItem,
  deliverWebhook,
  generateWebhookSecret,
  toForm,
} from '@dzvin/sdk/testing';
import Fastify from 'fastify';

/** What the callbacks received. */
function recorder() {
  const got = {
    events: [] as CallEvent[],
    named: [] as string[],
    settings: [] as CallSettingsRequest[],
    utm: [] as UtmItem[][],
  };
  const options: WebhookHandlerOptions = {
    onCallSettings: (r) => {
      got.settings.push(r);
      return r.otherLegNum === '+380442246595'
        ? {
            name: 'Іван Іваненко',
            url: 'http://crm.example/c/1',
            urlText: 'Іван Іваненко',
            newEntry: false,
            responsibleEmployeeExt: '001',
          }
        : null;
    },
    onCallEvent: (e) => {
      got.events.push(e);
    },
    on: {
      'call.dial': (e) => {
        got.named.push(`dial:${e.bridgeAt}`);
      },
      'call.bridge': (e) => {
        got.named.push(`bridge:${typeof e.bridgeAt}`);
      },
    },
    onUtm: (items) => {
      got.utm.push(items);
    },
  };
  return { got, options };
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const closeServer = (server: http.Server) => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
};

describe('createWebhookHandler over node:http', () => {
  const { got, options } = recorder();
  let failNext = false;
  const server = http.createServer(
    createWebhookHandler({
      ...options,
      onCallEvent: (e) => {
        if (failNext) {
          failNext = false;
          throw new Error('database down');
        }
        got.events.push(e);
      },
      settingsTimeoutMs: 300,
      maxBodyBytes: 64 * 1024,
    }).node,
  );
  let url: string;
  before(async () => {
    url = await listen(server);
  });
  after(() => closeServer(server));

  test('call.settings: a known number is answered with otherLeg, an unknown one with otherLeg null', async () => {
    const known = await deliverWebhook(url, buildCallSettingsRequest({ otherLegNum: '+380442246595' }));
    assert.equal(known.status, 200);
    assert.match(String(known.headers['content-type']), /^application\/json/);
    assert.deepEqual(known.json, {
      otherLeg: {
        name: 'Іван Іваненко',
        url: 'http://crm.example/c/1',
        urlText: 'Іван Іваненко',
        newEntry: false,
        responsibleEmployeeExt: '001',
      },
    });
    const unknown = await deliverWebhook(url, { request: 'call.settings', otherLegNum: '+380999999999' });
    assert.deepEqual(unknown.json, { otherLeg: null });
    assert.deepEqual(got.settings.at(-1), {
      request: 'call.settings',
      otherLegNum: '+380999999999',
      trunkNum: null,
    });
  });

  test('call events reach onCallEvent and the per-name callbacks, narrowed; repeats of (uuid, event) are dropped', async () => {
    const [dial, bridge, hangup] = buildCallEvents();
    for (const e of [dial, bridge, dial, hangup, bridge, hangup]) {
      const r = await deliverWebhook(url, e);
      assert.equal(r.status, 200, r.text);
    }
    const mine = got.events.filter((e) => e.uuid === dial.uuid);
    assert.deepEqual(
      mine.map((e) => e.event),
      ['call.dial', 'call.bridge', 'call.hangup'],
    );
    assert.deepEqual(got.named.slice(-2), ['dial:null', 'bridge:number']);
    const dup = await deliverWebhook(url, hangup);
    assert.deepEqual(dup.json, { ok: true, duplicate: true });
    // The same uuid with another event is not a repeat (spec #11).
    assert.deepEqual(mine[0], dial, 'JSON payloads arrive as sent');
  });

  test('a callback that throws answers 500 and the redelivery is handled (not dropped as a repeat)', async () => {
    const e = buildCallEvent('call.hangup');
    failNext = true;
    assert.equal((await deliverWebhook(url, e)).status, 500);
    assert.equal((await deliverWebhook(url, e)).status, 200);
    assert.equal(got.events.filter((x) => x.uuid === e.uuid).length, 1);
  });

  test('a form-encoded body is accepted: nested keys, numbers, nulls and second timestamps restored', async () => {
    const e = buildCallEvent('call.dial', { dialAt: 1_431_686_100, serverTime: 1_431_686_101_000 });
    const r = await deliverWebhook(url, e, { form: true });
    assert.equal(r.status, 200, r.text);
    const received = got.events.find((x) => x.uuid === e.uuid);
    assert.ok(received);
    assert.equal(received.event, 'call.dial');
    assert.equal(received.dialAt, 1_431_686_100_000, 'seconds read as milliseconds (spec #1)');
    assert.equal(received.bridgeAt, null);
    assert.equal(received.parentUuid, null);
    assert.equal(received.lgDirection, 4);
    assert.deepEqual(received.leg, { id: 1, ext: '001', displayName: 'Олена Коваленко' });
    assert.equal(received.leg2, null);
    assert.equal(received.otherLegs[0].priority, 1);
    assert.equal(received.otherLegs[0].name, 'Анастасія Березкіна');

    const lookup = await deliverWebhook(
      url,
      { request: 'call.settings', otherLegNum: '+380442246595', trunkNum: '0800218500' },
      { form: true },
    );
    assert.equal((lookup.json as { otherLeg: { name: string } }).otherLeg.name, 'Іван Іваненко');
    // JSON sent with a form Content-Type (as `curl --data` does) is still JSON.
    const curlish = await deliverWebhook(url, buildCallEvent('call.bridge'), {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(curlish.status, 200);
  });

  test('UTM batches: items handed over once (by callParentUuid), also as a form', async () => {
    const batch = [buildUtmItem(), buildUtmItem({ label: 'callcatcher\n firstcall' })];
    assert.equal((await deliverWebhook(url, batch)).status, 200);
    assert.deepEqual(got.utm.at(-1), batch);
    const again = await deliverWebhook(url, [...batch, buildUtmItem({ utmSource: 'facebook' })]);
    assert.deepEqual(again.json, { ok: true, accepted: 1 });
    assert.equal(got.utm.at(-1)?.[0].utmSource, 'facebook');
    const form = await deliverWebhook(url, [buildUtmItem({ callDate: 1_549_954_944 })], { form: true });
    assert.equal(form.status, 200, form.text);
    assert.equal(got.utm.at(-1)?.[0].callDate, 1_549_954_944_000);
  });

  test('slow lookups are answered with otherLeg null before the PBX gives up; odd requests get clear statuses', async () => {
    const slow = http.createServer(
      createWebhookHandler({
        onCallSettings: () => new Promise((r) => setTimeout(() => r({ name: 'late' }), 2_000)),
        settingsTimeoutMs: 200,
      }).node,
    );
    const slowUrl = await listen(slow);
    try {
      const t0 = Date.now();
      const r = await deliverWebhook(slowUrl, buildCallSettingsRequest());
      assert.deepEqual(r.json, { otherLeg: null });
      assert.ok(Date.now() - t0 < 1_000);
    } finally {
      await closeServer(slow);
    }
    const get = await fetch(url);
    assert.equal(get.status, 405);
    assert.equal(
      (await deliverWebhook(url, { hello: 'world' })).status,
      202,
      'unknown shapes are acknowledged, not retried',
    );
    const broken = await fetch(url, {
      method: 'POST',
      body: '{"event": ',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(broken.status, 400);
    const huge = await fetch(url, { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(70_000) }) });
    assert.equal(huge.status, 413);
  });
});

describe('source addresses and trusted proxies', () => {
  const servers: http.Server[] = [];
  const start = async (o: WebhookHandlerOptions) => {
    const s = http.createServer(createWebhookHandler(o).node);
    servers.push(s);
    return listen(s);
  };
  after(() => Promise.all(servers.map(closeServer)));

  test('a sender outside allowIps is refused with 403 (and its callback never runs)', async () => {
    let calls = 0;
    const url = await start({ allowIps: ['127.0.0.1', '10.0.0.0/8'], onCallEvent: () => void calls++ });
    const refused = await deliverWebhook(url, buildCallEvent('call.dial'), { localAddress: '127.0.0.2' });
    assert.equal(refused.status, 403);
    assert.equal(calls, 0);
    assert.equal(
      (await deliverWebhook(url, buildCallEvent('call.dial'), { localAddress: '127.0.0.1' })).status,
      200,
    );
    assert.equal(calls, 1);
    // X-Forwarded-For from an untrusted peer changes nothing.
    const spoofed = await deliverWebhook(url, buildCallEvent('call.dial'), {
      localAddress: '127.0.0.2',
      headers: { 'x-forwarded-for': '127.0.0.1' },
    });
    assert.equal(spoofed.status, 403);
  });

  test("behind a trusted proxy the forwarded address decides: Phonet's published addresses pass", async () => {
    const seen: string[] = [];
    const url = await start({
      allowIps: PHONET_SOURCE_IPS,
      trustedProxies: ['127.0.0.3'],
      onCallEvent: (_e, ctx) => void seen.push(ctx.ip),
    });
    const via = (xff: string, localAddress = '127.0.0.3') =>
      deliverWebhook(url, buildCallEvent('call.hangup'), {
        localAddress,
        headers: { 'x-forwarded-for': xff },
      });
    assert.equal((await via('203.0.113.9, 89.184.65.208')).status, 200);
    assert.deepEqual(seen, ['89.184.65.208']);
    assert.equal(
      (await via('89.184.65.208, 203.0.113.9')).status,
      403,
      'the right-most untrusted hop counts',
    );
    assert.equal((await via('89.184.65.208', '127.0.0.4')).status, 403, 'not from the trusted proxy');
    assert.equal(PHONET_SOURCE_IPS.length, 6);
  });
});

describe('Standard Webhooks signatures', () => {
  test('the published test vector verifies', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"test": 2432232314}';
    const sig = signWebhook(secret, { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body });
    assert.equal(sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    const headers = {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': `v1,bm9wZQ== ${sig}`,
    };
    assert.equal(
      verifyWebhookSignature(secret, headers, body, { nowSec: 1614265330 + 10 }),
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
    );
    assert.throws(
      () => verifyWebhookSignature(secret, headers, body, { nowSec: 1614265330 + 3600 }),
      /too far/,
    );
  });

  test('signed deliveries pass; unsigned, wrongly signed, tampered or stale ones get 401', async () => {
    const secret = generateWebhookSecret();
    const ids: (string | null)[] = [];
    const server = http.createServer(
      createWebhookHandler({ secret, onCallEvent: (_e, ctx) => void ids.push(ctx.webhookId) }).node,
    );
    const url = await listen(server);
    try {
      const ok = await deliverWebhook(url, buildCallEvent('call.dial'), {
        secret,
        signature: { id: 'msg_1' },
      });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ids, ['msg_1']);
      // The secret without its whsec_ prefix is the same key.
      assert.equal(
        (await deliverWebhook(url, buildCallEvent('call.dial'), { secret: secret.slice(6) })).status,
        200,
      );
      assert.equal((await deliverWebhook(url, buildCallEvent('call.dial'))).status, 401, 'unsigned');
      const wrong = await deliverWebhook(url, buildCallEvent('call.dial'), {
        secret: generateWebhookSecret(),
      });
      assert.equal(wrong.status, 401);
      assert.match(wrong.text, /signature/);
      const stale = await deliverWebhook(url, buildCallEvent('call.dial'), {
        secret,
        signature: { timestamp: Math.floor(Date.now() / 1000) - 3600 },
      });
      assert.equal(stale.status, 401, 'replays outside the tolerance');
      // Tampered: signed for one body, another sent. An independent HMAC (node:crypto directly).
      const body = JSON.stringify(buildCallEvent('call.bridge'));
      const ts = Math.floor(Date.now() / 1000);
      const key = Buffer.from(secret.slice(6), 'base64');
      const sig = createHmac('sha256', key).update(`msg_2.${ts}.${body}`).digest('base64');
      const send = (b: string) =>
        fetch(url, {
          method: 'POST',
          body: b,
          headers: {
            'content-type': 'application/json',
            'webhook-id': 'msg_2',
            'webhook-timestamp': String(ts),
            'webhook-signature': `v1,${sig}`,
          },
        });
      assert.equal((await send(body)).status, 200, 'an independent signer is accepted');
      assert.equal((await send(body.replace('call.bridge', 'call.hangup'))).status, 401, 'tampered');
      // Signed form bodies work too: the signature covers the raw bytes.
      assert.equal(
        (await deliverWebhook(url, buildCallEvent('call.hangup'), { secret, form: true })).status,
        200,
      );
    } finally {
      await closeServer(server);
    }
  });
});

describe('the Express-style (req, res, next) adapter, under node:http', () => {
  const { got, options } = recorder();
  const secret = generateWebhookSecret();
  const plain = createWebhookHandler(options);
  const signed = createWebhookHandler({ ...options, secret });
  const nextCalls: unknown[] = [];
  // A tiny Express stand-in: /pre-parsed runs a JSON body parser first (like express.json()).
  const server = http.createServer((req, res) => {
    const next = (err?: unknown) => {
      nextCalls.push(err);
      res.writeHead(err ? 500 : 404).end(err ? String(err) : 'next');
    };
    const handler = req.url?.startsWith('/signed') ? signed : plain;
    if (!req.url?.endsWith('/pre-parsed')) return handler.express(req, res, next);
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      (req as http.IncomingMessage & { body?: unknown }).body = JSON.parse(
        Buffer.concat(chunks).toString() || '{}',
      );
      handler.express(req, res, next);
    });
  });
  let url: string;
  before(async () => {
    url = await listen(server);
  });
  after(() => closeServer(server));

  test('delivers, drops duplicates, accepts forms; non-POST goes to next()', async () => {
    const e = buildCallEvent('call.bridge');
    assert.equal((await deliverWebhook(url, e)).status, 200);
    assert.deepEqual((await deliverWebhook(url, e)).json, { ok: true, duplicate: true });
    assert.equal((await deliverWebhook(url, buildCallEvent('call.dial'), { form: true })).status, 200);
    assert.equal(got.events.length, 2);
    const lookup = await deliverWebhook(url, buildCallSettingsRequest({ otherLegNum: '+380442246595' }));
    assert.equal(
      (lookup.json as { otherLeg: { responsibleEmployeeExt: string } }).otherLeg.responsibleEmployeeExt,
      '001',
    );
    assert.equal((await fetch(url)).status, 404);
    assert.deepEqual(nextCalls, [undefined]);
  });

  test('after a body parser: the parsed body is used; with a secret that is an error passed to next()', async () => {
    assert.equal((await deliverWebhook(`${url}/pre-parsed`, buildCallEvent('call.hangup'))).status, 200);
    assert.equal(
      (await deliverWebhook(`${url}/signed`, buildCallEvent('call.hangup'), { secret })).status,
      200,
    );
    assert.equal(
      (
        await deliverWebhook(`${url}/signed`, buildCallEvent('call.hangup'), {
          secret: generateWebhookSecret(),
        })
      ).status,
      401,
    );
    const r = await deliverWebhook(`${url}/signed/pre-parsed`, buildCallEvent('call.hangup'), { secret });
    assert.equal(r.status, 500);
    assert.match(String(nextCalls.at(-1)), /raw body/);
  });
});

describe('the Fastify plugin', () => {
  const { got, options } = recorder();
  const secret = generateWebhookSecret();
  const app = Fastify();
  let url: string;
  before(async () => {
    app.get('/health', async () => ({ ok: true }));
    app.post('/json', async (req) => ({ echo: req.body }));
    await app.register(createWebhookHandler({ ...options, allowIps: ['127.0.0.1'] }).fastify, {
      path: '/phonet',
    });
    await app.register(createWebhookHandler({ ...options, secret }).fastify, { path: '/signed' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(() => app.close());

  test('JSON and form deliveries, duplicates dropped, the rest of the app untouched', async () => {
    const [dial, bridge] = buildCallEvents();
    assert.equal((await deliverWebhook(`${url}/phonet`, dial)).status, 200);
    assert.equal((await deliverWebhook(`${url}/phonet`, bridge, { form: true })).status, 200);
    assert.deepEqual((await deliverWebhook(`${url}/phonet`, dial)).json, { ok: true, duplicate: true });
    assert.deepEqual(
      got.events.map((e) => e.event),
      ['call.dial', 'call.bridge'],
    );
    const lookup = await deliverWebhook(
      `${url}/phonet`,
      buildCallSettingsRequest({ otherLegNum: '+380442246595' }),
    );
    assert.equal((lookup.json as { otherLeg: { name: string } }).otherLeg.name, 'Іван Іваненко');
    assert.equal((await deliverWebhook(`${url}/phonet`, [buildUtmItem()])).status, 200);
    assert.equal(got.utm.length, 1);
    // The app's own JSON route still parses JSON.
    const echo = await fetch(`${url}/json`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual(await echo.json(), { echo: { a: 1 } });
  });

  test('a disallowed address and a bad signature are refused', async () => {
    assert.equal(
      (await deliverWebhook(`${url}/phonet`, buildCallEvent('call.dial'), { localAddress: '127.0.0.2' }))
        .status,
      403,
    );
    assert.equal(
      (await deliverWebhook(`${url}/signed`, buildCallEvent('call.dial'), { secret })).status,
      200,
    );
    assert.equal(
      (
        await deliverWebhook(`${url}/signed`, buildCallEvent('call.dial'), {
          secret: generateWebhookSecret(),
        })
      ).status,
      401,
    );
    const body = toForm(buildCallEvent('call.dial'));
    const unsigned = await fetch(`${url}/signed`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(unsigned.status, 401);
  });
});

describe('deduplication stores', () => {
  test('a pluggable store is asked to claim (uuid, event) keys and to release them after a failure', async () => {
    const claimed = new Set<string>();
    const calls: string[] = [];
    const store: DedupeStore = {
      claim: async (key) => {
        calls.push(`claim ${key}`);
        if (claimed.has(key)) return false;
        claimed.add(key);
        return true;
      },
      release: async (key) => {
        calls.push(`release ${key}`);
        claimed.delete(key);
      },
    };
    let fail = true;
    const h = createWebhookHandler({
      dedupe: store,
      onCallEvent: () => {
        if (fail) {
          fail = false;
          throw new Error('x');
        }
      },
    });
    const e = buildCallEvent('call.dial', { uuid: 'u1' });
    const deliver = () =>
      h.handle({ method: 'POST', headers: {}, remoteAddress: '127.0.0.1', body: JSON.stringify(e) });
    assert.equal((await deliver()).status, 500);
    assert.equal((await deliver()).status, 200);
    assert.match((await deliver()).body, /duplicate/);
    assert.deepEqual(calls, [
      'claim u1:call.dial',
      'release u1:call.dial',
      'claim u1:call.dial',
      'claim u1:call.dial',
    ]);
  });

  test('the in-memory store evicts the least recently used key and forgets keys after the TTL', () => {
    let now = 0;
    const s = createMemoryDedupeStore({ max: 2, ttlMs: 1000, now: () => now });
    assert.equal(s.claim('a'), true);
    assert.equal(s.claim('b'), true);
    assert.equal(s.claim('a'), false, 'a is now the most recently used');
    assert.equal(s.claim('c'), true, 'evicts b');
    assert.equal(s.claim('b'), true, 'b was forgotten');
    assert.equal(s.size, 2);
    now = 5000;
    assert.equal(s.claim('b'), true, 'expired');
    const off = createWebhookHandler({ dedupe: false, onCallEvent: () => {} });
    return Promise.all(
      [1, 2].map(() =>
        off.handle({
          method: 'POST',
          headers: {},
          remoteAddress: '::1',
          body: JSON.stringify(buildCallEvent('call.dial', { uuid: 'same' })),
        }),
      ),
    ).then((rs) =>
      assert.deepEqual(
        rs.map((r) => r.body),
        ['{"ok":true}', '{"ok":true}'],
      ),
    );
  });
});
