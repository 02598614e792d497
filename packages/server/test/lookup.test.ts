// call.settings (spec: "The PBX calls the CRM" 1; spec #16, #17) end to end: a real Dzvin on
// loopback asks real CRM receivers on loopback; the simulator runs on a manual clock.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../src/index.ts';
import { parseCallSettingsAnswer } from '../src/integrations/lookup.ts';
import { type CrmReceiver, startCrmReceiver } from './support/crm-receiver.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import {
  contactBody,
  createContacts,
  type Session,
  startServer,
  type TestServer,
} from './support/harness.ts';

const TRUNK = '+380442246595';
const TIMEOUT_MS = 400;
const ok = (body: unknown) => ({ status: 200, body: typeof body === 'string' ? body : JSON.stringify(body) });
const known = (name: string, extra: Record<string, unknown> = {}) =>
  ok({
    otherLeg: {
      name,
      url: `http://crm.example/contacts?name=${encodeURIComponent(name)}`,
      urlText: name,
      newEntry: false,
      responsibleEmployeeExt: null,
      responsibleEmployeeEmail: null,
      ...extra,
    },
  });

describe('parsing a CRM answer (spec #16)', () => {
  test('documented, null, flat, misspelled newEntity and unquoted keys', () => {
    assert.equal(parseCallSettingsAnswer('{"otherLeg":{"name":"Іван","newEntry":false}}')?.known, true);
    assert.equal(parseCallSettingsAnswer('{"otherLeg":null}'), null);
    assert.equal(
      parseCallSettingsAnswer('{otherLeg: {name: null, url: "u", newEntry: true,},}')?.known,
      false,
    );
    assert.equal(parseCallSettingsAnswer('{"name":"Flat","url":"u"}')?.name, 'Flat');
    assert.equal(parseCallSettingsAnswer('{"name":null,"url":"u","newEntity":true}')?.known, false);
    assert.throws(() => parseCallSettingsAnswer('<html>oops</html>'), SyntaxError);
    assert.throws(() => parseCallSettingsAnswer('[1,2]'), SyntaxError);
    assert.throws(() => parseCallSettingsAnswer('{"status":"ok"}'), SyntaxError);
  });
});

for (const dialect of DIALECTS) {
  describe(`call.settings lookup [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    const clock = createManualClock(Date.UTC(2026, 10, 26, 10));
    let server: TestServer;
    let s: Session;
    let accountId: number;
    let crmA: CrmReceiver;
    let crmB: CrmReceiver;
    const ids: Record<string, number> = {};
    const admin = (method: string, path: string, body?: unknown) => s.admin(method, path, body);
    const asked = (crm: CrmReceiver, num: string) => crm.requests.filter((r) => r.json?.otherLegNum === num);

    before(async () => {
      crmA = await startCrmReceiver('/a');
      crmB = await startCrmReceiver('/b');
      server = await startServer(dialect, {
        clock,
        config: { sessionIdleSec: 30 * 86400, lookupTimeoutMs: TIMEOUT_MS },
      });
      s = await server.account('lookup.localhost');
      accountId = (await server.built.store.accounts.byDomain('lookup.localhost'))!.id;
      for (const [ext, name, email] of [
        ['002', 'Андрій', 'andrii@lookup.localhost'],
        ['003', 'Марія', 'maria@lookup.localhost'],
      ])
        assert.equal(
          (await admin('POST', '/api/v1/employees', { displayName: name, ext, email })).status,
          201,
        );
      for (const e of (await admin('GET', '/api/v1/employees')).json()) ids[e.ext] = e.id;
      for (const ext of ['001', '002', '003'])
        assert.equal(
          (await admin('PUT', `/api/v1/sim/behaviours/employees/${ext}`, { mode: 'manual' })).status,
          204,
        );
      const trunk = await admin('POST', '/api/v1/trunks', {
        number: TRUNK,
        name: 'Головний',
        destination: { type: 'employee', id: ids['001'] },
        isDefault: true,
      });
      assert.equal(trunk.status, 201, trunk.text);
      for (const [name, url, priority] of [
        ['CRM A', crmA.url, 1],
        ['CRM B', crmB.url, 2],
      ] as const) {
        const r = await admin('POST', '/api/v1/crm-connections', { name, callSettingsUrl: url, priority });
        assert.equal(r.status, 201, r.text);
      }
    });
    after(async () => {
      await server.close();
      await crmA.close();
      await crmB.close();
    });

    /** An external number calls the trunk; answers the company call as the engine sees it. */
    async function incoming(from: string) {
      const r = await admin('POST', '/api/v1/sim/calls', { from, trunk: TRUNK });
      assert.equal(r.status, 201, r.text);
      const uuid: string = r.json().uuid;
      // A direct call is itself; a ring group's members are its children.
      const legs = (await server.built.simulator.engine.active(accountId)).filter(
        (c) => c.uuid === uuid || c.parentUuid === uuid,
      );
      return { uuid, legs, ringing: legs.map((l) => l.leg?.ext) };
    }
    async function hangup(uuid: string) {
      assert.equal((await admin('POST', `/api/v1/sim/calls/${uuid}/hangup`)).status, 204);
      await server.built.simulator.engine.idle();
    }
    async function companyRecord(uuid: string) {
      const q = `timeFrom=${clock.now() - 86_400_000}&timeTo=${clock.now() + 1000}&limit=50`;
      const list = (await s.get(`/rest/calls/company.api?${q}`)).json();
      return list.find((r: { uuid: string }) => r.uuid === uuid);
    }

    test('the documented answer names the caller on the phone, the live call, otherLegs and history', async () => {
      const num = '+380501110001';
      crmA.answer = (r) => (r.json.otherLegNum === num ? known('Іван Іванов') : ok({ otherLeg: null }));
      crmB.answer = () => ok({ otherLeg: null });
      const { uuid, legs } = await incoming(num);
      const [reqA] = asked(crmA, num);
      assert.deepEqual(reqA.json, { request: 'call.settings', otherLegNum: num, trunkNum: TRUNK });
      assert.match(String(reqA.headers['content-type']), /^application\/json/);
      assert.equal(reqA.method, 'POST');
      // One entry per connected CRM, known or not, and the contacts book's (spec #17).
      const expected = [
        {
          id: null,
          name: 'Іван Іванов',
          num,
          companyName: null,
          url: 'http://crm.example/contacts?name=%D0%86%D0%B2%D0%B0%D0%BD%20%D0%86%D0%B2%D0%B0%D0%BD%D0%BE%D0%B2',
          priority: 1,
        },
        { id: null, name: null, num, companyName: null, url: '', priority: 2 },
        {
          id: null,
          name: null,
          num,
          companyName: null,
          url: `http://lookup.localhost:${server.port}/#/contacts?new=%2B380501110001`,
          priority: 100,
        },
      ];
      assert.equal(legs.length, 1);
      assert.equal(legs[0].otherLegName, 'Іван Іванов', 'the name on the ringing phone');
      assert.deepEqual(legs[0].otherLegs, expected);
      const live = (await s.get('/rest/calls/active/v3'))
        .json()
        .find((c: { uuid: string }) => c.uuid === legs[0].uuid);
      assert.deepEqual(live.otherLegs, expected);
      await hangup(uuid);
      assert.equal((await companyRecord(uuid)).otherLegName, 'Іван Іванов');
      // company.api has no otherLegs key (documented shape); the stored call keeps them.
      assert.deepEqual((await server.built.store.calls.byUuid(uuid))?.otherLegs, expected);
    });

    test('outgoing calls are looked up without trunkNum; internal calls are never looked up', async () => {
      const num = '+380501110002';
      const before = crmA.requests.length;
      const out = await admin('POST', '/api/v1/sim/outgoing', { fromExt: '002', number: num });
      assert.equal(out.status, 201, out.text);
      assert.deepEqual(asked(crmA, num)[0].json, { request: 'call.settings', otherLegNum: num });
      await hangup(out.json().uuid);
      const internal = await admin('POST', '/api/v1/sim/internal', { fromExt: '002', toExt: '003' });
      assert.equal(internal.status, 201, internal.text);
      await hangup(internal.json().uuid);
      assert.equal(crmA.requests.length, before + 1);
    });

    test('unknown in every documented form, the flat variant and the misspelled newEntity', async () => {
      const cases: [string, string, string | null][] = [
        ['+380501110010', '{"otherLeg":null}', null],
        [
          '+380501110011',
          '{otherLeg: {name: null, url: "http://crm.example/new", urlText: "Додати", newEntry: true, responsibleEmployeeExt: null,},}',
          null,
        ],
        ['+380501110012', '{"name":"Плаский Варіант","url":"http://crm.example/c/12"}', 'Плаский Варіант'],
        ['+380501110013', '{"name":null,"url":"http://crm.example/new","newEntity":true}', null],
        [
          '+380501110014',
          '{name: "Без лапок", url: "http://crm.example/c/14", newEntity: false}',
          'Без лапок',
        ],
      ];
      for (const [num, body, name] of cases) {
        crmA.answer = () => ok(body);
        crmB.answer = () => ok({ otherLeg: null });
        const { uuid, legs } = await incoming(num);
        assert.equal(legs[0].otherLegName, name, body);
        // Every CRM has its entry; only one that knows the number names it.
        assert.deepEqual(
          legs[0].otherLegs.map((l) => [l.priority, l.name, l.num]),
          [
            [1, name, num],
            [2, null, num],
            [100, null, num],
          ],
          body,
        );
        // A CRM's "create a contact" link (newEntry) is its entry's url.
        if (body.includes('crm.example/new'))
          assert.equal(legs[0].otherLegs[0].url, 'http://crm.example/new', body);
        await hangup(uuid);
        const record = await companyRecord(uuid);
        assert.equal(record.otherLegName, name ?? num, 'history shows the number when nobody knew it');
      }
    });

    test('a CRM that sleeps past the timeout, one answering 500 and one answering garbage never hold or fail the call', async () => {
      for (const [num, answerB] of [
        ['+380501110020', { status: 500, body: 'Internal Server Error' }],
        ['+380501110021', ok('<html>not json</html>')],
      ] as const) {
        crmA.answer = () => 'hang';
        crmB.answer = () => answerB;
        const started = performance.now();
        const { uuid, ringing } = await incoming(num);
        const took = performance.now() - started;
        assert.ok(took >= TIMEOUT_MS - 50, `waited ${took} ms for the CRMs`);
        assert.ok(took < TIMEOUT_MS + 1500, `the call went on after ${took} ms (timeout ${TIMEOUT_MS})`);
        assert.deepEqual(ringing, ['001'], 'the normal route');
        await hangup(uuid);
        assert.equal((await companyRecord(uuid)).otherLegName, num);
      }
    });

    test('routing to the responsible employee: ext wins over e-mail, e-mail alone, unavailable → normal route', async () => {
      crmB.answer = () => ok({ otherLeg: null });
      const cases: [string, Record<string, unknown>, string][] = [
        [
          '+380501110030',
          { responsibleEmployeeExt: '003', responsibleEmployeeEmail: 'andrii@lookup.localhost' },
          '003',
        ],
        ['+380501110031', { responsibleEmployeeEmail: 'ANDRII@lookup.localhost' }, '002'],
        ['+380501110032', { responsibleEmployeeExt: '777' }, '001'],
      ];
      for (const [num, extra, ext] of cases) {
        crmA.answer = () => known('Постійний Клієнт', extra);
        const { uuid, ringing } = await incoming(num);
        assert.deepEqual(ringing, [ext], JSON.stringify(extra));
        await hangup(uuid);
      }
      // 003 paused: the call takes the trunk's normal route.
      assert.equal((await admin('POST', '/api/v1/sim/employees/003/pause')).status, 204);
      crmA.answer = () => known('Постійний Клієнт', { responsibleEmployeeExt: '003' });
      const paused = await incoming('+380501110033');
      assert.deepEqual(paused.ringing, ['001']);
      await hangup(paused.uuid);
      assert.equal((await admin('POST', '/api/v1/sim/employees/003/unpause')).status, 204);
      // 003 talking on another call: not available either.
      crmA.answer = () => known('Постійний Клієнт', { responsibleEmployeeExt: '003' });
      const first = await incoming('+380501110034');
      assert.deepEqual(first.ringing, ['003']);
      assert.equal(
        (await admin('POST', `/api/v1/sim/calls/${first.uuid}/answer`, { ext: '003' })).status,
        204,
      );
      const second = await incoming('+380501110034');
      assert.deepEqual(second.ringing, ['001'], 'the responsible employee is talking');
      await hangup(second.uuid);
      await hangup(first.uuid);
    });

    test('answers are cached: known numbers for 5 minutes, unknown ones for 1 minute', async () => {
      const knownNum = '+380501110040';
      const unknownNum = '+380501110041';
      crmA.answer = (r) => (r.json.otherLegNum === knownNum ? known('Кешований') : ok({ otherLeg: null }));
      crmB.answer = () => ok({ otherLeg: null });
      const call = async (num: string) => hangup((await incoming(num)).uuid);
      await call(knownNum);
      await call(unknownNum);
      assert.equal(asked(crmA, knownNum).length, 1);
      assert.equal(asked(crmA, unknownNum).length, 1);

      await clock.advance(59_000);
      await call(knownNum);
      await call(unknownNum);
      assert.equal(asked(crmA, unknownNum).length, 1, 'unknown: cached within a minute');
      await clock.advance(2_000);
      await call(unknownNum);
      assert.equal(asked(crmA, unknownNum).length, 2, 'unknown: asked again after a minute');
      assert.equal(asked(crmB, unknownNum).length, 2);

      await clock.advance(4 * 60_000 - 10_000); // 4:50 after the first call
      const hit = await incoming(knownNum);
      assert.equal(hit.legs[0].otherLegName, 'Кешований', 'the cached name');
      await hangup(hit.uuid);
      assert.equal(asked(crmA, knownNum).length, 1, 'known: cached within 5 minutes');
      await clock.advance(11_000);
      await call(knownNum);
      assert.equal(asked(crmA, knownNum).length, 2, 'known: asked again after 5 minutes');

      // Expired rows are cleaned up.
      await clock.advance(6 * 60_000);
      assert.ok((await server.built.store.lookupCache.deleteExpired(clock.now())) >= 2);
      assert.equal(await server.built.store.lookupCache.get(accountId, knownNum, clock.now()), null);
    });

    test('two CRMs with priorities and the contacts book as a CRM of its own priority', async () => {
      const num = '+380501110050';
      crmA.answer = () => known('Ім’я з A', { id: 'a-17', companyName: 'ТОВ А' });
      crmB.answer = () => known('Ім’я з B', { id: 42 });
      const first = await incoming(num);
      assert.equal(first.legs[0].otherLegName, 'Ім’я з A');
      assert.deepEqual(
        first.legs[0].otherLegs.map((l) => [l.id, l.name, l.companyName, l.priority]),
        [
          ['a-17', 'Ім’я з A', 'ТОВ А', 1],
          [42, 'Ім’я з B', null, 2],
          [null, null, null, 100],
        ],
      );
      await hangup(first.uuid);

      // The contacts book knows the number too; it ranks by the account's contactsPriority.
      const [contactId] = await createContacts(s, [
        contactBody({ first: 'Олег', last: 'Книжний', phones: ['0501110050'], company: 'Книга' }),
      ]);
      const second = await incoming(num);
      assert.deepEqual(
        second.legs[0].otherLegs.map((l) => [l.id, l.name, l.priority]),
        [
          ['a-17', 'Ім’я з A', 1],
          [42, 'Ім’я з B', 2],
          [contactId, 'Олег Книжний', 100],
        ],
      );
      await hangup(second.uuid);
      const patched = await admin('PATCH', '/api/v1/account', { contactsPriority: 0 });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json().contactsPriority, 0);
      const third = await incoming(num);
      assert.equal(third.legs[0].otherLegName, 'Олег Книжний');
      assert.deepEqual(third.legs[0].otherLegs[0], {
        id: contactId,
        name: 'Олег Книжний',
        num,
        companyName: 'Книга',
        url: `http://lookup.localhost:${server.port}/#/contacts?id=${contactId}`,
        priority: 0,
      });
      await hangup(third.uuid);
      assert.equal((await companyRecord(third.uuid)).otherLegName, 'Олег Книжний');
      assert.equal((await server.built.store.calls.byUuid(third.uuid))?.otherLegs.length, 3);
    });
  });
}
