// Several processes over one PostgreSQL (issue 7): two real Dzvin servers (buildApp, real HTTP
// on 127.0.0.1) over the same throwaway database. A call lives in the engine of the process that
// received it; the other process lists it, acts on it (answer, transfer, hangup — routed to the
// owner), streams its events (LISTEN/NOTIFY) and finds it in the shared history afterwards.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { type BuiltApp, buildApp, defaultConfig } from '../src/index.ts';
import { createTestDatabaseUrl, dialectSkipReason, type TestDatabase } from './support/dialects.ts';
import { type Response, request } from './support/harness.ts';
import { sleep, until } from './support/wait.ts';

interface Node {
  built: BuiltApp;
  url: string;
  recordings: string;
}

async function startNode(db: TestDatabase): Promise<Node> {
  const recordings = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-cluster-'));
  const built = await buildApp(
    defaultConfig({
      databaseUrl: db.url,
      port: 0,
      logLevel: 'warn',
      recordingsDir: recordings,
      demo: {
        enabled: false,
        domain: 'x.localhost',
        apiKey: undefined,
        country: 'UA',
      },
    }),
    { logger: false },
  );
  await built.app.listen({ host: '127.0.0.1', port: 0 });
  const a = built.app.server.address();
  return { built, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, recordings };
}

/** An SSE client: every `event:`/`data:` block of the stream, parsed. */
function openStream(url: string, host: string, cookie: string) {
  const events: { id: string; event: string; data: { uuid: string; parentUuid: string | null } }[] = [];
  const req = http.get(`${url}/api/v1/events/stream`, { headers: { host, cookie } });
  const opened = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      resolve(res.statusCode ?? 0);
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f = Object.fromEntries(
            block
              .split('\n')
              .filter((l) => !l.startsWith(':') && l.includes(': '))
              .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
          );
          if (f.event) events.push({ id: f.id, event: f.event, data: JSON.parse(f.data) });
        }
      });
    });
    req.on('error', reject);
  });
  return { events, opened, close: () => req.destroy() };
}

const skip = dialectSkipReason('postgres');

describe('two processes over one PostgreSQL', { skip }, () => {
  let db: TestDatabase;
  let a: Node;
  let b: Node;
  const domain = 'cluster.localhost';
  let cookie = '';
  let apiKey = '';
  const as = (n: Node, method: string, p: string, body?: unknown): Promise<Response> =>
    request(n.url, method, p, { host: domain, cookie, body });

  before(async () => {
    db = await createTestDatabaseUrl('postgres');
    a = await startNode(db);
    b = await startNode(db);
    const created = await a.built.services.accounts.create({ domain, defaultCountry: 'UA' });
    apiKey = created.apiKey;
    const dir = a.built.services.directory;
    const e1 = await dir.employees.create(created.account, { displayName: 'Олена', ext: '001' });
    await dir.employees.create(created.account, { displayName: 'Андрій', ext: '002' });
    await a.built.services.accounts.update(created.account.id, { apiUserId: e1.id });
    await dir.trunks.create(created.account, {
      number: '+380443334455',
      name: 'Олена',
      destination: { type: 'employee', id: e1.id },
      isDefault: true,
    });
    // One session, signed in through A, used on both: sessions live in the database.
    const r = await request(a.url, 'POST', '/rest/security/authorize', {
      host: domain,
      body: { domain, apiKey },
    });
    assert.equal(r.status, 200);
    cookie = String(r.headers['set-cookie']?.[0]).split(';')[0];
    await until(
      async () => (await a.built.cluster.peers({ fresh: true })).some((p) => p.url === b.url),
      'A to see B',
    );
    await until(
      async () => (await b.built.cluster.peers({ fresh: true })).some((p) => p.url === a.url),
      'B to see A',
    );
  });
  after(async () => {
    await a?.built.close().catch(() => {});
    await b?.built.close().catch(() => {});
    await db?.drop();
    for (const n of [a, b]) if (n) fs.rmSync(n.recordings, { recursive: true, force: true });
  });

  test('each process registers itself with the URL it listens on and sees the other alive', async () => {
    assert.notEqual(a.built.cluster.nodeId, b.built.cluster.nodeId);
    assert.deepEqual(
      (await a.built.cluster.peers({ fresh: true })).map((p) => p.url),
      [b.url],
    );
  });

  test('a call received by A is listed, answered, refused a wrong transfer and hung up through B; B streams its events', async () => {
    const stream = openStream(b.url, domain, cookie);
    assert.equal(await stream.opened, 200);
    // Phones answer only when told to; set through B, the setting holds in A (one office).
    assert.equal(
      (await as(b, 'PUT', '/api/v1/sim/behaviours/employees/001', { mode: 'manual' })).status,
      204,
    );
    await until(
      async () => {
        // Published settings arrive asynchronously: wait until A's phone no longer answers by itself.
        const placed = await as(a, 'POST', '/api/v1/sim/calls', {
          from: '+380501112233',
          trunk: '+380443334455',
        });
        const { uuid } = placed.json();
        await sleep(3_500);
        const legs = (await as(a, 'GET', '/rest/calls/active/v3')).json() as {
          uuid: string;
          lastEvent: string;
        }[];
        // A call to one employee is one call: listed under its own uuid.
        const ringing = legs.some((l) => l.uuid === uuid && l.lastEvent === 'call.dial');
        if (!ringing) return false;
        await as(a, 'GET', `/rest/calls/active/${uuid}/hangup`);
        return true;
      },
      'the manual behaviour to reach A',
      15_000,
    );
    assert.ok(a.built.simulator.sim.activeCount() === 0, 'the probe call ended');

    const placed = await as(a, 'POST', '/api/v1/sim/calls', {
      from: '+380501112233',
      trunk: '+380443334455',
    });
    assert.equal(placed.status, 201);
    const { uuid } = placed.json() as { uuid: string };
    assert.equal(b.built.simulator.sim.activeCount(), 0, 'B runs no call itself');

    // B lists A's call (001's phone ringing: a direct call is one item, under its uuid).
    const listed = (await as(b, 'GET', '/rest/calls/active/v3')).json() as {
      uuid: string;
      parentUuid: string | null;
      lastEvent: string;
      leg: { ext: string } | null;
    }[];
    const leg = listed.find((l) => l.uuid === uuid);
    assert.ok(leg, `B lists the leg of ${uuid}: ${JSON.stringify(listed)}`);
    assert.equal(leg.leg?.ext, '001');
    assert.equal(leg.lastEvent, 'call.dial');

    // The owner's refusal comes back through B as the owner's status and reason.
    const early = await as(b, 'POST', `/api/v1/sim/calls/${uuid}/transfer`, { toExt: '002' });
    assert.equal(early.status, 409);
    assert.match(early.text, /Only an answered call can be transferred/);

    assert.equal((await as(b, 'POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '001' })).status, 204);
    const bridged = (await as(b, 'GET', '/rest/calls/active/v3')).json() as {
      uuid: string;
      lastEvent: string;
    }[];
    assert.ok(bridged.some((l) => l.uuid === uuid && l.lastEvent === 'call.bridge'));

    assert.equal((await as(b, 'GET', `/rest/calls/active/${uuid}/hangup`)).status, 200);
    await a.built.simulator.engine.idle();
    assert.deepEqual(
      ((await as(b, 'GET', '/rest/calls/active/v3')).json() as { uuid: string; parentUuid: string }[]).filter(
        (l) => l.uuid === uuid || l.parentUuid === uuid,
      ),
      [],
    );

    // B's stream got the call's events from A, in order, for the company call.
    await until(
      () => stream.events.some((e) => e.event === 'call.hangup' && e.data.uuid === uuid),
      'call.hangup of A on B',
    );
    const mine = stream.events.filter((e) => e.data.uuid === uuid).map((e) => e.event);
    assert.deepEqual(mine, ['call.dial', 'call.bridge', 'call.hangup']);
    assert.equal(new Set(stream.events.map((e) => e.id)).size, stream.events.length, 'ids are unique');
    stream.close();

    // The finished call is in the shared history, read through B.
    const now = Date.now();
    const history = await as(
      b,
      'GET',
      `/rest/calls/company.api?timeFrom=${now - 600_000}&timeTo=${now + 60_000}&limit=50`,
    );
    assert.equal(history.status, 200);
    assert.ok((history.json() as { uuid: string }[]).some((c) => c.uuid === uuid));
  });

  test('an unknown uuid is 404 from every process; the internal API refuses requests without the shared secret', async () => {
    const r = await as(b, 'GET', '/rest/calls/active/no-such-call/hangup');
    assert.equal(r.status, 404);
    assert.match(r.text, /No active call no-such-call/);
    const peer = await request(a.url, 'POST', '/internal/v1/cluster', {
      body: { op: 'active', accountId: 1 },
      headers: { authorization: 'Bearer guess' },
    });
    assert.equal(peer.status, 403);
    assert.equal(peer.text, 'Not a process of this cluster');
    // With the secret: an op on an account needs the account, a call op its uuid (400, plain text).
    const peerAsk = (body: unknown) =>
      request(a.url, 'POST', '/internal/v1/cluster', {
        body,
        headers: { authorization: b.built.cluster.authorization() },
      });
    const noAccount = await peerAsk({ op: 'active' });
    assert.equal(noAccount.status, 400);
    assert.equal(noAccount.text, 'accountId is required');
    const noUuid = await peerAsk({ op: 'hangup', accountId: 1 });
    assert.equal(noUuid.status, 400);
    assert.equal(noUuid.text, 'uuid is required');
    const noTrafficAccount = await peerAsk({ op: 'traffic.status' });
    assert.equal(noTrafficAccount.status, 400);
    assert.equal(noTrafficAccount.text, 'accountId is required');
    const settings = await peerAsk({ op: 'sim.settings' });
    assert.equal(settings.status, 200);
    assert.ok(Array.isArray(settings.json().settings.employees));
  });

  // Each process remembers a checked session for up to 5 s; a revocation is published so the
  // others forget it at once. (Without it, B would accept these sessions for up to 5 s more.)
  test('a sign-out or a key rotation through A ends the session in B at once, not 5 s later', async () => {
    const signIn = async () => {
      const r = await request(a.url, 'POST', '/rest/security/authorize', {
        host: domain,
        body: { domain, apiKey },
      });
      assert.equal(r.status, 200, r.text);
      return String(r.headers['set-cookie']?.[0]).split(';')[0];
    };
    const usersOnB = async (c: string) =>
      (await request(b.url, 'GET', '/rest/users', { host: domain, cookie: c })).status;

    const mine = await signIn();
    for (let i = 0; i < 2; i++) assert.equal(await usersOnB(mine), 200); // remembered by B
    const out = await request(a.url, 'POST', '/api/v1/session/sign-out', { host: domain, cookie: mine });
    assert.equal(out.status, 204);
    await until(async () => (await usersOnB(mine)) === 403, 'B to refuse the signed-out session', 2_000);

    const other = await signIn();
    for (let i = 0; i < 2; i++) assert.equal(await usersOnB(other), 200);
    const rotated = await request(a.url, 'POST', '/api/v1/account/rotate-key', {
      host: domain,
      cookie: other,
    });
    assert.equal(rotated.status, 200, rotated.text);
    await until(async () => (await usersOnB(other)) === 403, 'B to refuse a session of the old key', 2_000);
    // The shared session of the other tests ended with the rotation too: sign in again.
    apiKey = rotated.json().apiKey;
    cookie = await signIn();
    assert.equal(await usersOnB(cookie), 200);
  });

  // Each process remembers an account for up to 5 s; a change is published so the others forget
  // it at once. (Without it, B would show the old settings for up to 5 s more.)
  test('an account change through A shows in B at once, not 5 s later', async () => {
    const accountOnB = async () => {
      const r = await request(b.url, 'GET', '/api/v1/account', { host: domain, cookie });
      assert.equal(r.status, 200, r.text);
      return r.json() as { name: string; defaultCountry: string };
    };
    const before = await accountOnB(); // remembered by B from now on
    for (const [name, defaultCountry] of [
      ['Renamed through A', 'PL'],
      [before.name, before.defaultCountry],
    ]) {
      await accountOnB();
      const patched = await request(a.url, 'PATCH', '/api/v1/account', {
        host: domain,
        cookie,
        body: { name, defaultCountry },
      });
      assert.equal(patched.status, 200, patched.text);
      await until(
        async () => {
          const now = await accountOnB();
          return now.name === name && now.defaultCountry === defaultCountry;
        },
        `B to show ${name} / ${defaultCountry}`,
        2_000,
      );
    }
  });

  test('traffic generators run per process; a process that never ran one answers status and stop for the others', async () => {
    const accountId = (await a.built.store.accounts.byDomain(domain))!.id;
    const start = { ratePerSec: 1, durationSec: 30, trunks: ['+380443334455'] };
    type Status = { running: boolean; startedAt: number | null; stoppedAt: number | null };
    const run = async (n: Node, method: string) => {
      const r = await as(n, method, '/api/v1/sim/traffic', method === 'POST' ? start : undefined);
      assert.equal(r.status, 200, r.text);
      return r.json() as Status;
    };
    // Started through A: B, which never ran one, shows A's (a console behind nginx asks either).
    const onA = await run(a, 'POST');
    assert.equal(onA.running, true);
    const seenOnB = await run(b, 'GET');
    assert.deepEqual([seenOnB.running, seenOnB.startedAt], [true, onA.startedAt]);
    assert.equal(b.built.traffic.status(accountId).running, false, 'B runs none of its own');
    // …and stops it.
    const stopped = await run(b, 'DELETE');
    assert.deepEqual([stopped.running, stopped.startedAt], [false, onA.startedAt]);
    assert.ok(stopped.stoppedAt !== null);
    assert.equal(a.built.traffic.status(accountId).running, false);

    // One on each process (load spread over both): each answers for its own.
    const againA = await run(a, 'POST');
    const onB = await run(b, 'POST');
    assert.equal(a.built.traffic.status(accountId).running, true);
    assert.equal((await run(a, 'GET')).startedAt, againA.startedAt);
    assert.equal((await run(a, 'DELETE')).startedAt, againA.startedAt);
    assert.equal(b.built.traffic.status(accountId).running, true, "stopping A's left B's running");
    assert.equal((await run(a, 'GET')).startedAt, onB.startedAt, 'A, stopped, shows the one running');
    assert.equal((await run(b, 'DELETE')).running, false);

    // The calls they placed (001 answers only when told) are hung up for the tests after this one.
    const legs = (await as(a, 'GET', '/rest/calls/active/v3')).json() as {
      uuid: string;
      parentUuid: string | null;
    }[];
    for (const l of legs.filter((x) => x.parentUuid === null))
      await as(a, 'GET', `/rest/calls/active/${l.uuid}/hangup`);
    await until(
      async () => (await as(a, 'GET', '/rest/calls/active/v3')).json().length === 0,
      'no calls in progress',
      5_000,
    );
  });

  describe('who is on a call, across the processes', () => {
    const T1 = '+380443334455'; // → 001
    const T_GROUP = '+380443334466'; // → ring-all group of 001, 002
    const T_TURNS = '+380443334477'; // → round-robin group of 001, 002
    type Live = { uuid: string; parentUuid: string | null; lastEvent: string; leg: { ext: string } };
    const activeOn = async (n: Node): Promise<Live[]> => (await as(n, 'GET', '/rest/calls/active/v3')).json();
    const place = async (n: Node, trunk: string, from = '+380501110000') => {
      const r = await as(n, 'POST', '/api/v1/sim/calls', { from, trunk });
      assert.equal(r.status, 201, r.text);
      await n.built.simulator.engine.idle();
      return (r.json() as { uuid: string }).uuid;
    };
    // Either process lists every call in progress (its own and its peers'), and hangs any up.
    const hangupAll = async () => {
      for (const c of await activeOn(a))
        await as(a, 'GET', `/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
      await a.built.simulator.engine.idle();
      await b.built.simulator.engine.idle();
    };
    /** The company.api record of a finished call (the shared history, read through `n`). */
    const record = async (n: Node, uuid: string) =>
      until(async () => {
        const now = Date.now();
        const r = await as(
          n,
          'GET',
          `/rest/calls/company.api?timeFrom=${now - 120_000}&timeTo=${now + 60_000}&limit=50`,
        );
        return (r.json() as { uuid: string; disposition: number }[]).find((c) => c.uuid === uuid);
      }, `the history record of ${uuid}`);

    before(async () => {
      const account = await a.built.store.accounts.byDomain(domain);
      assert.ok(account);
      const dir = a.built.services.directory;
      const ids = Object.fromEntries((await dir.employees.list(account)).map((e) => [e.ext, e.id]));
      const ringAll = await dir.groups.create(account, {
        name: 'Усі',
        ext: '200',
        strategy: 'simultaneous',
        ringTimeoutSec: 30,
        members: [ids['001'], ids['002']],
      });
      const turns = await dir.groups.create(account, {
        name: 'По черзі',
        ext: '201',
        strategy: 'round-robin',
        ringTimeoutSec: 30,
        members: [ids['001'], ids['002']],
      });
      await dir.trunks.create(account, {
        number: T_GROUP,
        name: 'Усі',
        destination: { type: 'group', id: ringAll.id },
      });
      await dir.trunks.create(account, {
        number: T_TURNS,
        name: 'По черзі',
        destination: { type: 'group', id: turns.id },
      });
      // Phones answer only when told, in both processes (one office).
      for (const ext of ['001', '002'])
        assert.equal(
          (await as(a, 'PUT', `/api/v1/sim/behaviours/employees/${ext}`, { mode: 'manual' })).status,
          204,
        );
      await until(
        () =>
          ['001', '002'].every((ext) =>
            b.built.simulator.sim
              .settings()
              .employees.some(([k, x]) => k.endsWith(`:${ext}`) && x.mode === 'manual'),
          ),
        'B to take the manual phones from A',
      );
    });
    afterEach(hangupAll);

    test("an employee talking on A's call is busy for B: B's direct call is busy, B's ring-all group rings the others", async () => {
      const onA = await place(a, T1);
      assert.equal((await as(a, 'POST', `/api/v1/sim/calls/${onA}/answer`, { ext: '001' })).status, 204);
      await a.built.simulator.engine.idle();
      const direct = await place(b, T1, '+380501110001');
      assert.deepEqual(
        (await activeOn(b)).filter((c) => c.uuid === direct),
        [],
        'B does not ring 001',
      );
      assert.equal(
        (await record(b, direct)).disposition,
        4,
        'busy, as a second call to a talking employee is',
      );
      const group = await place(b, T_GROUP, '+380501110002');
      const rung = (await activeOn(b)).filter((c) => c.parentUuid === group).map((c) => c.leg.ext);
      assert.deepEqual(rung, ['002'], 'the group rings only the member who is free');
      // Once A's call is over (and saved), 001 is free for B again.
      assert.equal((await as(a, 'GET', `/rest/calls/active/${onA}/hangup`)).status, 200);
      await a.built.simulator.engine.idle();
      const again = await place(b, T1, '+380501110003');
      assert.deepEqual(
        (await activeOn(b)).filter((c) => c.uuid === again).map((c) => [c.leg.ext, c.lastEvent]),
        [['001', 'call.dial']],
      );
    });

    test('one phone ringing on calls of both processes picks up once: the other call finds it busy', async () => {
      const onA = await place(a, T1, '+380501110011');
      const onB = await place(b, T1, '+380501110012');
      const [ra, rb] = await Promise.all([
        as(a, 'POST', `/api/v1/sim/calls/${onA}/answer`, { ext: '001' }),
        as(b, 'POST', `/api/v1/sim/calls/${onB}/answer`, { ext: '001' }),
      ]);
      assert.deepEqual([ra.status, rb.status], [204, 204]);
      await a.built.simulator.engine.idle();
      await b.built.simulator.engine.idle();
      const bridged = (await activeOn(a)).filter(
        (c) => (c.uuid === onA || c.uuid === onB) && c.lastEvent === 'call.bridge',
      );
      assert.equal(bridged.length, 1, `exactly one of the two calls is answered: ${JSON.stringify(bridged)}`);
      const lost = bridged[0].uuid === onA ? onB : onA;
      const lostOn = lost === onA ? a : b;
      assert.equal((await record(lostOn, lost)).disposition, 4);
    });

    test('a round-robin group takes its turns across the processes: 001, 002, 001, 002 over calls on A, B, A, B', async () => {
      const first: string[] = [];
      for (const [i, n] of [a, b, a, b].entries()) {
        const uuid = await place(n, T_TURNS, `+38050111002${i}`);
        const rung = (await activeOn(n)).filter((c) => c.parentUuid === uuid).map((c) => c.leg.ext);
        assert.equal(rung.length, 1, 'one phone at a time');
        first.push(rung[0]);
        assert.equal((await as(n, 'GET', `/rest/calls/active/${uuid}/hangup`)).status, 200);
        await n.built.simulator.engine.idle();
      }
      assert.deepEqual(first, ['001', '002', '001', '002']);
    });

    test('a claim left by a process that died is swept: its employee rings again', async () => {
      const account = await a.built.store.accounts.byDomain(domain);
      assert.ok(account);
      const [e1] = (await a.built.services.directory.employees.list(account)).filter((e) => e.ext === '001');
      // What a SIGKILLed process leaves: 001 held by a leg of a process with no heartbeat.
      assert.ok(
        await a.built.store.presence.claim({
          accountId: account.id,
          employeeId: e1.id,
          legUuid: 'leg-of-a-dead-process',
          nodeId: 'a-dead-process',
          // 10 s old: the sweep (every 5 s, claims older than its 15 s grace) frees it 5–10 s from
          // now — not before the first call below has found 001 busy (a claim already past the
          // grace could be swept in between, and that call would ring 001: a loaded CI saw it).
          since: Date.now() - 10_000,
        }),
      );
      const held = await place(a, T1, '+380501110031');
      assert.equal((await record(a, held)).disposition, 4, 'held: busy');
      await until(
        async () => {
          const uuid = await place(b, T1, '+380501110032');
          const ringing = (await activeOn(b)).some((c) => c.uuid === uuid && c.leg.ext === '001');
          if (ringing) await as(b, 'GET', `/rest/calls/active/${uuid}/hangup`);
          return ringing;
        },
        'the sweep to free 001',
        20_000,
      );
    });
  });

  test("a call in progress left by a process that died is closed by a live one; a live process's is not", async () => {
    const account = await a.built.store.accounts.byDomain(domain);
    assert.ok(account);
    const t = Date.now();
    // What a SIGKILLed process leaves in live_calls (domain/calls/live-ledger.ts): the call as it
    // stood when last written, 20 s ago (past the 15 s grace; the process never touched
    // live_nodes), answered 30 s before that.
    const row = (uuid: string, nodeId: string) => ({
      uuid,
      accountId: account.id,
      nodeId,
      updatedAt: t - 20_000,
      version: 1,
      records: [
        {
          uuid,
          accountId: account.id,
          kind: 'company' as const,
          parentUuid: null,
          direction: 4 as const,
          leg: { type: 1 as const, id: 1, ext: '001', displayName: 'Олена' },
          leg2: null,
          otherLegNum: '+380501119999',
          otherLegName: '+380501119999',
          otherLegs: [],
          trunkNum: '+380443334455',
          trunkName: 'T1',
          trunk: 'i=380443334455;',
          dialAt: t - 60_000,
          bridgeAt: t - 50_000,
          endAt: t - 20_000,
          billSecs: 30,
          duration: 40,
          disposition: 0 as const,
          transferHistory: '001',
          recordingUuid: null,
        },
      ],
    });
    await a.built.store.liveCalls.put([
      row('call-of-a-dead-process', 'a-dead-process'),
      row('call-of-a-live-process', b.built.cluster.nodeId),
    ]);
    // Every process looks every 2 s (once it has reached the database steadily for 15 s);
    // either may close it, once.
    const closed = await until(
      () => a.built.store.calls.byUuid('call-of-a-dead-process'),
      "a live process to close the dead process's call",
      40_000,
    );
    assert.equal(closed.disposition, 0);
    assert.equal(closed.billSecs, 30, 'billed up to when its process was last seen');
    assert.equal(await a.built.store.liveCalls.take('call-of-a-dead-process'), null, 'its row is gone');
    await sleep(6_000);
    assert.equal(
      await a.built.store.calls.byUuid('call-of-a-live-process'),
      null,
      'B is alive: its call is left alone',
    );
    assert.ok(
      await a.built.store.liveCalls.take('call-of-a-live-process'),
      'and its row stays (removed here)',
    );
  });

  test('a process that joins later takes the simulated office from the others', async () => {
    // 001 answers only when told: set through B in an earlier test, before C existed.
    const c = await startNode(db);
    try {
      await until(
        () =>
          c.built.simulator.sim
            .settings()
            .employees.some(([key, b]) => key.endsWith(':001') && b.mode === 'manual'),
        'C to take the settings from a peer',
        5_000,
      );
      // A call C receives rings 001 and keeps ringing (the default would answer in a moment).
      const placed = await as(c, 'POST', '/api/v1/sim/calls', {
        from: '+380501112299',
        trunk: '+380443334455',
      });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json() as { uuid: string };
      assert.ok(c.built.simulator.sim.activeCount() > 0, 'C runs the call');
      await sleep(3_500);
      const legs = (await as(c, 'GET', '/rest/calls/active/v3')).json() as {
        uuid: string;
        lastEvent: string;
      }[];
      assert.ok(
        legs.some((l) => l.uuid === uuid && l.lastEvent === 'call.dial'),
        `still ringing: ${JSON.stringify(legs)}`,
      );
      assert.equal((await as(c, 'GET', `/rest/calls/active/${uuid}/hangup`)).status, 200);
    } finally {
      await c.built.close().catch(() => {});
      fs.rmSync(c.recordings, { recursive: true, force: true });
    }
  });

  test('a process that stops leaves the cluster; the other keeps answering alone', async () => {
    await a.built.close();
    const peers = await b.built.cluster.peers({ fresh: true });
    assert.deepEqual(peers, []);
    const r = await as(b, 'GET', '/rest/calls/active/v3');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), []);
  });
});
