// The dispatcher's pacing (integrations/outbox/dispatcher.ts) and the outbox store's batched
// writes, against a real receiver on loopback: claims sized to the room a connection has, request
// slots freed as soon as an answer is in (the outcome recorded a moment later with others), and
// outcomes of many requests recorded in chunked statements.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSystemTimers, systemClock } from '../src/domain/clock.ts';
import type { AttemptOutcome } from '../src/domain/ports.ts';
import { createDispatcher } from '../src/integrations/outbox/dispatcher.ts';
import { createOutbox, type OutboxEntry } from '../src/integrations/outbox/outbox.ts';
import { DEFAULT_DELIVERY_SETTINGS } from '../src/integrations/outbox/settings.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { startServer, type TestServer } from './support/harness.ts';

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const EVENTS = ['call.dial', 'call.bridge', 'call.hangup'];

for (const dialect of DIALECTS) {
  describe(`outbox dispatcher pacing (${dialect})`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let accountId: number;
    let connectionId: number;
    let received: { uuid: string; event: string }[] = [];
    /** `uuid event` answered 503 once (then 200 as every other request). */
    const failOnce = new Set<string>();
    let onRequest: (() => void) | null = null;
    let crm: http.Server;

    before(async () => {
      server = await startServer(dialect);
      // Only the dispatcher built by a test sends: the app's own would share the rows.
      await server.built.dispatcher.stop();
      crm = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          received.push({ uuid: body.uuid, event: body.event });
          onRequest?.();
          if (failOnce.delete(`${body.uuid} ${body.event}`)) res.writeHead(503).end('busy');
          else res.writeHead(200).end('ok');
        });
      });
      await new Promise<void>((r) => crm.listen(0, '127.0.0.1', r));
      const port = (crm.address() as { port: number }).port;
      const { account } = await server.built.services.accounts.create({
        domain: `pacing-${dialect}.localhost`,
      });
      accountId = account.id;
      connectionId = (
        await server.built.services.directory.crm.create(account, {
          name: 'pacing CRM',
          eventsUrl: `http://127.0.0.1:${port}/events`,
        })
      ).id;
    });
    after(async () => {
      crm?.closeAllConnections();
      crm?.close();
      await server?.close();
    });

    test('a burst many claims long arrives whole and in order per call, with no wait for the safety-net poll', async () => {
      received = [];
      const errors: unknown[] = [];
      const outbox = createOutbox({ clock: systemClock });
      // Claims of 16 and 4 requests in flight: the burst takes dozens of claims, and successors
      // become claimable only once their predecessors are recorded. The safety-net poll is an
      // hour away: every claim has to come from an enqueue or a completion, none may be lost.
      const dispatcher = createDispatcher({
        store: server.built.store,
        clock: systemClock,
        timers: createSystemTimers(),
        policy: { allowPrivate: true },
        settings: {
          ...DEFAULT_DELIVERY_SETTINGS,
          batchSize: 16,
          concurrencyPerConnection: 4,
          pollIntervalMs: 3_600_000,
        },
        onError: (err) => errors.push(err),
      });
      outbox.onNotify(() => dispatcher.kick());
      dispatcher.start();
      const calls = 150;
      const entries: OutboxEntry[] = [];
      for (let i = 0; i < calls; i++)
        for (const event of EVENTS)
          entries.push({
            accountId,
            connectionId,
            kind: 'event',
            orderKey: `burst-${i}`,
            payload: { event, uuid: `burst-${i}`, serverTime: 0 },
          });
      await server.built.store.transaction((tx) => outbox.enqueue(tx, entries));
      outbox.notify();
      try {
        await until(() => received.length >= entries.length, 30_000, `${entries.length} deliveries`);
      } finally {
        await dispatcher.stop();
      }
      assert.deepEqual(errors, []);
      assert.equal(received.length, entries.length, 'each event once (no failures to repeat them)');
      const byCall = new Map<string, string[]>();
      for (const r of received) byCall.set(r.uuid, [...(byCall.get(r.uuid) ?? []), r.event]);
      assert.equal(byCall.size, calls);
      for (const [uuid, events] of byCall) assert.deepEqual(events, EVENTS, `in order for ${uuid}`);
      const counts = await server.built.store.outbox.counts(accountId);
      assert.equal(counts.delivered, entries.length, 'every outcome recorded');
      assert.equal(counts.pending, 0);
    });

    test('a completion recorded while the idle dispatcher looks up its next wake-up still claims what it unblocked', async () => {
      // The race CI once hit under load: a claim finds nothing (the successor is blocked by its
      // predecessor, whose answer is in but not yet recorded), the requests drain, and while the
      // idle dispatcher asks the database for its next wake-up, the outcome is recorded and the
      // completion asks for a claim. That request must not be lost: the successor is due now and
      // the safety-net poll is an hour away. The store is the real one; only the timing of three of
      // its answers is held back to make the interleaving certain.
      received = [];
      const real = server.built.store;
      let claims = 0;
      let firstRecorded = false;
      let wakeLookups = 0;
      const outboxStore = new Proxy(real.outbox, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver);
          if (prop === 'claim')
            return async (q: Parameters<typeof target.claim>[0]) => {
              // The second claim (asked for after a full claim of 1) runs once the first row's
              // answer is in and its request slot is free.
              if (++claims === 2) {
                await until(() => received.length >= 1, 5_000, 'the first answer');
                await sleep(30);
              }
              return target.claim(q);
            };
          if (prop === 'record')
            return async (o: Parameters<typeof target.record>[0]) => {
              // The first outcome is recorded only once the idle dispatcher is asking for its
              // next wake-up.
              if (!firstRecorded) await until(() => wakeLookups >= 1, 5_000, 'the wake-up lookup');
              return target.record(o);
            };
          if (prop === 'nextDue')
            return async (now: number) => {
              // The first wake-up lookup answers only after the outcome was recorded and the
              // completion asked for a claim.
              if (++wakeLookups === 1) {
                await until(() => firstRecorded, 5_000, 'the first outcome recorded');
                await sleep(30);
              }
              return target.nextDue(now);
            };
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const store = { ...real, outbox: outboxStore };
      const errors: unknown[] = [];
      const outbox = createOutbox({ clock: systemClock });
      const dispatcher = createDispatcher({
        store,
        clock: systemClock,
        timers: createSystemTimers(),
        policy: { allowPrivate: true },
        settings: { ...DEFAULT_DELIVERY_SETTINGS, batchSize: 1, pollIntervalMs: 3_600_000 },
        onError: (err) => errors.push(err),
        onAttempt: () => {
          firstRecorded = true;
        },
      });
      outbox.onNotify(() => dispatcher.kick());
      const entries: OutboxEntry[] = ['call.dial', 'call.hangup'].map((event) => ({
        accountId,
        connectionId,
        kind: 'event',
        orderKey: 'wake-race',
        payload: { event, uuid: 'wake-race', serverTime: 0 },
      }));
      await real.transaction((tx) => outbox.enqueue(tx, entries));
      dispatcher.start();
      try {
        await until(() => received.length >= 2, 10_000, 'both deliveries');
      } finally {
        await dispatcher.stop();
      }
      assert.deepEqual(errors, []);
      assert.ok(wakeLookups >= 1, 'the interleaving happened (a wake-up lookup while idle)');
      assert.deepEqual(
        received.map((r) => r.event),
        ['call.dial', 'call.hangup'],
      );
    });

    test('rows written through enqueueClaimed go out with no claim; those chained behind a retried one wait for it, in order', async () => {
      // A call's events as the capture writes them (outbox.enqueueClaimed, the dispatcher
      // attached): leased to this dispatcher in the writing transaction, sent with no claim. The
      // dial is answered 503: the bridge and hangup chained behind it are given back and go out
      // only after the dial's retry is delivered (the safety-net poll is an hour away).
      received = [];
      failOnce.add('claimed-1 call.dial');
      const real = server.built.store;
      let claims = 0;
      let claimsAtFirstRequest = -1;
      const outboxStore = new Proxy(real.outbox, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver);
          if (prop === 'claim')
            return (q: Parameters<typeof target.claim>[0]) => {
              claims++;
              return target.claim(q);
            };
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const store = { ...real, outbox: outboxStore };
      const errors: unknown[] = [];
      const outbox = createOutbox({ clock: systemClock });
      const dispatcher = createDispatcher({
        store,
        clock: systemClock,
        timers: createSystemTimers(),
        policy: { allowPrivate: true },
        settings: {
          ...DEFAULT_DELIVERY_SETTINGS,
          retryBaseMs: 50,
          retryCapMs: 100,
          pollIntervalMs: 3_600_000,
        },
        random: () => 0.5,
        onError: (err) => errors.push(err),
      });
      outbox.onNotify(() => dispatcher.kick());
      outbox.attach(dispatcher.writeClaimed);
      dispatcher.start();
      await sleep(200); // its first poll (a claim of nothing) is done
      claims = 0;
      onRequest = () => {
        if (claimsAtFirstRequest < 0) claimsAtFirstRequest = claims;
      };
      const entries: OutboxEntry[] = EVENTS.map((event) => ({
        accountId,
        connectionId,
        kind: 'event',
        orderKey: 'claimed-1',
        payload: { event, uuid: 'claimed-1', serverTime: 0 },
      }));
      const hand = await real.transaction((tx) => outbox.enqueueClaimed(tx, entries));
      hand();
      try {
        await until(() => received.length >= 4, 10_000, 'four requests');
        await sleep(100); // nothing more comes
      } finally {
        onRequest = null;
        await dispatcher.stop();
      }
      assert.deepEqual(errors, []);
      assert.equal(claimsAtFirstRequest, 0, 'the dial went out with no claim');
      assert.deepEqual(
        received.map((r) => r.event),
        ['call.dial', 'call.dial', 'call.bridge', 'call.hangup'],
        'the bridge and hangup waited for the retried dial',
      );
      const rows = (await real.outbox.list(accountId, { connectionId, limit: 100 })).filter(
        (d) => d.orderKey === 'claimed-1',
      );
      assert.deepEqual(rows.map((d) => [d.event, d.status, d.attempts]).reverse(), [
        ['call.dial', 'delivered', 2],
        ['call.bridge', 'delivered', 1],
        ['call.hangup', 'delivered', 1],
      ]);
    });

    test('outcomes of more requests than one statement takes are all recorded', async () => {
      const store = server.built.store;
      const outbox = createOutbox({ clock: systemClock });
      const entries: OutboxEntry[] = [];
      for (let i = 0; i < 150; i++)
        entries.push({
          accountId,
          connectionId,
          kind: 'event',
          orderKey: `rec-${i}`,
          payload: { event: 'call.dial' },
        });
      await outbox.enqueue(store, entries);
      const now = Date.now() + 1_000; // every row due
      const all = await store.outbox.claim({
        now,
        owner: 'test',
        leaseMs: 60_000,
        limit: 1_000,
        excludeConnections: [],
      });
      // Only this test's rows (a failed test before it may have left some): its failure stays its own.
      const claimed = all.filter((d) => d.orderKey.startsWith('rec-'));
      await store.outbox.release(
        all.filter((d) => !d.orderKey.startsWith('rec-')).map((d) => d.id),
        'test',
      );
      assert.equal(claimed.length, 150);
      const outcomes: AttemptOutcome[] = claimed.map((d, i) => ({
        id: d.id,
        attempt: d.attempts + 1,
        status: i % 3 === 0 ? 'pending' : 'delivered',
        at: now + 1,
        httpStatus: i % 3 === 0 ? 503 : 200,
        error: i % 3 === 0 ? 'HTTP 503' : null,
        latencyMs: 2,
        excerpt: 'ok',
        nextAttemptAt: i % 3 === 0 ? now + 60_000 : d.nextAttemptAt,
      }));
      // All or none: a batch whose last statement fails (a NOT NULL status) records nothing, so
      // the dispatcher's retry of the whole batch counts each attempt once.
      const broken = outcomes.map((o, i) =>
        i === outcomes.length - 1 ? { ...o, status: null as unknown as 'pending' } : o,
      );
      await assert.rejects(store.outbox.record(broken));
      for (const d of claimed) assert.equal((await store.outbox.get(accountId, d.id))?.attempts, 0);
      await store.outbox.record(outcomes);
      for (const [i, d] of claimed.entries()) {
        const r = await store.outbox.get(accountId, d.id);
        assert.equal(r?.attempts, 1, `row ${i} recorded once`);
        assert.equal(r?.status, i % 3 === 0 ? 'pending' : 'delivered');
        assert.equal(r?.leaseUntil, null, 'lease given back');
        assert.equal(r?.lastStatus, i % 3 === 0 ? 503 : 200);
      }
      // The retried ones' second attempt: the first stays in their log.
      const retried = claimed.filter((_, i) => i % 3 === 0);
      await store.outbox.record(
        retried.map((d) => ({
          ...outcomes[claimed.indexOf(d)],
          attempt: 2,
          status: 'delivered',
          httpStatus: 200,
        })),
      );
      for (const d of retried)
        assert.deepEqual(
          (await store.outbox.attempts(accountId, d.id))?.map((a) => [a.attempt, a.httpStatus]),
          [
            [1, 503],
            [2, 200],
          ],
        );
    });

    test("an outcome recorded after its lease ran out keeps the other process's attempt in the log too", async () => {
      const store = server.built.store;
      const outbox = createOutbox({ clock: systemClock });
      await outbox.enqueue(store, [
        { accountId, connectionId, kind: 'event', orderKey: 'lease-race', payload: { event: 'call.dial' } },
      ]);
      const t0 = Date.now() + 1_000;
      const claim = async (owner: string, now: number) => {
        const all = await store.outbox.claim({ now, owner, leaseMs: 50, limit: 100, excludeConnections: [] });
        const others = all.filter((d) => d.orderKey !== 'lease-race').map((d) => d.id);
        await store.outbox.release(others, owner);
        return all.find((d) => d.orderKey === 'lease-race')!;
      };
      // A claims and sends; its lease runs out before it records; B claims it again and records.
      const a = await claim('A', t0);
      const b = await claim('B', t0 + 100);
      assert.equal(b.id, a.id);
      const outcome = (o: Partial<AttemptOutcome>): AttemptOutcome => ({
        id: a.id,
        attempt: 1,
        status: 'pending',
        at: t0,
        httpStatus: 500,
        error: 'HTTP 500',
        latencyMs: 1,
        excerpt: 'busy',
        nextAttemptAt: t0 + 60_000,
        ...o,
      });
      await store.outbox.record([outcome({ at: t0 + 120 })]);
      await store.outbox.record([
        outcome({
          at: t0 + 150,
          pastLease: true,
          status: 'delivered',
          httpStatus: 200,
          error: null,
          excerpt: 'ok',
        }),
      ]);
      assert.deepEqual(
        (await store.outbox.attempts(accountId, a.id))?.map((x) => [x.attempt, x.at - t0, x.httpStatus]),
        [
          [1, 120, 500],
          [2, 150, 200],
        ],
      );
    });
  });
}
