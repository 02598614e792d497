// Real deliveries from Dzvin's own dispatcher (the durable outbox of issue 4) into each adapter
// of the SDK's webhook receiver: node:http, Express-style (req, res, next) under node:http, and
// Fastify. Signed and unsigned connections, repeats dropped, a wrong secret refused.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CallEvent, createWebhookHandler, type WebhookHandlerOptions } from '@dzvin/sdk';
import { generateWebhookSecret } from '@dzvin/sdk/testing';
import Fastify from 'fastify';
import { type Session, startServer, type TestServer } from '../../server/test/support/harness.ts';

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** One receiver: what its callbacks got, and how many POSTs reached it at all. */
interface Receiver {
  name: string;
  url: string;
  events: CallEvent[];
  bridgeAtOnDial: unknown[];
  posts: number;
  close(): Promise<void>;
}

function callbacks(r: Pick<Receiver, 'events' | 'bridgeAtOnDial'>): WebhookHandlerOptions {
  return {
    onCallEvent: (e) => {
      r.events.push(e);
    },
    on: {
      // Narrowed by name: on call.dial bridgeAt is null by type.
      'call.dial': (e) => {
        r.bridgeAtOnDial.push(e.bridgeAt);
      },
    },
  };
}

async function nodeReceiver(name: string, secret?: string, express = false): Promise<Receiver> {
  const r = { name, events: [] as CallEvent[], bridgeAtOnDial: [] as unknown[], posts: 0 };
  const handler = createWebhookHandler({ ...callbacks(r), secret });
  const server = http.createServer((req, res) => {
    r.posts++;
    if (!express) return handler.node(req, res);
    handler.express(req, res, (err) => {
      res.writeHead(err ? 500 : 404).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    ...r,
    get events() {
      return r.events;
    },
    get posts() {
      return r.posts;
    },
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/phonet`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

async function fastifyReceiver(name: string): Promise<Receiver> {
  const r = { name, events: [] as CallEvent[], bridgeAtOnDial: [] as unknown[], posts: 0 };
  const app = Fastify({ logger: false });
  app.addHook('onRequest', async () => {
    r.posts++;
  });
  await app.register(createWebhookHandler(callbacks(r)).fastify, { path: '/phonet' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    ...r,
    get events() {
      return r.events;
    },
    get posts() {
      return r.posts;
    },
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/phonet`,
    close: () => app.close(),
  };
}

describe("deliveries from Dzvin's dispatcher into the SDK receiver", () => {
  let server: TestServer;
  let s: Session;
  const secret = generateWebhookSecret();
  const receivers: Receiver[] = [];
  const connections = new Map<string, number>();
  let refusing: Receiver;
  let refusingId: number;

  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await s.admin(method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.status === 204 ? null : r.json();
  };

  before(async () => {
    server = await startServer('sqlite', {
      config: {
        webhooks: {
          retryBaseMs: 30,
          retryCapMs: 200,
          retryForMs: 86_400_000,
          timeoutMs: 2_000,
          concurrencyPerConnection: 16,
          leaseMs: 60_000,
        },
      },
    });
    s = await server.account('sdk-deliveries.localhost');
    receivers.push(
      await nodeReceiver('node:http, signed', secret),
      await nodeReceiver('express-style', undefined, true),
      await fastifyReceiver('fastify'),
    );
    for (const r of receivers) {
      const c = await admin('POST', '/api/v1/crm-connections', {
        name: r.name,
        eventsUrl: r.url,
        ...(r.name.includes('signed') ? { secret } : {}),
      });
      connections.set(r.name, c.id);
    }
    // A receiver that expects another secret than the connection signs with: refuses (401).
    refusing = await nodeReceiver('wrong secret', generateWebhookSecret());
    refusingId = (
      await admin('POST', '/api/v1/crm-connections', { name: refusing.name, eventsUrl: refusing.url, secret })
    ).id;
    const [employee] = await admin('GET', '/api/v1/employees');
    await admin('POST', '/api/v1/trunks', {
      number: '+380441239876',
      name: 'Main',
      destination: { type: 'employee', id: employee.id },
    });
    await admin('PUT', `/api/v1/sim/behaviours/employees/${employee.ext}`, { mode: 'manual' });
  });
  after(async () => {
    await server?.close();
    for (const r of [...receivers, refusing]) await r?.close();
  });

  test('a call arrives at every adapter: dial, bridge, hangup in order, narrowed; repeats are dropped', async () => {
    const { uuid } = await admin('POST', '/api/v1/sim/calls', {
      from: '+380671230001',
      trunk: '+380441239876',
    });
    await sleep(50);
    await admin('POST', `/api/v1/sim/calls/${uuid}/answer`, {});
    await sleep(50);
    await admin('POST', `/api/v1/sim/calls/${uuid}/hangup`, {});
    const company = (r: Receiver) => r.events.filter((e) => e.uuid === uuid).map((e) => e.event);
    for (const r of receivers) {
      await until(() => company(r).length === 3, `${r.name}: three events of the call`);
      assert.deepEqual(company(r), ['call.dial', 'call.bridge', 'call.hangup'], r.name);
      const dial = r.events.find((e) => e.uuid === uuid && e.event === 'call.dial');
      const bridge = r.events.find((e) => e.uuid === uuid && e.event === 'call.bridge');
      assert.equal(dial?.bridgeAt, null, `${r.name}: no bridgeAt on dial`);
      assert.equal(typeof bridge?.bridgeAt, 'number', `${r.name}: bridgeAt on bridge`);
      assert.ok(
        r.bridgeAtOnDial.every((b) => b === null),
        `${r.name}: the call.dial callback got dials only`,
      );
      // A direct call is one call: no second uuid for the employee's leg.
      assert.ok(!r.events.some((e) => e.parentUuid === uuid), `${r.name}: one uuid per phone call`);
    }

    // Every delivery sent again (replay): the receivers drop them as repeats of (uuid, event).
    // First every outcome must be recorded (a delivery is marked delivered just after the POST).
    const deliveries = (r: Receiver, status: string) =>
      admin(
        'GET',
        `/api/v1/crm-connections/${connections.get(r.name)}/deliveries?status=${status}&limit=100`,
      );
    for (const r of receivers)
      await until(async () => (await deliveries(r, 'pending')).length === 0, `${r.name}: outcomes recorded`);
    const before = receivers.map((r) => ({ events: r.events.length, posts: r.posts }));
    for (const r of receivers) {
      const delivered = (await deliveries(r, 'delivered')).length;
      assert.ok(delivered >= 3, `${r.name}: ${delivered} delivered (the call's 3 events)`);
      const replay = await admin(
        'POST',
        `/api/v1/crm-connections/${connections.get(r.name)}/deliveries/replay`,
        {
          statuses: ['delivered'],
        },
      );
      assert.equal(replay.replayed, delivered, `${r.name}: every delivered one replayed`);
    }
    for (const [i, r] of receivers.entries()) {
      await until(() => r.posts >= before[i].posts * 2, `${r.name}: the replayed deliveries`);
      await until(
        async () =>
          (await admin('GET', `/api/v1/crm-connections/${connections.get(r.name)}/deliveries?status=pending`))
            .length === 0,
        `${r.name}: replays delivered`,
      );
      assert.equal(r.events.length, before[i].events, `${r.name}: repeats dropped, not handled twice`);
    }
  });

  test('a receiver with another secret refuses the signed deliveries (401, final, in the log)', async () => {
    await until(
      async () =>
        (await admin('GET', `/api/v1/crm-connections/${refusingId}/deliveries?status=failed`)).length > 0,
      'a failed delivery in the log',
    );
    const [failed] = await admin('GET', `/api/v1/crm-connections/${refusingId}/deliveries?status=failed`);
    assert.equal(failed.lastStatus, 401);
    assert.equal(failed.attempts, 1, 'a 401 is final: not retried');
    assert.equal(refusing.events.length, 0);
    assert.ok(refusing.posts > 0);
  });
});
