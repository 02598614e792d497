// What a CRM receives for each kind of call (README "What a CRM receives"): one uuid per phone
// call across makeCall, active/v3, the events, company.api/users.api and the recording; every key
// typed as the document's examples show it. Over HTTP, with a real CRM (lookup + events) on
// loopback; the simulator runs on a manual clock, the deliveries are real requests.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { createManualClock } from '../src/index.ts';
import { type CrmReceiver, startCrmReceiver } from './support/crm-receiver.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import {
  contactBody,
  createContacts,
  type Session,
  startServer,
  type TestServer,
} from './support/harness.ts';
import { sleep, until } from './support/wait.ts';

const T_DIRECT = '+380442246595';
const T_IVR = '+380442246596';
const T_GROUP = '+380442246597';

// biome-ignore lint/suspicious/noExplicitAny: payloads are checked key by key below
type Json = any;

/** `leg` as a client typed from the document reads it: `{id: number, ext: string, displayName: string}`. */
function assertTypedLeg(leg: Json, what: string) {
  assert.ok(leg !== null && typeof leg === 'object', `${what}: leg is an object, got ${JSON.stringify(leg)}`);
  assert.equal(typeof leg.id, 'number', `${what}: leg.id is a number`);
  assert.equal(typeof leg.ext, 'string', `${what}: leg.ext is a string`);
  assert.equal(typeof leg.displayName, 'string', `${what}: leg.displayName is a string`);
}

/** An active/v3 item or an event, as the strict clients of the issue read it. */
function assertTyped(item: Json, what: string, external: string | null) {
  assertTypedLeg(item.leg, what);
  if (item.lgDirection === 1) assertTypedLeg(item.leg2, `${what} leg2`);
  else assert.equal(item.leg2, null, `${what}: leg2 only for internal calls`);
  assert.equal(typeof item.trunkNum, 'string', `${what}: trunkNum is a string`);
  assert.equal(typeof item.trunkName, 'string', `${what}: trunkName is a string`);
  if (external === null) return;
  assert.ok(Array.isArray(item.otherLegs) && item.otherLegs.length >= 1, `${what}: otherLegs never empty`);
  for (const o of item.otherLegs) {
    assert.equal(o.num, external, `${what}: otherLegs[].num is the other party's number`);
    assert.equal(typeof o.url, 'string', `${what}: otherLegs[].url is a string`);
    assert.equal(typeof o.priority, 'number', `${what}: otherLegs[].priority`);
    for (const k of ['id', 'name', 'companyName']) assert.ok(k in o, `${what}: otherLegs[].${k} present`);
  }
}

for (const dialect of DIALECTS) {
  describe(`one uuid per phone call: what a CRM sees [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    const clock = createManualClock(Date.UTC(2026, 11, 2, 10));
    let server: TestServer;
    let s: Session;
    let lookup: CrmReceiver;
    let events: CrmReceiver;
    const ids: Record<string, number> = {};
    let groupId = 0;
    let knownContactId = 0;
    const KNOWN = '+380501234500';
    const RESPONSIBLE = '+380501234599';
    const admin = async (method: string, path: string, body?: unknown) => {
      const r = await s.admin(method, path, body);
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
      return r;
    };

    before(async () => {
      lookup = await startCrmReceiver('/lookup');
      events = await startCrmReceiver('/events');
      // The CRM does not know anyone but offers its "new contact" link (the document's variant a);
      // one number has a responsible employee.
      lookup.answer = (r) => {
        const num = String(r.json?.otherLegNum);
        if (num === RESPONSIBLE)
          return {
            status: 200,
            body: JSON.stringify({
              otherLeg: { name: 'Відповідальний клієнт', responsibleEmployeeExt: '003' },
            }),
          };
        return {
          status: 200,
          body: JSON.stringify({
            otherLeg: {
              name: null,
              url: `https://crm.example/new?num=${encodeURIComponent(num)}`,
              newEntry: true,
            },
          }),
        };
      };
      server = await startServer(dialect, { clock, config: { sessionIdleSec: 30 * 86400 } });
      s = await server.account('ids.localhost');
      await admin('POST', '/api/v1/employees', { displayName: 'Андрій', ext: '002' });
      await admin('POST', '/api/v1/employees', { displayName: 'Марія', ext: '003' });
      for (const e of (await admin('GET', '/api/v1/employees')).json()) ids[e.ext] = e.id;
      for (const ext of ['001', '002', '003'])
        await admin('PUT', `/api/v1/sim/behaviours/employees/${ext}`, { mode: 'manual' });
      await admin('PUT', '/api/v1/sim/behaviours/external/*', {
        mode: 'answer',
        answerAfterSec: 4,
        probability: 1,
      });
      await admin('PUT', '/api/v1/sim/talk-time', { minSec: 600, maxSec: 600 });
      groupId = (
        await admin('POST', '/api/v1/groups', {
          name: 'Продажі',
          ext: '100',
          strategy: 'simultaneous',
          ringTimeoutSec: 30,
          members: [ids['002'], ids['003']],
        })
      ).json().id;
      const ivrId = (
        await admin('POST', '/api/v1/ivr', {
          name: 'Меню',
          timeoutSec: 60,
          options: [
            { digit: '1', target: { type: 'employee', id: ids['002'] } },
            { digit: '2', target: { type: 'group', id: groupId } },
          ],
          defaultTarget: { type: 'employee', id: ids['003'] },
        })
      ).json().id;
      await admin('POST', '/api/v1/trunks', {
        number: T_DIRECT,
        name: 'Головний',
        destination: { type: 'employee', id: ids['002'] },
        isDefault: true,
      });
      await admin('POST', '/api/v1/trunks', {
        number: T_IVR,
        name: 'Меню',
        destination: { type: 'ivr', id: ivrId },
      });
      await admin('POST', '/api/v1/trunks', {
        number: T_GROUP,
        name: 'Продажі',
        destination: { type: 'group', id: groupId },
      });
      await admin('POST', '/api/v1/crm-connections', {
        name: 'CRM',
        callSettingsUrl: lookup.url,
        eventsUrl: events.url,
        priority: 1,
      });
      [knownContactId] = await createContacts(s, [
        contactBody({ first: 'Олена', last: 'Коваль', phones: [KNOWN] }),
      ]);
    });
    after(async () => {
      await server?.close();
      await lookup?.close();
      await events?.close();
    });

    const engine = () => server.built.simulator.engine;
    // Each test starts with no call in progress: one that failed midway must not leave a busy
    // employee (or its call) behind for the next one to trip over.
    afterEach(async () => {
      for (const c of await active()) {
        const r = await s.get(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
        assert.ok(r.status === 200 || r.status === 404, r.text);
      }
      await engine().idle();
    });
    const evs = (uuid: string): Json[] =>
      events.requests.filter((r) => r.json?.uuid === uuid).map((r) => r.json);
    const childEvents = (uuid: string): Json[] =>
      events.requests.filter((r) => r.json?.parentUuid === uuid).map((r) => r.json);
    const active = async (): Promise<Json[]> => {
      const r = await s.get('/rest/calls/active/v3');
      assert.equal(r.status, 200, r.text);
      return r.json();
    };
    const history = async (list: 'company' | 'users'): Promise<Json[]> => {
      const r = await s.get(
        `/rest/calls/${list}.api?timeFrom=${clock.now() - 3_600_000}&timeTo=${clock.now() + 1000}`,
      );
      assert.equal(r.status, 200, r.text);
      return r.json();
    };
    /** Waits for `n` events of `uuid`, then a little longer to see that no more come. */
    async function eventsOf(uuid: string, n: number): Promise<Json[]> {
      await engine().idle();
      await until(() => evs(uuid).length >= n, `${n} events of ${uuid}`);
      await sleep(250);
      return evs(uuid);
    }
    async function hangup(uuid: string) {
      const r = await s.get(`/rest/calls/active/${uuid}/hangup`);
      assert.equal(r.status, 200, r.text);
      await engine().idle();
    }
    const answer = async (uuid: string, ext: string) => {
      await admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext });
      await engine().idle();
    };

    /**
     * The direct-call row of README's table: `uuid` everywhere, parentUuid null, leg = the employee,
     * one dial, one bridge (bridgeAt fixed once sent), one hangup, one record in company.api and one
     * in users.api, and the recording under the same uuid.
     */
    async function assertDirectCall(
      uuid: string,
      o: { ext: string; direction: number; other: string | null },
    ) {
      const list = await eventsOf(uuid, 3);
      assert.deepEqual(
        list.map((e) => e.event),
        ['call.dial', 'call.bridge', 'call.hangup'],
      );
      assert.deepEqual(childEvents(uuid), [], 'no second uuid for the same phone call');
      for (const e of list) {
        assert.equal(e.parentUuid, null);
        assert.equal(e.lgDirection, o.direction);
        assert.equal(o.direction === 1 ? e.leg2.ext : e.leg.ext, o.ext);
        assertTyped(e, e.event, o.other);
      }
      const [dial, bridge, hangupEv] = list;
      assert.equal(dial.bridgeAt, null);
      assert.equal(typeof bridge.bridgeAt, 'number');
      assert.equal(hangupEv.bridgeAt, bridge.bridgeAt, 'a bridgeAt once sent never moves');
      assert.equal(hangupEv.dialAt, dial.dialAt);
      const company = (await history('company')).filter((r) => r.uuid === uuid);
      const users = (await history('users')).filter((r) => r.uuid === uuid || r.parentUuid === uuid);
      assert.equal(company.length, 1, 'one company.api record');
      assert.equal(users.length, 1, 'one users.api record');
      assert.equal(users[0].uuid, uuid);
      assert.equal(users[0].parentUuid, null);
      assert.equal((o.direction === 1 ? users[0].leg2 : users[0].leg).ext, o.ext);
      assert.equal(company[0].disposition, 0);
      for (const r of [...company, ...users])
        assert.ok(String(r.audioRecUrl).endsWith(`/rest/public/calls/${uuid}/audio`), r.audioRecUrl);
      const audio = await server.request('GET', `/rest/public/calls/${uuid}/audio`);
      assert.equal(audio.status, 200);
      assert.equal(audio.headers['content-type'], 'audio/wav');
    }

    test('click-to-call: makeCall, active/v3, every event, company.api, users.api and the recording share one uuid', async () => {
      const r = await s.post('/rest/user/makeCall', { legExt: '002', otherLegNum: '0505550001' });
      assert.equal(r.status, 200, r.text);
      const { uuid } = r.json();
      let live = await active();
      assert.equal(live.length, 1);
      assert.equal(live[0].uuid, uuid, "makeCall's uuid is the call active/v3 lists");
      assert.equal(live[0].parentUuid, null);
      assert.equal(live[0].lastEvent, 'call.dial');
      assertTyped(live[0], 'ringing click-to-call', '+380505550001');
      // One entry per connected CRM: the CRM (its "new contact" link) and the contacts book.
      assert.deepEqual(
        live[0].otherLegs.map((o: Json) => [
          o.priority,
          o.id,
          o.name,
          o.url.replace(/^https?:\/\/[^/]+/, ''),
        ]),
        [
          [1, null, null, '/new?num=%2B380505550001'],
          [100, null, null, '/#/contacts?new=%2B380505550001'],
        ],
      );
      await answer(uuid, '002');
      live = await active();
      assert.equal(live.length, 1);
      assert.equal(live[0].uuid, uuid);
      assert.equal(
        live[0].bridgeAt,
        null,
        'the employee picked up; nothing is bridged until the number answers',
      );
      assert.equal(live[0].lastEvent, 'call.dial');
      // The CRM's copy of the dial is a real HTTP delivery: wait for it, then see nothing else came.
      await until(() => evs(uuid).length >= 1, `the dial of ${uuid}`);
      await sleep(250);
      assert.deepEqual(
        evs(uuid).map((e) => e.event),
        ['call.dial'],
      );
      await clock.advance(4000);
      live = await active();
      assert.equal(live[0].lastEvent, 'call.bridge');
      assert.equal(live[0].bridgeAt, clock.now());
      await clock.advance(6000);
      await hangup(uuid);
      await assertDirectCall(uuid, { ext: '002', direction: 2, other: '+380505550001' });
      assert.equal(evs(uuid)[1].bridgeAt, live[0].bridgeAt);
    });

    test("an employee's outgoing call is one call", async () => {
      const r = await admin('POST', '/api/v1/sim/outgoing', { fromExt: '003', number: '0505550002' });
      const { uuid } = r.json();
      const [live] = await active();
      assert.equal(live.uuid, uuid);
      assert.equal(live.leg.ext, '003');
      await clock.advance(4000);
      await clock.advance(5000);
      await hangup(uuid);
      await assertDirectCall(uuid, { ext: '003', direction: 2, other: '+380505550002' });
    });

    test('an incoming trunk call to one employee is one call', async () => {
      const r = await admin('POST', '/api/v1/sim/calls', { from: '0505550003', trunk: T_DIRECT });
      const { uuid } = r.json();
      const [live] = await active();
      assert.equal(live.uuid, uuid);
      assert.equal(live.trunkNum, T_DIRECT);
      await answer(uuid, '002');
      await clock.advance(3000);
      await hangup(uuid);
      await assertDirectCall(uuid, { ext: '002', direction: 4, other: '+380505550003' });
    });

    test('an incoming call through an IVR choice to one employee is one call; its dial goes when the phone rings', async () => {
      const r = await admin('POST', '/api/v1/sim/calls', { from: '0505550004', trunk: T_IVR });
      const { uuid } = r.json();
      const [inIvr] = await active();
      assert.equal(inIvr.uuid, uuid);
      assert.deepEqual(inIvr.leg, { id: 0, ext: '', displayName: 'Меню' }, 'no employee yet: the IVR, typed');
      assertTyped(inIvr, 'in the IVR', '+380505550004');
      await engine().idle();
      await sleep(200);
      assert.deepEqual(evs(uuid), [], 'no event while the caller listens to the menu');
      await admin('POST', `/api/v1/sim/calls/${uuid}/digit`, { digit: '1' });
      await engine().idle();
      const [ringing] = await active();
      assert.equal(ringing.uuid, uuid);
      assert.equal(ringing.leg.ext, '002');
      await answer(uuid, '002');
      await clock.advance(2000);
      await hangup(uuid);
      await assertDirectCall(uuid, { ext: '002', direction: 4, other: '+380505550004' });
    });

    test("the CRM's responsible employee takes a group trunk's call directly: one call", async () => {
      const r = await admin('POST', '/api/v1/sim/calls', { from: RESPONSIBLE, trunk: T_GROUP });
      const { uuid } = r.json();
      const live = await active();
      assert.deepEqual(
        live.map((c) => [c.uuid, c.leg.ext]),
        [[uuid, '003']],
      );
      await answer(uuid, '003');
      await clock.advance(2000);
      await hangup(uuid);
      await assertDirectCall(uuid, { ext: '003', direction: 4, other: RESPONSIBLE });
      assert.equal(evs(uuid)[0].otherLegs[0].name, 'Відповідальний клієнт');
    });

    test('an internal call 001 → 002: one uuid, lgDirection 1, leg the caller, leg2 the callee', async () => {
      const r = await admin('POST', '/api/v1/sim/internal', { fromExt: '001', toExt: '002' });
      const { uuid } = r.json();
      const [live] = await active();
      assert.equal(live.uuid, uuid);
      assert.equal(live.lgDirection, 1);
      assert.equal(live.leg.ext, '001');
      assert.equal(live.leg2.ext, '002');
      assert.equal(live.otherLegs, null, 'as the document shows an internal active call');
      assert.equal(
        live.trunkNum,
        T_DIRECT,
        "the account's default trunk, as the document's example shows it",
      );
      assertTyped(live, 'internal', null);
      await answer(uuid, '002');
      await clock.advance(2000);
      await hangup(uuid);
      await assertDirectCall(uuid, { ext: '002', direction: 1, other: null });
      for (const e of evs(uuid)) assert.equal(e.leg.ext, '001');
    });

    test('a ring group: parent P (its own dial, bridge, hangup) and one child per phone rung', async () => {
      const r = await admin('POST', '/api/v1/sim/calls', { from: '0505550007', trunk: T_GROUP });
      const parent = r.json().uuid;
      const ringing = await active();
      assert.deepEqual(ringing.map((c) => [c.parentUuid, c.leg.ext]).sort(), [
        [parent, '002'],
        [parent, '003'],
      ]);
      for (const c of ringing) assertTyped(c, 'ringing group member', '+380505550007');
      await answer(parent, '003');
      await clock.advance(5000);
      await hangup(parent);
      const mine = await eventsOf(parent, 3);
      assert.deepEqual(
        mine.map((e) => [e.event, e.parentUuid, e.leg.id, e.leg.ext]),
        [
          ['call.dial', null, 0, '100'],
          ['call.bridge', null, ids['003'], '003'],
          ['call.hangup', null, ids['003'], '003'],
        ],
      );
      for (const e of mine) assertTyped(e, `parent ${e.event}`, '+380505550007');
      await until(() => childEvents(parent).length >= 5, 'the children events');
      await sleep(250);
      const kids = childEvents(parent);
      const byExt = (ext: string) => kids.filter((e) => e.leg.ext === ext);
      assert.deepEqual(
        byExt('003').map((e) => e.event),
        ['call.dial', 'call.bridge', 'call.hangup'],
      );
      assert.deepEqual(
        byExt('002').map((e) => [e.event, e.bridgeAt]),
        [
          ['call.dial', null],
          ['call.hangup', null],
        ],
      );
      assert.equal(new Set(kids.map((e) => e.uuid)).size, 2, 'one uuid per member rung');
      const company = (await history('company')).filter((c) => c.uuid === parent);
      assert.equal(company.length, 1);
      assert.equal(company[0].leg.ext, '003');
      const users = (await history('users')).filter((c) => c.uuid === parent || c.parentUuid === parent);
      assert.deepEqual(users.map((c) => [c.parentUuid, c.leg.ext, c.disposition]).sort(), [
        [parent, '002', 1],
        [parent, '003', 0],
      ]);
      assert.deepEqual(
        users.map((c) => c.uuid).sort(),
        [...new Set(kids.map((e) => e.uuid))].sort(),
        'users.api joins the children events on uuid',
      );
    });

    test('a transfer keeps the uuid; transferHistory records the hops', async () => {
      const r = await admin('POST', '/api/v1/sim/calls', { from: '0505550008', trunk: T_DIRECT });
      const { uuid } = r.json();
      await answer(uuid, '002');
      await clock.advance(3000);
      await admin('POST', `/api/v1/sim/calls/${uuid}/transfer`, { toExt: '003' });
      await answer(uuid, '003');
      const live = await active();
      assert.deepEqual(
        live.map((c) => [c.uuid, c.leg.ext]),
        [[uuid, '003']],
      );
      // 002's part ended, but the call goes on under the same uuid: its row is written with the
      // call's own (and its hangup event), never alone — a process dying now leaves no row of this
      // uuid without a hangup.
      assert.deepEqual(
        (await history('users')).filter((c) => c.uuid === uuid),
        [],
      );
      await clock.advance(4000);
      await hangup(uuid);
      const mine = await eventsOf(uuid, 3);
      assert.deepEqual(
        mine.map((e) => [e.event, e.leg.ext]),
        [
          ['call.dial', '002'],
          ['call.bridge', '002'],
          ['call.hangup', '003'],
        ],
      );
      const [company] = (await history('company')).filter((c) => c.uuid === uuid);
      assert.equal(company.transferHistory, '002 > 003');
      assert.equal(company.leg.ext, '003');
      assert.equal(company.billSecs, 7);
    });

    test('active/v3 over every kind of live call: every entry typed as the document shows it', async () => {
      const inIvr = (await admin('POST', '/api/v1/sim/calls', { from: '0505550010', trunk: T_IVR })).json()
        .uuid;
      const group = (await admin('POST', '/api/v1/sim/calls', { from: '0505550011', trunk: T_GROUP })).json()
        .uuid;
      const internal = (await admin('POST', '/api/v1/sim/internal', { fromExt: '001', toExt: '100' })).json()
        .uuid;
      const known = (await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: KNOWN })).json().uuid;
      await engine().idle();
      const live = await active();
      const of = (uuid: string) => live.filter((c) => c.uuid === uuid || c.parentUuid === uuid);
      assert.equal(of(inIvr).length, 1);
      assert.equal(of(group).length, 2);
      assert.equal(of(internal).length, 2, 'an internal call to a group rings its members');
      assert.equal(of(known).length, 1);
      const numbers: Record<string, string | null> = {
        [inIvr]: '+380505550010',
        [group]: '+380505550011',
        [internal]: null,
        [known]: KNOWN,
      };
      for (const c of live) assertTyped(c, `active ${c.uuid}`, numbers[c.parentUuid ?? c.uuid]);
      const book = of(known)[0].otherLegs.find((o: Json) => o.priority === 100);
      assert.equal(book.id, knownContactId);
      assert.equal(book.name, 'Олена Коваль');
      assert.ok(book.url.endsWith(`/#/contacts?id=${knownContactId}`), book.url);
      assert.equal(of(known)[0].otherLegs[0].priority, 1, 'lower priority numbers first');
      // The raw bytes: no `null` where the document's examples show an object or a string.
      const raw = (await s.get('/rest/calls/active/v3')).text;
      assert.doesNotMatch(raw, /"leg":null|"trunkNum":null|"trunkName":null|"url":null|"num":null/);
      for (const uuid of [inIvr, group, internal, known]) await hangup(uuid);
      assert.deepEqual(await active(), []);
      // The caller who left the IVR still reached the CRM as a call: its dial, then its hangup.
      const left = await eventsOf(inIvr, 2);
      assert.deepEqual(
        left.map((e) => [e.event, e.leg.id, e.leg.displayName]),
        [
          ['call.dial', 0, 'Меню'],
          ['call.hangup', 0, 'Меню'],
        ],
      );
    });
  });
}
