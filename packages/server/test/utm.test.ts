// Call tracking and the callback widget as the source of UTM batches (the document's "Передача UTM
// меток"), end to end: public endpoints, the simulator, the minute batcher on a manual clock, the
// outbox, and a real CRM receiver on loopback.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createManualClock, type ManualClock } from '../src/domain/clock.ts';
import type { AccountRecord } from '../src/domain/ports.ts';
import { buildApp, defaultConfig } from '../src/index.ts';
import { type CrmReceiver, startCrmReceiver } from './support/crm-receiver.ts';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { createTrunks } from './support/trunks.ts';

const DOMAIN = 'shop.localhost';
const MAIN = '+380441110001';
const POOL = ['+380441110002', '+380441110003'];
/** Exactly the document's keys, in its order. */
const UTM_KEYS = [
  'utmSource',
  'utmMedium',
  'utmCampaign',
  'utmContent',
  'utmTerm',
  'googleClientId',
  'clientIp',
  'referrer',
  'otherLegNum',
  'trunkSource',
  'label',
  'callDate',
  'callStart',
  'callParentUuid',
];

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

for (const dialect of DIALECTS) {
  describe(`call tracking and UTM batches (${dialect})`, { skip: dialectSkipReason(dialect) }, () => {
    let clock: ManualClock;
    let server: TestServer;
    let s: Session;
    let account: AccountRecord;
    let crm: CrmReceiver;
    const pub = (path: string, body: unknown, localAddress = '127.0.0.5') =>
      server.request('POST', `/api/v1/public/${DOMAIN}${path}`, {
        body,
        localAddress,
        headers: { origin: 'https://shop.example' },
      });
    /** Lets the simulator's and the tracker's work settle, then moves the manual clock. */
    async function advance(ms: number) {
      await server.built.tracking.idle();
      await server.built.simulator.engine.idle();
      await clock.advance(ms);
      await server.built.simulator.engine.idle();
      await server.built.tracking.idle();
    }
    /** Moves to the next batcher run (one minute after the previous). */
    async function nextBatchRun() {
      const next = Math.ceil((clock.now() - start + 1) / 60_000) * 60_000 + start;
      await advance(next - clock.now());
    }
    let start = 0;

    before(async () => {
      clock = createManualClock();
      start = clock.now();
      server = await startServer(dialect, { clock });
      s = await server.account(DOMAIN);
      account = (await server.built.store.accounts.byDomain(DOMAIN))!;
      await createTrunks(s, MAIN, [MAIN, ...POOL]);
      crm = await startCrmReceiver('/utm');
      crm.answer = () => ({ status: 200, body: 'ok' });
      const c = await s.admin('POST', '/api/v1/crm-connections', { name: 'CRM', utmUrl: crm.url });
      assert.equal(c.status, 201, c.text);
      server.built.simulator.sim.setTalkTime(account.id, { minSec: 10, maxSec: 10 });
    });
    after(async () => {
      await server.close();
      await crm.close();
    });

    test('the admin API keeps the pool: trunk numbers only, each once', async () => {
      for (const number of POOL) {
        const r = await s.admin('POST', '/api/v1/tracking/numbers', { number });
        assert.equal(r.status, 201, r.text);
        assert.equal(r.json().number, number);
      }
      const again = await s.admin('POST', '/api/v1/tracking/numbers', { number: POOL[0] });
      assert.equal(again.status, 409);
      assert.match(String(again.headers['content-type']), /^text\/plain/);
      const notTrunk = await s.admin('POST', '/api/v1/tracking/numbers', { number: '+380441119999' });
      assert.equal(notTrunk.status, 404, notTrunk.text);
      const list = await s.admin('GET', '/api/v1/tracking/numbers');
      assert.deepEqual(
        list.json().map((n: { number: string }) => n.number),
        POOL,
      );
      const noSession = await server.request('GET', '/api/v1/tracking/numbers', { host: s.host });
      assert.equal(noSession.status, 403);
    });

    test('a tracked session, an incoming call to its number: exactly one batch with the documented fields', async () => {
      const r = await pub('/tracking/sessions', {
        utmSource: 'google',
        utmMedium: 'cpc',
        googleClientId: '1340605716.1544986520',
        referrer: 'https://www.google.com/',
      });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.headers['access-control-allow-origin'], '*');
      const { number, expiresAt } = r.json();
      assert.equal(number, POOL[0], 'the least recently given number (never given: the first)');
      assert.equal(expiresAt, clock.now() + 30 * 60_000);

      const dialAt = clock.now();
      const { uuid } = await server.built.simulator.sim.incoming(account, '0505826633', number);
      await advance(3_000 + 10_000); // answered after 3 s, 10 s of talk
      assert.equal(server.built.simulator.sim.activeCount(), 0);
      const endAt = clock.now();
      assert.equal(crm.requests.length, 0, 'nothing before the minute');

      await nextBatchRun();
      await until(() => crm.requests.length >= 1, 'the UTM batch');
      const [req] = crm.requests;
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/utm');
      assert.match(String(req.headers['content-type']), /^application\/json/);
      assert.ok(Array.isArray(req.json));
      assert.equal(req.json.length, 1);
      assert.deepEqual(Object.keys(req.json[0]), UTM_KEYS);
      assert.deepEqual(req.json[0], {
        utmSource: 'google',
        utmMedium: 'cpc',
        utmCampaign: '(not set)',
        utmContent: '(not set)',
        utmTerm: '(not set)',
        googleClientId: '1340605716.1544986520',
        clientIp: '127.0.0.5',
        referrer: 'https://www.google.com/',
        otherLegNum: '+380505826633',
        trunkSource: POOL[0].slice(1),
        label: 'calltracker\n firstcall',
        callDate: endAt,
        callStart: dialAt,
        callParentUuid: uuid,
      });

      // No empty batches: further minutes send nothing.
      await nextBatchRun();
      await nextBatchRun();
      assert.equal(await server.built.utmBatcher.runOnce(), 0);
      await sleep(300);
      assert.equal(crm.requests.length, 1);
      const counts = await server.built.store.outbox.counts(account.id);
      assert.equal(counts.delivered, 1);
      assert.equal(counts.pending, 0);
    });

    test('the pool exhausted: a clear 409 in plain text; an expired window frees its number', async () => {
      const second = await pub('/tracking/sessions', { utmSource: 'bing' });
      assert.equal(second.status, 201, second.text);
      assert.equal(second.json().number, POOL[1]);
      const third = await pub('/tracking/sessions', { utmSource: 'bing' });
      assert.equal(third.status, 409);
      assert.match(String(third.headers['content-type']), /^text\/plain/);
      assert.match(third.text, /tracking number/);
      assert.equal(third.headers['access-control-allow-origin'], '*');

      await advance(30 * 60_000);
      const later = await pub('/tracking/sessions', {});
      assert.equal(later.status, 201, later.text);
      assert.equal(later.json().number, POOL[0], 'the least recently given free number');
    });

    test('the callback widget: rings the employee, then the visitor; callcatcher + firstcall, once', async () => {
      const before = crm.requests.length;
      await nextBatchRun(); // the minute boundary, so both calls land in one batch
      const first = await pub('/callback', { number: '067 123 45 67', target: '001', utmSource: 'facebook' });
      assert.equal(first.status, 201, first.text);
      assert.equal(first.headers['access-control-allow-origin'], '*');
      const firstAt = clock.now();
      await advance(3_000 + 4_000 + 10_000); // employee answers, the visitor answers, talk
      const firstEnd = clock.now();
      const company = await server.built.store.calls.byUuid(first.json().uuid);
      assert.equal(company?.direction, 2);
      assert.equal(company?.disposition, 0);
      assert.equal(company?.otherLegNum, '+380671234567');

      const second = await pub('/callback', { number: '+380671234567' });
      assert.equal(second.status, 201, second.text);
      await advance(3_000 + 4_000 + 10_000);

      await nextBatchRun();
      await until(() => crm.requests.length >= before + 1, 'the callback batch');
      await sleep(200);
      assert.equal(crm.requests.length, before + 1, 'one batch for the minute');
      const batch = crm.requests[before].json;
      assert.equal(batch.length, 2);
      for (const item of batch) assert.deepEqual(Object.keys(item), UTM_KEYS);
      assert.deepEqual(batch[0], {
        utmSource: 'facebook',
        utmMedium: '(not set)',
        utmCampaign: '(not set)',
        utmContent: '(not set)',
        utmTerm: '(not set)',
        googleClientId: '(not set)',
        clientIp: '127.0.0.5',
        referrer: '(not set)',
        otherLegNum: '+380671234567',
        trunkSource: MAIN.slice(1),
        label: 'callcatcher\n firstcall',
        callDate: firstEnd,
        callStart: firstAt,
        callParentUuid: first.json().uuid,
      });
      assert.equal(batch[1].label, 'callcatcher\n', 'the number has called before');
      assert.equal(batch[1].callParentUuid, second.json().uuid);
    });

    test('bad input: 400/404 in plain text, never 500; CORS preflight answered', async () => {
      const cases: [string, unknown, number][] = [
        ['/tracking/sessions', { utmSource: 5 }, 400],
        ['/tracking/sessions', { utmSource: 'x'.repeat(501) }, 400],
        ['/callback', {}, 400],
        ['/callback', { number: 'not a phone' }, 400],
        ['/callback', { number: '0671234567', target: '999' }, 404],
      ];
      for (const [path, body, status] of cases) {
        const r = await pub(path, body);
        assert.equal(r.status, status, `${path} ${JSON.stringify(body)}: ${r.text}`);
        assert.match(String(r.headers['content-type']), /^text\/plain/);
        assert.ok(r.text.length > 0);
      }
      const broken = await server.request('POST', `/api/v1/public/${DOMAIN}/tracking/sessions`, {
        raw: '{"utmSource":',
      });
      assert.equal(broken.status, 400);
      assert.match(String(broken.headers['content-type']), /^text\/plain/);
      const unknown = await server.request('POST', '/api/v1/public/nobody.localhost/tracking/sessions', {
        body: {},
      });
      assert.equal(unknown.status, 404);
      assert.match(String(unknown.headers['content-type']), /^text\/plain/);
      const preflight = await server.request('OPTIONS', `/api/v1/public/${DOMAIN}/callback`, {
        headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers['access-control-allow-origin'], '*');
      assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
      const doc = (await server.request('GET', '/openapi.json')).json();
      assert.ok(doc.paths['/api/v1/public/{domain}/tracking/sessions']?.post);
      assert.ok(doc.paths['/api/v1/public/{domain}/callback']?.post);
      assert.ok(doc.paths['/api/v1/tracking/numbers']?.get);
    });
  });

  describe(`UTM batches across restarts (${dialect})`, { skip: dialectSkipReason(dialect) }, () => {
    test('a call that ended before a restart is batched once after it, and never again', async () => {
      const db = await createTestDatabaseUrl(dialect);
      const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-utm-'));
      const crm = await startCrmReceiver('/utm');
      crm.answer = () => ({ status: 200, body: 'ok' });
      const config = defaultConfig({ databaseUrl: db.url, port: 0, logLevel: 'warn', recordingsDir });
      const boot = (clock: ManualClock) => buildApp(config, { clock, logger: false });
      try {
        // Process 1: the call ends 20 s in; the process stops before its first minute.
        const clock1 = createManualClock();
        let built = await boot(clock1);
        const { account } = await built.services.accounts.create({ domain: 'restart.localhost' });
        const e = await built.services.directory.employees.create(account, {
          displayName: 'Оля',
          ext: '001',
        });
        await built.services.directory.trunks.create(account, {
          number: POOL[0],
          name: 'Ads',
          destination: { type: 'employee', id: e.id },
        });
        await built.services.directory.crm.create(account, { name: 'CRM', utmUrl: crm.url });
        await built.tracking.numbers.add(account, POOL[0]);
        await built.tracking.startSession('restart.localhost', { utmSource: 'google' }, '10.1.2.3');
        built.simulator.sim.setTalkTime(account.id, { minSec: 10, maxSec: 10 });
        const { uuid } = await built.simulator.sim.incoming(account, '+380505826633', POOL[0]);
        await built.tracking.idle();
        await clock1.advance(20_000);
        await built.simulator.engine.idle();
        assert.ok(await built.store.calls.byUuid(uuid), 'the call ended and was saved');
        await built.close();
        assert.equal(crm.requests.length, 0);

        // Process 2: its first minute sends the batch the first one never sent.
        const clock2 = createManualClock(clock1.now() + 5_000);
        built = await boot(clock2);
        await clock2.advance(60_000);
        await until(() => crm.requests.length >= 1, 'the batch after the restart');
        assert.equal(crm.requests[0].json.length, 1);
        assert.equal(crm.requests[0].json[0].callParentUuid, uuid);
        assert.equal(crm.requests[0].json[0].clientIp, '10.1.2.3');
        await until(
          async () => (await built.store.outbox.counts(account.id)).delivered === 1,
          'the delivery recorded',
        );
        await built.close();

        // Process 3: nothing is sent again.
        const clock3 = createManualClock(clock2.now() + 5_000);
        built = await boot(clock3);
        await clock3.advance(180_000);
        assert.equal(await built.utmBatcher.runOnce(), 0);
        await sleep(300);
        assert.equal(crm.requests.length, 1);
        await built.close();
      } finally {
        await crm.close();
        await db.drop();
        fs.rmSync(recordingsDir, { recursive: true, force: true });
      }
    });
  });
}
