// company.api, missed.api and users.api over loopback, on every dialect. Finished calls are
// seeded through the same CallStore the engine writes to (server.built.store.calls).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FinishedCall, Party } from '../src/domain/calls/call-model.ts';
import { toHistoryRecord } from '../src/domain/calls/history-service.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';

const COMPANY = '/rest/calls/company.api';
const MISSED = '/rest/calls/missed.api';
const USERS = '/rest/calls/users.api';

const DAY = 86_400_000;
/** Each test works in its own day, so the tests of one database do not see each other's calls. */
const day = (n: number) => Date.UTC(2026, 0, n);
const period = (n: number) => `timeFrom=${day(n)}&timeTo=${day(n) + DAY - 1}`;

const ivan: Party = { type: 1, id: 36, ext: '001', displayName: 'Васильев Андрей' };
const operator4: Party = { type: 1, id: 19, ext: '004', displayName: 'Operator 4' };
const sales: Party = { type: 2, id: 7, ext: '500', displayName: 'Sales' };
const menu: Party = { type: 4, id: 3, ext: null, displayName: 'Main menu' };

const HISTORY_KEYS = [
  'audioRecUrl',
  'billSecs',
  'disposition',
  'duration',
  'endAt',
  'leg',
  'leg2',
  'lgDirection',
  'otherLegName',
  'otherLegNum',
  'parentUuid',
  'transferHistory',
  'trunk',
  'uuid',
];

interface HistoryRecord {
  uuid: string;
  endAt: number;
  lgDirection: number;
  otherLegNum: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  [key: string]: any;
}

for (const dialect of DIALECTS) {
  describe(`call history [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let a: Session;
    let b: Session;
    let accountA: number;
    let accountB: number;

    /** A finished company call of account A, answered incoming from +380501112233 unless told. */
    const call = (o: Partial<FinishedCall> & { endAt: number }): FinishedCall => ({
      uuid: randomUUID(),
      accountId: accountA,
      kind: 'company',
      parentUuid: null,
      direction: 4,
      leg: ivan,
      leg2: null,
      otherLegNum: '+380501112233',
      otherLegName: null,
      otherLegs: [],
      trunkNum: '+380442246595',
      trunkName: 'Main',
      trunk: 'i=380442246595;',
      dialAt: o.endAt - 30_000,
      bridgeAt: o.endAt - 20_000,
      billSecs: 20,
      duration: 30,
      disposition: 0,
      transferHistory: '001',
      recordingUuid: null,
      ...o,
    });
    const save = async (...calls: FinishedCall[]) => {
      for (const c of calls) await server.built.store.calls.save(c);
      return calls;
    };
    const missedCall = (num: string, endAt: number, o: Partial<FinishedCall> = {}) =>
      call({
        endAt,
        otherLegNum: num,
        leg: sales,
        bridgeAt: null,
        billSecs: 0,
        disposition: 1,
        transferHistory: null,
        ...o,
      });
    const list = async (s: Session, path: string): Promise<HistoryRecord[]> => {
      const r = await s.get(path);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.match(String(r.headers['content-type']), /^application\/json/);
      const body = r.json();
      assert.ok(Array.isArray(body), `${path} answers an array`);
      return body;
    };
    const uuids = (records: HistoryRecord[]) => records.map((r) => r.uuid);
    const newestFirst = (calls: FinishedCall[]) =>
      [...calls]
        .sort((x, y) => y.endAt - x.endAt || (x.uuid < y.uuid ? 1 : x.uuid > y.uuid ? -1 : 0))
        .map((c) => c.uuid);

    before(async () => {
      server = await startServer(dialect);
      a = await server.account('calls-a.localhost');
      b = await server.account('calls-b.localhost');
      accountA = (await server.built.store.accounts.byDomain('calls-a.localhost'))!.id;
      accountB = (await server.built.store.accounts.byDomain('calls-b.localhost'))!.id;
    });
    after(() => server.close());

    test('pages of 50 walk 120 calls newest first: 50, 50, 20, then [], no duplicates or gaps', async () => {
      // Three calls share each end time: the uuid tie-break keeps offset paging stable.
      const calls = await save(
        ...Array.from({ length: 120 }, (_, i) =>
          call({ endAt: day(1) + 3_600_000 + Math.floor(i / 3) * 1000, direction: i % 2 ? 2 : 4 }),
        ),
      );
      const first = await list(a, `${COMPANY}?${period(1)}`);
      assert.equal(first.length, 50, 'limit defaults to 50');
      const pages = [first];
      for (const offset of [50, 100, 150])
        pages.push(await list(a, `${COMPANY}?${period(1)}&limit=50&offset=${offset}`));
      assert.deepEqual(
        pages.map((p) => p.length),
        [50, 50, 20, 0],
      );
      const walked = pages.flat().map((r) => r.uuid);
      assert.equal(new Set(walked).size, 120, 'no record twice');
      assert.deepEqual(walked, newestFirst(calls), 'every call once, newest first, uuid breaking ties');
      assert.deepEqual(await list(a, `${COMPANY}?${period(1)}&offset=100000`), [], 'past the end: 200 []');
      assert.deepEqual(await list(a, `${COMPANY}?${period(1)}&limit=0`), []);
      const small = await list(a, `${COMPANY}?${period(1)}&limit=7&offset=3`);
      assert.deepEqual(uuids(small), walked.slice(3, 10));
    });

    test('timeFrom and timeTo may be seconds (below 1e12) and the period is inclusive', async () => {
      const inSeconds = await list(
        a,
        `${COMPANY}?timeFrom=${day(1) / 1000}&timeTo=${(day(2) - 1000) / 1000}`,
      );
      const inMs = await list(a, `${COMPANY}?${period(1)}`);
      assert.equal(inSeconds.length, 50);
      assert.deepEqual(uuids(inSeconds), uuids(inMs));
      const [edge] = await save(call({ endAt: day(30) }));
      assert.deepEqual(uuids(await list(a, `${COMPANY}?timeFrom=${day(30)}&timeTo=${day(30)}`)), [edge.uuid]);
      assert.deepEqual(await list(a, `${COMPANY}?timeFrom=${day(30) + 1}&timeTo=${day(31)}`), []);
    });

    test('every documented key is present, null when unknown, with 13-digit millisecond times', async () => {
      const [internal, outgoing, toIvr] = await save(
        call({
          endAt: day(2) + 1_435_319,
          direction: 1,
          parentUuid: randomUUID(),
          leg: ivan,
          leg2: operator4,
          otherLegNum: null,
          otherLegName: null,
          trunkNum: null,
          trunkName: null,
          trunk: null,
          billSecs: 3,
          duration: 4,
          transferHistory: null,
        }),
        call({
          endAt: day(2) + 1_435_317,
          direction: 2,
          otherLegNum: '+380993034330',
          otherLegName: 'Петро Петренко',
          trunk: 'o=380442249895;',
          billSecs: 4,
          duration: 15,
          transferHistory: '003 > 001',
          recordingUuid: 'rec-1',
        }),
        call({
          endAt: day(2) + 1_435_310,
          leg: menu,
          otherLegNum: '+380993034331',
          bridgeAt: null,
          billSecs: 0,
          disposition: 1,
          transferHistory: null,
        }),
      );
      const records = await list(a, `${COMPANY}?${period(2)}`);
      assert.deepEqual(uuids(records), [internal.uuid, outgoing.uuid, toIvr.uuid]);
      for (const r of records) {
        assert.deepEqual(Object.keys(r).sort(), HISTORY_KEYS);
        assert.equal(typeof r.uuid, 'string');
        assert.ok(Number.isInteger(r.endAt) && String(r.endAt).length === 13, `endAt ${r.endAt} is ms`);
        for (const k of ['lgDirection', 'billSecs', 'duration', 'disposition'])
          assert.ok(Number.isInteger(r[k]), `${k} is an integer`);
        for (const leg of [r.leg, r.leg2].filter(Boolean))
          assert.deepEqual(Object.keys(leg).sort(), ['displayName', 'ext', 'id', 'type']);
      }
      const [ri, ro, rv] = records;
      assert.deepEqual(ri, {
        parentUuid: internal.parentUuid,
        uuid: internal.uuid,
        endAt: internal.endAt,
        lgDirection: 1,
        otherLegNum: null,
        otherLegName: null,
        leg: { id: 36, type: 1, displayName: 'Васильев Андрей', ext: '001' },
        leg2: { id: 19, type: 1, displayName: 'Operator 4', ext: '004' },
        billSecs: 3,
        duration: 4,
        disposition: 0,
        transferHistory: null,
        audioRecUrl: null,
        trunk: null,
      });
      assert.equal(ro.parentUuid, null);
      assert.equal(ro.otherLegName, 'Петро Петренко');
      assert.equal(ro.transferHistory, '003 > 001');
      assert.equal(ro.trunk, 'o=380442249895;');
      assert.equal(ro.leg2, null);
      assert.equal(ro.audioRecUrl, `http://calls-a.localhost:${server.port}/rest/public/calls/rec-1/audio`);
      assert.deepEqual(rv.leg, { id: 3, type: 4, displayName: 'Main menu', ext: null }, 'an IVR has no ext');
      assert.equal(rv.otherLegName, '+380993034331', 'without a name, otherLegName is the number');
      assert.equal(rv.audioRecUrl, null);
      assert.equal(rv.disposition, 1);
    });

    test('the records the database builds are exactly toHistoryRecord of the stored calls', async () => {
      // The endpoints send JSON the database builds (json_object / json_build_object); the
      // domain's toHistoryRecord is the definition. Awkward text must survive both the same way.
      const odd = 'Ім\'я "в лапках" \\ back\u0001slash\ttab 😀 </script>';
      const saved = await save(
        call({
          endAt: day(20) + 5_000,
          otherLegName: odd,
          transferHistory: `${odd} > 001`,
          recordingUuid: 'rec-x',
        }),
        call({
          endAt: day(20) + 4_000,
          leg: null,
          leg2: { ...operator4, displayName: odd },
          otherLegNum: null,
        }),
        call({ endAt: day(20) + 3_000, kind: 'user', parentUuid: randomUUID(), direction: 2, trunk: odd }),
        call({
          endAt: day(20) + 2_000,
          kind: 'pause',
          direction: 32,
          leg: ivan,
          otherLegNum: null,
          billSecs: 0,
        }),
        missedCall('+380671234567', day(20) + 1_000, { otherLegName: odd }),
      );
      const base = `http://calls-a.localhost:${server.port}`;
      const q = { from: day(20), to: day(20) + DAY - 1, offset: 0, limit: 50 };
      const calls = server.built.store.calls;
      const cases = [
        [COMPANY, await calls.company(accountA, { ...q, directions: [1, 2, 4] })],
        [`${USERS}`, await calls.users(accountA, { ...q, directions: [1, 2, 4, 32, 64] })],
        [MISSED, await calls.missed(accountA, q)],
      ] as const;
      for (const [path, stored] of cases) {
        assert.ok(stored.length > 0, `${path} has calls to compare`);
        const extra = path === USERS ? '&directions[]=1&directions[]=2&directions[]=4&directions[]=32' : '';
        assert.deepEqual(
          await list(a, `${path}?${period(20)}${extra}`),
          stored.map((c) => toHistoryRecord(c, base)),
          path,
        );
      }
      assert.equal(saved.length, 5);
    });

    test('audioRecUrl is on the scheme and Host the request came in on', async () => {
      const records = await list(a, `${COMPANY}?${period(2)}&directions=2`);
      assert.equal(records.length, 1);
      const r = await a.get(`${COMPANY}?${period(2)}&directions=2`, { host: 'pbx.example.test:8443' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json()[0].audioRecUrl, 'http://pbx.example.test:8443/rest/public/calls/rec-1/audio');
    });

    test('directions in every encoding of spec #7 select the same calls', async () => {
      const seeded = await save(
        call({ endAt: day(3) + 1000, direction: 1, otherLegNum: null, leg2: operator4, trunk: null }),
        call({ endAt: day(3) + 2000, direction: 2 }),
        call({ endAt: day(3) + 3000, direction: 2 }),
        call({ endAt: day(3) + 4000, direction: 4 }),
        call({ endAt: day(3) + 5000, direction: 4, disposition: 4 }),
        call({ endAt: day(3) + 6000, direction: 4, disposition: 1 }),
      );
      const outAndIn = newestFirst(seeded.filter((c) => c.direction !== 1));
      for (const q of [
        'directions=6',
        'directions=2&directions=4',
        'directions[]=2&directions[]=4',
        'directions%5B%5D=2&directions%5B%5D=4',
        'directions[0]=2&directions[1]=4',
        'directions=2,4',
        'directions=2%2C4',
        'directions=2&directions=4,2',
      ]) {
        assert.deepEqual(uuids(await list(a, `${COMPANY}?${period(3)}&${q}`)), outAndIn, q);
      }
      const all = newestFirst(seeded);
      for (const q of ['', '&directions=7', '&directions=1,2,4', '&directions[]=1&directions[]=6'])
        assert.deepEqual(uuids(await list(a, `${COMPANY}?${period(3)}${q}`)), all, q || 'no filter');
      const internal = await list(a, `${COMPANY}?${period(3)}&directions=1`);
      assert.deepEqual(uuids(internal), [seeded[0].uuid]);
      const incoming = await list(a, `${COMPANY}?${period(3)}&directions[0]=4`);
      assert.deepEqual(
        incoming.map((r) => r.lgDirection),
        [4, 4, 4],
      );
    });

    test('users.api lists employee legs, and pause (32) / unpause (64) records when asked', async () => {
      const parent = call({ endAt: day(4) + 60_000, leg: ivan });
      const answered = call({ endAt: day(4) + 60_000, kind: 'user', parentUuid: parent.uuid, leg: ivan });
      const rungOut = call({
        endAt: day(4) + 40_000,
        kind: 'user',
        parentUuid: parent.uuid,
        leg: operator4,
        disposition: 1,
        billSecs: 0,
        bridgeAt: null,
        transferHistory: null,
      });
      const outgoing = call({ endAt: day(4) + 100_000, kind: 'user', direction: 2, leg: operator4 });
      const pauseRecord = (kind: 'pause' | 'unpause', endAt: number): FinishedCall =>
        call({
          endAt,
          kind,
          direction: kind === 'pause' ? 32 : 64,
          leg: operator4,
          otherLegNum: null,
          trunkNum: null,
          trunkName: null,
          trunk: null,
          dialAt: endAt,
          bridgeAt: null,
          billSecs: 0,
          duration: 0,
          transferHistory: null,
        });
      const paused = pauseRecord('pause', day(4) + 10_000);
      const unpaused = pauseRecord('unpause', day(4) + 20_000);
      await save(parent, answered, rungOut, outgoing, paused, unpaused);

      const legs = await list(a, `${USERS}?${period(4)}`);
      assert.deepEqual(uuids(legs), newestFirst([answered, rungOut, outgoing]), 'calls only by default');
      assert.ok(
        legs.every((r) => r.uuid !== parent.uuid),
        'company records are not employee legs',
      );
      const child = legs.find((r) => r.uuid === rungOut.uuid)!;
      assert.equal(child.parentUuid, parent.uuid, 'ring-group children carry parentUuid');
      assert.equal(child.disposition, 1);

      assert.deepEqual(uuids(await list(a, `${USERS}?${period(4)}&directions=32`)), [paused.uuid]);
      assert.deepEqual(uuids(await list(a, `${USERS}?${period(4)}&directions=64`)), [unpaused.uuid]);
      for (const q of [
        'directions=96',
        'directions=32&directions=64',
        'directions[]=32&directions[]=64',
        'directions=32,64',
      ])
        assert.deepEqual(uuids(await list(a, `${USERS}?${period(4)}&${q}`)), [unpaused.uuid, paused.uuid], q);
      assert.deepEqual(
        uuids(await list(a, `${USERS}?${period(4)}&directions=36`)),
        newestFirst([answered, rungOut, paused]),
        'incoming legs and pause records (4 + 32)',
      );
      assert.deepEqual(
        uuids(await list(a, `${USERS}?${period(4)}&directions=103`)),
        newestFirst([answered, rungOut, outgoing, paused, unpaused]),
      );

      const [record] = await list(a, `${USERS}?${period(4)}&directions=32`);
      assert.deepEqual(Object.keys(record).sort(), HISTORY_KEYS);
      assert.equal(record.lgDirection, 32);
      assert.deepEqual(record.leg, { id: 19, type: 1, displayName: 'Operator 4', ext: '004' });
      assert.equal(record.otherLegNum, null);
      assert.equal(record.otherLegName, null);
      assert.equal(record.audioRecUrl, null);
      assert.equal(record.trunk, null);

      assert.deepEqual(
        uuids(await list(a, `${COMPANY}?${period(4)}`)),
        [parent.uuid],
        'company: one record per call',
      );
    });

    test('missed.api: an unanswered incoming call stays until an answered call with that number ends after it', async () => {
      const t = day(5) + 3_600_000;
      const [calledBack, stillMissed, missedAgain, clearedLater, neverAsked] = await save(
        missedCall('+380501000001', t),
        missedCall('+380501000002', t + 1000),
        missedCall('+380501000002', t + 2000, { disposition: 4 }),
        missedCall('+380501000003', t + 3000, { leg: menu }),
        missedCall('+380501000004', t + 4000, { disposition: 2 }),
      );
      // Answered calls never appear; nor do outgoing or internal calls nobody answered.
      await save(
        call({ endAt: t - 60_000, otherLegNum: '+380501000004' }), // answered *before* the missed one
        call({ endAt: t + 5000, otherLegNum: '+380501000009' }),
        call({ endAt: t + 6000, direction: 2, otherLegNum: '+380501000008', disposition: 1 }),
        call({ endAt: t + 7000, direction: 1, otherLegNum: null, leg2: operator4, disposition: 1 }),
        // An employee leg that answered is not a company call: it does not clear anything.
        call({ endAt: t + 8000, kind: 'user', direction: 2, otherLegNum: '+380501000002' }),
      );
      const before = await list(a, `${MISSED}?${period(5)}`);
      assert.deepEqual(
        uuids(before),
        newestFirst([calledBack, stillMissed, missedAgain, clearedLater, neverAsked]),
        'a missed call followed only by another missed call stays',
      );
      assert.ok(before.every((r) => r.lgDirection === 4 && r.disposition !== 0));

      // The employee calls the first number back (outgoing, answered).
      await save(call({ endAt: t + 60_000, direction: 2, otherLegNum: '+380501000001' }));
      // The third number calls again the next day, after the period asked for, and is answered.
      await save(call({ endAt: day(6) + 1000, direction: 4, otherLegNum: '+380501000003' }));
      // Another account answering a call with the second number changes nothing here.
      await save(call({ accountId: accountB, endAt: t + 90_000, otherLegNum: '+380501000002' }));

      const after = await list(a, `${MISSED}?${period(5)}`);
      assert.deepEqual(uuids(after), newestFirst([stillMissed, missedAgain, neverAsked]));
      assert.deepEqual(
        uuids(await list(a, `${MISSED}?${period(5)}&limit=2&offset=1`)),
        uuids(after).slice(1, 3),
      );
      for (const q of ['directions=4', 'directions=6', 'directions[]=4'])
        assert.deepEqual(uuids(await list(a, `${MISSED}?${period(5)}&${q}`)), uuids(after), q);
      assert.deepEqual(await list(a, `${MISSED}?${period(5)}&directions=2`), [], 'missed calls are incoming');
      const [r] = after;
      assert.deepEqual(Object.keys(r).sort(), HISTORY_KEYS);
    });

    test('bad parameters answer 400 with a plain-text reason naming them', async () => {
      const cases: Array<[string, RegExp]> = [
        [`${COMPANY}?timeTo=${day(2)}`, /timeFrom/],
        [`${COMPANY}?timeFrom=${day(1)}`, /timeTo/],
        [`${MISSED}`, /timeFrom/],
        [`${COMPANY}?${period(1)}&limit=51`, /limit/],
        [`${USERS}?${period(1)}&limit=-1`, /limit/],
        [`${COMPANY}?${period(1)}&limit=ten`, /limit/],
        [`${MISSED}?${period(1)}&offset=-1`, /offset/],
        [`${COMPANY}?timeFrom=yesterday&timeTo=${day(2)}`, /timeFrom/],
        [`${COMPANY}?${period(1)}&directions=8`, /directions/],
        [`${COMPANY}?${period(1)}&directions=abc`, /directions/],
        [`${COMPANY}?${period(1)}&directions=2&directions=16`, /directions/],
        [`${COMPANY}?${period(1)}&directions=32`, /directions/],
        [`${MISSED}?${period(1)}&directions=8`, /directions/],
        [`${USERS}?${period(1)}&directions=128`, /directions/],
        [`${USERS}?${period(1)}&directions=8`, /directions/],
        [`${COMPANY}?timeFrom=${day(2)}&timeTo=${day(1)}`, /timeFrom.*timeTo/],
        [`${USERS}?timeFrom=${day(2) / 1000}&timeTo=${day(1)}`, /timeFrom.*timeTo/],
      ];
      for (const [path, reason] of cases) {
        const r = await a.get(path);
        assert.equal(r.status, 400, `${path}: ${r.status} ${r.text}`);
        assert.match(String(r.headers['content-type']), /^text\/plain/, path);
        assert.match(r.text, reason, path);
      }
    });

    test('a session of one account never sees the calls of another; no session is 403', async () => {
      const [ofB] = await save(call({ accountId: accountB, endAt: day(1) + 3_600_000 }));
      const bSees = await list(b, `${COMPANY}?${period(1)}`);
      assert.deepEqual(uuids(bSees), [ofB.uuid]);
      const aSees = await list(a, `${COMPANY}?${period(1)}&offset=0&limit=50`);
      assert.ok(aSees.every((r) => r.uuid !== ofB.uuid));
      assert.deepEqual(await list(b, `${USERS}?${period(4)}&directions=103`), []);
      assert.deepEqual(await list(b, `${MISSED}?${period(5)}`), []);
      // A's session against B's host is refused; no session at all is 403.
      const cross = await a.get(`${COMPANY}?${period(1)}`, { host: b.host });
      assert.equal(cross.status, 403);
      const anonymous = await server.request('GET', `${COMPANY}?${period(1)}`, { host: a.host });
      assert.equal(anonymous.status, 403);
      assert.match(String(anonymous.headers['content-type']), /^text\/plain/);
      // byUuid is account-free by design: public recording URLs are keyed by the uuid alone.
      const found = await server.built.store.calls.byUuid(ofB.uuid);
      assert.equal(found?.accountId, accountB);
      assert.equal(await server.built.store.calls.byUuid(randomUUID()), null);
    });

    test('saving a call again updates it and never duplicates it; another account cannot take it over', async () => {
      const first = call({ endAt: day(7) + 1000, recordingUuid: null, otherLegs: [] });
      await save(first);
      const otherLegs = [
        {
          id: 5,
          name: 'Acme',
          num: '+380501112233',
          companyName: null,
          url: 'https://crm.example/c/5',
          priority: 1,
        },
      ];
      await save({ ...first, recordingUuid: 'rec-7', otherLegs });
      const listed = await list(a, `${COMPANY}?${period(7)}`);
      assert.equal(listed.length, 1);
      assert.match(listed[0].audioRecUrl, /\/rest\/public\/calls\/rec-7\/audio$/);
      await save({ ...first, accountId: accountB, duration: 999 });
      assert.deepEqual(await list(b, `${COMPANY}?${period(7)}`), []);
      const stored = await server.built.store.calls.byUuid(first.uuid);
      assert.deepEqual(stored, { ...first, recordingUuid: 'rec-7', otherLegs });
    });
  });
}
