// The database goes away in the middle of a call (issue 4/7: nothing is ever lost): PostgreSQL
// refuses connections and every open one is cut. The call's bridge event and its finished record
// cannot be written meanwhile; they are retried, in order, and land once the database is back:
// the CRM gets dial, bridge and hangup, the history has the call, nothing is written twice.
// REST requests that need the database meanwhile get 503 + Retry-After, never a 500.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { defaultConfig } from '../src/index.ts';
import { type CrmReceiver, startCrmReceiver } from './support/crm-receiver.ts';
import { dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { sleep, until } from './support/wait.ts';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: process.env.DZVIN_TEST_PG_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('PostgreSQL goes away in the middle of a call', { skip: dialectSkipReason('postgres') }, () => {
  let server: TestServer;
  let s: Session;
  let crm: CrmReceiver;
  let dbName = '';

  before(async () => {
    // The default delivery lease (a minute): a claim whose reply the outage cuts must not wait
    // it out (the dispatcher gives back rows leased to it that it does not hold).
    assert.ok(defaultConfig().webhooks.leaseMs >= 60_000);
    server = await startServer('postgres');
    s = await server.account('outage.localhost');
    dbName = new URL(server.built.database.description.replace(/^PostgreSQL /, 'postgres://')).pathname.slice(
      1,
    );
    crm = await startCrmReceiver('/events');
    crm.answer = () => ({ status: 200, body: '{}' });
    const e = await s.admin('POST', '/api/v1/crm-connections', {
      name: 'CRM',
      eventsUrl: crm.url,
      priority: 1,
    });
    assert.equal(e.status, 201, e.text);
    const account = (await server.built.store.accounts.byDomain('outage.localhost'))!;
    const e001 = (await server.built.store.directory.employees.byExt(account.id, '001'))!;
    await server.built.services.directory.trunks.create(account, {
      number: '+380443334455',
      name: 'Main',
      destination: { type: 'employee', id: e001.id },
      isDefault: true,
    });
    assert.equal(
      (await s.admin('PUT', '/api/v1/sim/behaviours/employees/001', { mode: 'manual' })).status,
      204,
    );
  });
  after(async () => {
    await admin((c) => c.query(`ALTER DATABASE "${dbName}" WITH ALLOW_CONNECTIONS true`)).catch(() => {});
    await server?.close();
    await crm?.close();
  });

  async function cut() {
    await admin(async (c) => {
      await c.query(`ALTER DATABASE "${dbName}" WITH ALLOW_CONNECTIONS false`);
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [dbName]);
    });
  }
  const restore = () => admin((c) => c.query(`ALTER DATABASE "${dbName}" WITH ALLOW_CONNECTIONS true`));

  test('the bridge and the finished call are written once the database is back; the CRM gets every event once', async () => {
    const { built } = server;
    const account = (await built.store.accounts.byDomain('outage.localhost'))!;
    const { uuid } = await built.simulator.sim.incoming(account, '+380501112233', '+380443334455');
    await until(
      () => crm.requests.some((r) => r.json?.uuid === uuid && r.json?.event === 'call.dial'),
      'the dial delivered',
      20_000,
    );

    await cut();
    // While it is away: the answer (a bridge event to write) and the hangup (a record to save).
    await built.simulator.sim.answer(account.id, uuid);
    const hangup = built.simulator.engine.hangup(account.id, uuid);
    // REST that needs the database: 503 with Retry-After, not a 500 (the session is new to it).
    const r = await server.request('POST', '/rest/security/authorize', {
      host: s.host,
      body: { domain: 'outage.localhost', apiKey: s.apiKey },
    });
    assert.equal(r.status, 503, `${r.status} ${r.text}`);
    assert.equal(r.headers['retry-after'], '5');
    assert.equal(r.text, 'Database unavailable; try again shortly');
    await sleep(1_500);
    assert.ok(!crm.requests.some((x) => x.json?.uuid === uuid && x.json?.event === 'call.hangup'));
    await restore();

    await hangup;
    await built.simulator.engine.idle();
    await until(
      () => crm.requests.some((x) => x.json?.uuid === uuid && x.json?.event === 'call.hangup'),
      'the hangup delivered after the outage',
      20_000,
    ).catch(async (err) => {
      const rows = await built.database.db.selectFrom('outbox').selectAll().execute();
      throw new Error(
        `${err.message}; received ${JSON.stringify(crm.requests.map((x) => [x.json?.uuid === uuid, x.json?.event]))}; outbox ${JSON.stringify(rows.map((r) => [r.status, r.attempts, r.next_attempt_at - Date.now(), r.lease_until ? r.lease_until - Date.now() : null, r.last_error]))}`,
      );
    });
    const mine = crm.requests.filter((x) => x.json?.uuid === uuid).map((x) => x.json.event);
    assert.deepEqual(mine, ['call.dial', 'call.bridge', 'call.hangup']);
    assert.ok(await built.store.calls.byUuid(uuid), 'the call is in the history');
    const now = Date.now();
    const history = await s.get(
      `/rest/calls/company.api?timeFrom=${now - 600_000}&timeTo=${now + 60_000}&limit=50`,
    );
    assert.equal(history.status, 200, history.text);
    const rows = (history.json() as { uuid: string; disposition: number }[]).filter((c) => c.uuid === uuid);
    assert.equal(rows.length, 1, 'saved once');
    assert.equal(rows[0].disposition, 0, 'answered');
  });

  test('rows a lost claim left leased to this process go out when the database is back, not a lease later', async () => {
    const { built } = server;
    const account = (await built.store.accounts.byDomain('outage.localhost'))!;
    const [connection] = await built.store.directory.crm.list(account.id);
    const webhookId = `msg_orphan_${Date.now()}`;
    // What a claim cut between its commit and its reply leaves behind: a pending row leased to
    // this dispatcher for the whole default lease, which the dispatcher never received.
    const now = Date.now();
    await built.database.db
      .insertInto('outbox')
      .values({
        account_id: account.id,
        connection_id: connection.id,
        kind: 'event',
        order_key: webhookId,
        event: 'call.dial',
        payload: JSON.stringify({ event: 'call.dial', uuid: webhookId, serverTime: 0 }),
        webhook_id: webhookId,
        status: 'pending',
        attempts: 0,
        created_at: now,
        retry_since: now,
        next_attempt_at: now,
        lease_owner: built.dispatcher.owner,
        lease_until: now + 60_000,
      })
      .execute();
    await sleep(1_500);
    assert.ok(!crm.requests.some((r) => r.json?.uuid === webhookId), 'leased: not sent');
    // A failure the dispatcher sees (its polls fail while the database is away)…
    await cut();
    await sleep(1_500);
    await restore();
    // …and once it is back, the row goes out within seconds, not when its lease ends.
    await until(
      () => crm.requests.some((r) => r.json?.uuid === webhookId),
      'the orphaned row delivered',
      15_000,
    );
  });
});
