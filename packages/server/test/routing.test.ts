// Routing of calls as the office simulator does it today, pinned before the simulator is split
// into an engine-independent call core and a simulator phone driver (issue #14): which phones
// ring, in what order and when, who takes the call, how a call that reached nobody ends, and the
// history records (company.api / users.api) each route leaves. Only public surfaces are used:
// the CallEngine, the simulation controls, the bus events and the saved FinishedCall records.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { type CallBusEvent, createCallBus } from '../src/domain/calls/call-engine.ts';
import type { FinishedCall } from '../src/domain/calls/call-model.ts';
import { createManualClock } from '../src/domain/clock.ts';
import { createDirectoryService } from '../src/domain/directory/directory-service.ts';
import type { AccountRecord, Store } from '../src/domain/ports.ts';
import { createFileRecorder } from '../src/engine/recording/file-recorder.ts';
import { createSimulator, type Simulator } from '../src/engine/simulator/simulator.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { createTestOffice, type TestOffice } from './support/office.ts';

/** A deterministic random source (the simulator's draws must not make tests flaky). */
function seeded(seed = 42) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

// Trunks of test/support/office.ts …
const T_IVR = '+380442246595'; // → IVR "Меню" (8 s, 1 → group 100, 2 → 003, default → group 100)
const T_ALL = '+380800218500'; // → ring-all group 100 (001, 002, 003; 20 s)
const T_001 = '+380443334455'; // → employee 001
// … and those this file adds.
const T_SEQ = '+380800218501'; // → sequential group 200 (003, 001, 002; 10 s)
const T_RR = '+380800218502'; // → round-robin group 300 (002, 003, 001; 10 s)
const T_DEAD_END = '+380442246597'; // → IVR "Без виходу" (5 s, 1 → 002, no default target)

type Ext = '001' | '002' | '003';
const EXTS: Ext[] = ['001', '002', '003'];

for (const dialect of DIALECTS) {
  describe(`call routing [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let office: TestOffice;
    let store: Store;
    let account: AccountRecord;
    let directory: ReturnType<typeof createDirectoryService>;
    const clock = createManualClock(Date.UTC(2026, 10, 27, 9));
    let sim: Simulator;
    let saved: FinishedCall[] = [];
    let events: CallBusEvent[] = [];
    /** What the CRM's call.settings names as responsible for the next calls (employee ids). */
    let responsible: number[] = [];
    const ids = {} as Record<Ext, number>;
    let seqGroupId = 0;
    let rrGroupId = 0;
    let deadEndIvrId = 0;

    before(async () => {
      office = await createTestOffice(dialect, clock, { domain: 'routing.localhost', ivrTimeoutSec: 8 });
      ({ store, account } = office);
      Object.assign(ids, office.employees);
      directory = createDirectoryService({ store, clock });
      // Members deliberately not in id order: the group's order is what counts.
      const seq = await directory.groups.create(account, {
        name: 'Черга',
        ext: '200',
        strategy: 'sequential',
        members: [ids['003'], ids['001'], ids['002']],
        ringTimeoutSec: 10,
      });
      const rr = await directory.groups.create(account, {
        name: 'Коло',
        ext: '300',
        strategy: 'round-robin',
        members: [ids['002'], ids['003'], ids['001']],
        ringTimeoutSec: 10,
      });
      const deadEnd = await directory.ivr.create(account, {
        name: 'Без виходу',
        timeoutSec: 5,
        options: [{ digit: '1', target: { type: 'employee', id: ids['002'] } }],
      });
      seqGroupId = seq.id;
      rrGroupId = rr.id;
      deadEndIvrId = deadEnd.id;
      for (const [number, name, destination] of [
        [T_SEQ, 'Черга', { type: 'group', id: seq.id }],
        [T_RR, 'Коло', { type: 'group', id: rr.id }],
        [T_DEAD_END, 'Без виходу', { type: 'ivr', id: deadEnd.id }],
      ] as const)
        await directory.trunks.create(account, { number, name, destination, isDefault: false });
    });
    after(async () => {
      await sim?.engine.close();
      await office.close();
    });
    beforeEach(() => {
      const bus = createCallBus();
      saved = [];
      events = [];
      responsible = [];
      bus.on((e) => {
        events.push(e);
        if (e.type === 'call.saved') saved.push(e.record);
      });
      const recorder = createFileRecorder({ dir: office.recordingsDir, timers: clock, clock });
      sim = createSimulator({
        store,
        clock,
        timers: clock,
        recorder,
        bus,
        random: seeded(),
        routing: {
          callSettings: async () => ({ otherLegName: null, otherLegs: [], responsible }),
        },
      });
      for (const ext of EXTS) sim.sim.setEmployeeBehaviour(account.id, ext, { mode: 'manual' });
      sim.sim.setExternalBehaviour(account, '*', { mode: 'manual' });
      sim.sim.setTalkTime(account.id, { minSec: 30, maxSec: 30 });
    });
    afterEach(async () => {
      // Nothing of one test reaches the next: calls end, everyone is back online and unpaused.
      await sim.engine.close();
      for (const ext of EXTS)
        await directory.employees.update(account, ids[ext], { presence: 'online', paused: false });
    });

    const company = (uuid: string) => {
      const rs = saved.filter((r) => r.uuid === uuid && r.kind === 'company');
      assert.equal(rs.length, 1, `one company record of ${uuid}`);
      return rs[0];
    };
    /** users.api records of a call: its own (a direct call) and its children (a group call). */
    const users = (uuid: string) =>
      saved.filter((r) => r.kind === 'user' && (r.uuid === uuid || r.parentUuid === uuid));
    /** The phones a group call rang (its children's call.dial), as [ext, seconds since t0]. */
    const rings = (uuid: string, t0: number) =>
      events.flatMap((e) =>
        e.type === 'call.dial' && e.kind === 'user' && e.call.parentUuid === uuid
          ? [[e.call.leg?.ext, (e.at - t0) / 1000]]
          : [],
      );
    /** The company call's own events, as [type, leg ext or null, leg type, seconds since t0]. */
    /** The call's Phonet events (what a CRM gets); `liveUpdates` has Dzvin's own call.update. */
    const callEvents = (uuid: string, t0: number) =>
      events.flatMap((e) =>
        e.type !== 'call.saved' &&
        e.type !== 'call.update' &&
        'call' in e &&
        e.kind === 'company' &&
        e.call.uuid === uuid
          ? [[e.type, e.call.leg?.ext ?? null, e.call.leg?.type, (e.at - t0) / 1000]]
          : [],
      );
    const liveUpdates = (uuid: string, t0: number) =>
      events.flatMap((e) =>
        e.type === 'call.update' && e.call.uuid === uuid
          ? [[e.call.leg?.type, e.call.leg?.id, (e.at - t0) / 1000]]
          : [],
      );
    const ringing = async () =>
      (await sim.engine.active(account.id)).map((l) => [l.leg?.ext, l.parentUuid, l.lastEvent]);

    /**
     * A group call's users.api records: one child per member rung, each with its own uuid and
     * `parentUuid` = the call, none under the call's uuid; [ext, disposition] in ring order.
     */
    function assertChildren(uuid: string, expected: [Ext, number][]) {
      const kids = users(uuid);
      assert.ok(
        kids.every((k) => k.parentUuid === uuid && k.uuid !== uuid),
        'children only, each with parentUuid = the call',
      );
      assert.equal(new Set(kids.map((k) => k.uuid)).size, kids.length, 'each child its own uuid');
      // In the order the phones started ringing (their call.dial events).
      const dialled = events.flatMap((e) =>
        e.type === 'call.dial' && e.kind === 'user' && e.call.parentUuid === uuid ? [e.call.uuid] : [],
      );
      assert.equal(dialled.length, kids.length, 'one child per phone rung');
      const byDial = [...kids].sort((a, b) => dialled.indexOf(a.uuid) - dialled.indexOf(b.uuid));
      assert.deepEqual(
        byDial.map((k) => [k.leg?.ext, k.disposition]),
        expected,
      );
      assert.ok(kids.every((k) => k.direction === company(uuid).direction));
    }

    /** A direct call's users.api record: one, the employee, under the call's own uuid, no parent. */
    function assertDirect(uuid: string, ext: Ext, disposition: number) {
      const rs = users(uuid);
      assert.deepEqual(
        rs.map((r) => [r.uuid, r.parentUuid, r.leg?.ext, r.disposition]),
        [[uuid, null, ext, disposition]],
      );
    }

    // ---- 1. sequential and ring-all ------------------------------------------------------------

    test("a sequential group rings its members one at a time in the group's order, each for its ring timeout; the first to answer takes the call", async () => {
      sim.sim.setEmployeeBehaviour(account.id, '002', { mode: 'answer', answerAfterSec: 4, probability: 1 });
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000001', T_SEQ);
      assert.deepEqual(await ringing(), [['003', uuid, 'call.dial']]);
      await clock.advance(9_999);
      assert.deepEqual(await ringing(), [['003', uuid, 'call.dial']], 'not before the ring timeout');
      await clock.advance(1);
      assert.deepEqual(await ringing(), [['001', uuid, 'call.dial']]);
      await clock.advance(10_000);
      assert.deepEqual(await ringing(), [['002', uuid, 'call.dial']]);
      await clock.advance(4_000);
      assert.deepEqual(await ringing(), [['002', uuid, 'call.bridge']]);
      await clock.advance(30_000);
      await sim.engine.idle();
      assert.deepEqual(rings(uuid, t0), [
        ['003', 0],
        ['001', 10],
        ['002', 20],
      ]);
      const c = company(uuid);
      assert.equal(c.disposition, 0);
      assert.deepEqual(c.leg, { type: 1, id: ids['002'], ext: '002', displayName: 'Андрій' });
      assert.equal(c.bridgeAt, t0 + 24_000);
      assert.equal(c.duration, 54);
      assert.equal(c.billSecs, 30);
      assert.equal(c.transferHistory, '002');
      assertChildren(uuid, [
        ['003', 1],
        ['001', 1],
        ['002', 0],
      ]);
      assert.deepEqual(
        users(uuid)
          .sort((a, b) => a.dialAt - b.dialAt)
          .map((k) => [k.duration, k.billSecs]),
        [
          [10, 0],
          [10, 0],
          [34, 30],
        ],
      );
      assert.deepEqual(callEvents(uuid, t0), [
        ['call.dial', '200', 2, 0],
        ['call.bridge', '002', 1, 24],
        ['call.hangup', '002', 1, 54],
      ]);
    });

    test('a sequential group moves to the next member at once when one rejects, and after the last one ends as no answer (1)', async () => {
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000002', T_SEQ);
      await sim.sim.reject(account.id, uuid, '003');
      assert.deepEqual(await ringing(), [['001', uuid, 'call.dial']]);
      await clock.advance(3_000);
      await sim.sim.reject(account.id, uuid, '001');
      assert.deepEqual(await ringing(), [['002', uuid, 'call.dial']]);
      await clock.advance(10_000);
      await sim.engine.idle();
      assert.deepEqual(rings(uuid, t0), [
        ['003', 0],
        ['001', 0],
        ['002', 3],
      ]);
      const c = company(uuid);
      assert.equal(c.disposition, 1);
      assert.deepEqual(c.leg, { type: 2, id: seqGroupId, ext: '200', displayName: 'Черга' });
      assert.equal(c.duration, 13);
      assertChildren(uuid, [
        ['003', 4],
        ['001', 4],
        ['002', 1],
      ]);
      assert.deepEqual(await sim.engine.active(account.id), []);
    });

    test('a ring-all group rings every member at once; the first to answer takes the call and the others stop ringing', async () => {
      sim.sim.setEmployeeBehaviour(account.id, '003', { mode: 'answer', answerAfterSec: 2, probability: 1 });
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000003', T_ALL);
      assert.deepEqual(await ringing(), [
        ['001', uuid, 'call.dial'],
        ['002', uuid, 'call.dial'],
        ['003', uuid, 'call.dial'],
      ]);
      await clock.advance(2_000);
      assert.deepEqual(await ringing(), [['003', uuid, 'call.bridge']]);
      await clock.advance(30_000);
      await sim.engine.idle();
      assert.deepEqual(rings(uuid, t0), [
        ['001', 0],
        ['002', 0],
        ['003', 0],
      ]);
      const c = company(uuid);
      assert.equal(c.disposition, 0);
      assert.equal(c.leg?.ext, '003');
      assert.equal(c.duration, 32);
      assertChildren(uuid, [
        ['001', 1],
        ['002', 1],
        ['003', 0],
      ]);
      const stopped = users(uuid).filter((k) => k.leg?.ext !== '003');
      assert.ok(stopped.every((k) => k.endAt === t0 + 2_000 && k.bridgeAt === null));
      assert.deepEqual(callEvents(uuid, t0), [
        ['call.dial', '100', 2, 0],
        ['call.bridge', '003', 1, 2],
        ['call.hangup', '003', 1, 32],
      ]);
    });

    // ---- 2. round-robin -------------------------------------------------------------------------

    test('a round-robin group starts each successive call with the next member: 002, 003, 001, then 002 again', async () => {
      // Call 1 rings everyone in turn (002 → 003 → 001). Call 2 still starts at 003, the member
      // after call 1's first one (not after the last one rung), and wraps around to 002.
      let t0 = clock.now();
      const first = await sim.sim.incoming(account, '+380671000011', T_RR);
      await clock.advance(30_000);
      await sim.engine.idle();
      assert.deepEqual(rings(first.uuid, t0), [
        ['002', 0],
        ['003', 10],
        ['001', 20],
      ]);
      assert.equal(company(first.uuid).disposition, 1);
      assert.deepEqual(company(first.uuid).leg, { type: 2, id: rrGroupId, ext: '300', displayName: 'Коло' });
      assertChildren(first.uuid, [
        ['002', 1],
        ['003', 1],
        ['001', 1],
      ]);

      t0 = clock.now();
      const second = await sim.sim.incoming(account, '+380671000012', T_RR);
      await clock.advance(30_000);
      await sim.engine.idle();
      assert.deepEqual(rings(second.uuid, t0), [
        ['003', 0],
        ['001', 10],
        ['002', 20],
      ]);

      const firstRung: (string | null | undefined)[] = [];
      for (const from of ['+380671000013', '+380671000014']) {
        const { uuid } = await sim.sim.incoming(account, from, T_RR);
        const live = await sim.engine.active(account.id);
        assert.equal(live.length, 1, 'one phone at a time');
        firstRung.push(live[0].leg?.ext);
        await sim.engine.hangup(account.id, uuid);
      }
      assert.deepEqual(firstRung, ['001', '002']);
    });

    // ---- 3. busy and no answer -----------------------------------------------------------------

    test('a ring-all group whose every member is busy ends busy (4)', async () => {
      for (const ext of EXTS) sim.sim.setEmployeeBehaviour(account.id, ext, { mode: 'busy' });
      const { uuid } = await sim.sim.incoming(account, '+380671000021', T_ALL);
      await clock.advance(1_000);
      await sim.engine.idle();
      assert.equal(company(uuid).disposition, 4);
      assert.equal(company(uuid).leg?.type, 2);
      assertChildren(uuid, [
        ['001', 4],
        ['002', 4],
        ['003', 4],
      ]);
    });

    test('a ring-all group whose members all ring out unanswered ends as no answer (1) at its ring timeout', async () => {
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000022', T_ALL);
      await clock.advance(19_999);
      assert.equal((await sim.engine.active(account.id)).length, 3);
      await clock.advance(1);
      await sim.engine.idle();
      const c = company(uuid);
      assert.equal(c.disposition, 1);
      assert.equal(c.endAt, t0 + 20_000);
      assert.deepEqual(c.leg, { type: 2, id: office.groupId, ext: '100', displayName: 'Продажі' });
      assertChildren(uuid, [
        ['001', 1],
        ['002', 1],
        ['003', 1],
      ]);
    });

    test('a ring-all group where some members are busy and the others ring out ends as no answer (1)', async () => {
      sim.sim.setEmployeeBehaviour(account.id, '002', { mode: 'busy' });
      const { uuid } = await sim.sim.incoming(account, '+380671000023', T_ALL);
      await clock.advance(1_000);
      assert.deepEqual(
        (await ringing()).map((r) => r[0]),
        ['001', '003'],
      );
      await clock.advance(19_000);
      await sim.engine.idle();
      assert.equal(company(uuid).disposition, 1);
      assertChildren(uuid, [
        ['001', 1],
        ['002', 4],
        ['003', 1],
      ]);
    });

    test('a sequential group whose every member is busy tries each in turn and ends busy (4), as ring-all does', async () => {
      // The caller met nothing but busy phones: busy, whichever way the group rings.
      for (const ext of EXTS) sim.sim.setEmployeeBehaviour(account.id, ext, { mode: 'busy' });
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000024', T_SEQ);
      await clock.advance(2_000);
      await sim.engine.idle();
      assert.deepEqual(rings(uuid, t0), [
        ['003', 0],
        ['001', 0.5],
        ['002', 1],
      ]);
      assert.equal(company(uuid).disposition, 4);
      assert.equal(company(uuid).endAt, t0 + 1_500);
      assertChildren(uuid, [
        ['003', 4],
        ['001', 4],
        ['002', 4],
      ]);
    });

    test('when every member is talking on another answered call, a group call rings nobody and ends at once busy (4), as a direct call to a talking employee does', async () => {
      sim.sim.setExternalBehaviour(account, '*', { mode: 'answer', answerAfterSec: 1, probability: 1 });
      for (const [i, ext] of EXTS.entries()) await sim.sim.outgoing(account, ext, `+38050111000${i}`);
      await clock.advance(1_000);
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.leg?.ext, l.lastEvent]),
        [
          ['001', 'call.bridge'],
          ['002', 'call.bridge'],
          ['003', 'call.bridge'],
        ],
      );
      const t0 = clock.now();
      for (const trunk of [T_ALL, T_SEQ, T_RR]) {
        const { uuid } = await sim.sim.incoming(account, '+380671000025', trunk);
        await sim.engine.idle();
        assert.equal(company(uuid).disposition, 4, trunk);
        assert.equal(company(uuid).leg?.type, 2);
        assert.equal(company(uuid).duration, 0);
        assert.deepEqual(users(uuid), [], 'no phone rang');
        assert.deepEqual(
          callEvents(uuid, t0).map((e) => e[0]),
          ['call.dial', 'call.hangup'],
        );
      }
      const direct = await sim.sim.incoming(account, '+380671000026', T_001);
      await sim.engine.idle();
      assert.equal(company(direct.uuid).disposition, 4);
      assert.equal(company(direct.uuid).leg?.ext, '001');
      assert.deepEqual(users(direct.uuid), []);
      assert.equal((await sim.engine.active(account.id)).length, 3, 'only the three outgoing calls');
    });

    // ---- 4. the CRM's responsible employee -----------------------------------------------------

    test("a CRM's responsible employee takes an incoming group call alone, under the call's own uuid", async () => {
      responsible = [ids['002']];
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000031', T_ALL);
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.uuid, l.parentUuid, l.leg?.ext, l.lastEvent]),
        [[uuid, null, '002', 'call.dial']],
      );
      await clock.advance(5_000);
      await sim.sim.answer(account.id, uuid, '002');
      await clock.advance(30_000);
      await sim.engine.idle();
      assert.deepEqual(rings(uuid, t0), [], 'no child legs');
      const c = company(uuid);
      assert.equal(c.disposition, 0);
      assert.deepEqual(c.leg, { type: 1, id: ids['002'], ext: '002', displayName: 'Андрій' });
      assert.equal(c.duration, 35);
      assert.equal(c.billSecs, 30);
      assertDirect(uuid, '002', 0);
      assert.deepEqual(callEvents(uuid, t0), [
        ['call.dial', '002', 1, 0],
        ['call.bridge', '002', 1, 5],
        ['call.hangup', '002', 1, 35],
      ]);
    });

    test('the first responsible employee who can take calls is chosen: a paused one is passed over for the next one named', async () => {
      await sim.sim.pause(account, '002', true);
      responsible = [ids['002'], ids['003']];
      const { uuid } = await sim.sim.incoming(account, '+380671000032', T_ALL);
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.uuid, l.parentUuid, l.leg?.ext]),
        [[uuid, null, '003']],
      );
      await sim.engine.hangup(account.id, uuid);
      assertDirect(uuid, '003', 1);
    });

    test("a responsible employee who is paused, offline or talking is passed over: the trunk's normal route is taken", async () => {
      responsible = [ids['002']];
      const groupCall = async (from: string) => {
        const { uuid } = await sim.sim.incoming(account, from, T_ALL);
        const rung = (await sim.engine.active(account.id)).filter((l) => l.parentUuid === uuid);
        await sim.engine.hangup(account.id, uuid);
        await sim.engine.idle();
        assert.equal(company(uuid).leg?.type, 2, 'the group had the call');
        assertChildren(uuid, [
          ['001', 1],
          ['003', 1],
        ]);
        return rung.map((l) => l.leg?.ext);
      };

      await sim.sim.pause(account, '002', true);
      assert.deepEqual(await groupCall('+380671000033'), ['001', '003'], 'paused');
      await sim.sim.pause(account, '002', false);

      await directory.employees.update(account, ids['002'], { presence: 'offline' });
      assert.deepEqual(await groupCall('+380671000034'), ['001', '003'], 'offline');
      await directory.employees.update(account, ids['002'], { presence: 'online' });

      sim.sim.setExternalBehaviour(account, '+380501112000', {
        mode: 'answer',
        answerAfterSec: 1,
        probability: 1,
      });
      await sim.sim.outgoing(account, '002', '+380501112000');
      await clock.advance(1_000);
      assert.deepEqual(await groupCall('+380671000035'), ['001', '003'], 'talking');
    });

    test('a responsible employee who does not answer: the call ends unanswered (1) after 30 s; the trunk route is not tried', async () => {
      responsible = [ids['002']];
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000036', T_ALL);
      await clock.advance(29_999);
      assert.deepEqual(await ringing(), [['002', null, 'call.dial']]);
      await clock.advance(1);
      await sim.engine.idle();
      assert.deepEqual(await sim.engine.active(account.id), []);
      assert.equal(company(uuid).disposition, 1);
      assert.equal(company(uuid).endAt, t0 + 30_000);
      assert.equal(company(uuid).leg?.ext, '002');
      assertDirect(uuid, '002', 1);
      assert.deepEqual(rings(uuid, t0), []);
    });

    // ---- 5. IVR ---------------------------------------------------------------------------------

    test('an IVR with no digit pressed goes to its default target after timeoutSec, and not before', async () => {
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000041', T_IVR);
      await clock.advance(7_999);
      const inIvr = await sim.engine.active(account.id);
      assert.deepEqual(
        inIvr.map((l) => [l.uuid, l.parentUuid, l.leg?.type, l.leg?.id]),
        [[uuid, null, 4, office.ivrId]],
      );
      assert.deepEqual(callEvents(uuid, t0), [], 'no event while in the IVR');
      // The live views (SSE stream, console) are told at once that the call is in the IVR.
      assert.deepEqual(liveUpdates(uuid, t0), [[4, office.ivrId, 0]], 'one call.update, entering the IVR');
      await clock.advance(1);
      assert.deepEqual(await ringing(), [
        ['001', uuid, 'call.dial'],
        ['002', uuid, 'call.dial'],
        ['003', uuid, 'call.dial'],
      ]);
      await sim.sim.answer(account.id, uuid, '001');
      await clock.advance(30_000);
      await sim.engine.idle();
      assert.deepEqual(rings(uuid, t0), [
        ['001', 8],
        ['002', 8],
        ['003', 8],
      ]);
      assert.deepEqual(callEvents(uuid, t0), [
        ['call.dial', '100', 2, 8],
        ['call.bridge', '001', 1, 8],
        ['call.hangup', '001', 1, 38],
      ]);
      assert.equal(company(uuid).disposition, 0);
      assert.equal(company(uuid).dialAt, t0);
      assert.equal(company(uuid).duration, 38);
      assertChildren(uuid, [
        ['001', 0],
        ['002', 1],
        ['003', 1],
      ]);
    });

    test("a digit pressed before the IVR's timeout routes to that option's target; the timeout no longer fires", async () => {
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000042', T_IVR);
      await clock.advance(3_000);
      await sim.sim.digit(account.id, uuid, '2');
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.uuid, l.parentUuid, l.leg?.ext]),
        [[uuid, null, '003']],
      );
      await clock.advance(10_000); // past the IVR's 8 s: the default target (the group) never rings
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.uuid, l.parentUuid, l.leg?.ext]),
        [[uuid, null, '003']],
      );
      await sim.sim.answer(account.id, uuid, '003');
      await clock.advance(30_000);
      await sim.engine.idle();
      assert.deepEqual(rings(uuid, t0), []);
      assert.equal(company(uuid).disposition, 0);
      assert.equal(company(uuid).leg?.ext, '003');
      assert.equal(company(uuid).duration, 43);
      assertDirect(uuid, '003', 0);
      assert.deepEqual(callEvents(uuid, t0), [
        ['call.dial', '003', 1, 3],
        ['call.bridge', '003', 1, 13],
        ['call.hangup', '003', 1, 43],
      ]);
    });

    test('an IVR without a default target ends the call as failed (3) after timeoutSec, having rung nobody', async () => {
      const t0 = clock.now();
      const { uuid } = await sim.sim.incoming(account, '+380671000043', T_DEAD_END);
      await clock.advance(4_999);
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.uuid, l.leg?.type]),
        [[uuid, 4]],
      );
      await clock.advance(1);
      await sim.engine.idle();
      assert.deepEqual(await sim.engine.active(account.id), []);
      const c = company(uuid);
      assert.equal(c.disposition, 3);
      assert.deepEqual(c.leg, { type: 4, id: deadEndIvrId, ext: null, displayName: 'Без виходу' });
      assert.equal(c.duration, 5);
      assert.equal(c.billSecs, 0);
      assert.deepEqual(users(uuid), []);
      assert.deepEqual(callEvents(uuid, t0), [
        ['call.dial', null, 4, 5],
        ['call.hangup', null, 4, 5],
      ]);
    });

    // ---- 6. paused and offline employees ----------------------------------------------------------

    for (const how of ['paused', 'offline'] as const) {
      const a = how === 'paused' ? 'a' : 'an';
      const takeOut = async (ext: Ext) => {
        if (how === 'paused') await sim.sim.pause(account, ext, true);
        else await directory.employees.update(account, ids[ext], { presence: 'offline' });
      };

      test(`${a} ${how} employee is skipped by every strategy: ring-all, sequential and round-robin`, async () => {
        await takeOut('001');
        let t0 = clock.now();
        const all = await sim.sim.incoming(account, '+380671000051', T_ALL);
        await clock.advance(20_000);
        await sim.engine.idle();
        assert.deepEqual(rings(all.uuid, t0), [
          ['002', 0],
          ['003', 0],
        ]);
        assert.equal(company(all.uuid).disposition, 1);
        assertChildren(all.uuid, [
          ['002', 1],
          ['003', 1],
        ]);

        t0 = clock.now();
        const seq = await sim.sim.incoming(account, '+380671000052', T_SEQ);
        await clock.advance(20_000);
        await sim.engine.idle();
        assert.deepEqual(rings(seq.uuid, t0), [
          ['003', 0],
          ['002', 10],
        ]);
        assert.equal(company(seq.uuid).disposition, 1);
        assert.equal(company(seq.uuid).duration, 20);
        assertChildren(seq.uuid, [
          ['003', 1],
          ['002', 1],
        ]);

        t0 = clock.now();
        const rr = await sim.sim.incoming(account, '+380671000053', T_RR);
        await clock.advance(20_000);
        await sim.engine.idle();
        assert.deepEqual(rings(rr.uuid, t0), [
          ['002', 0],
          ['003', 10],
        ]);
        assert.equal(company(rr.uuid).disposition, 1);
        assertChildren(rr.uuid, [
          ['002', 1],
          ['003', 1],
        ]);
      });

      test(`a group whose every member is ${how} rings nobody and ends as no answer (1), not busy, by every strategy`, async () => {
        for (const ext of EXTS) await takeOut(ext);
        for (const trunk of [T_ALL, T_SEQ, T_RR]) {
          const t0 = clock.now();
          const { uuid } = await sim.sim.incoming(account, '+380671000055', trunk);
          await sim.engine.idle();
          assert.equal(company(uuid).disposition, 1, trunk);
          assert.equal(company(uuid).endAt, t0, `${trunk}: at once`);
          assert.deepEqual(users(uuid), [], `${trunk}: no phone rang`);
        }
      });

      test(`a direct call to ${a} ${how} employee ends unanswered (1) at once: no phone rings, no employee record`, async () => {
        await takeOut('001');
        const t0 = clock.now();
        const { uuid } = await sim.sim.incoming(account, '+380671000054', T_001);
        await sim.engine.idle();
        assert.deepEqual(await sim.engine.active(account.id), []);
        const c = company(uuid);
        assert.equal(c.disposition, 1);
        assert.deepEqual(c.leg, { type: 1, id: ids['001'], ext: '001', displayName: 'Олена' });
        assert.equal(c.duration, 0);
        assert.equal(c.endAt, t0);
        assert.deepEqual(users(uuid), []);
        assert.deepEqual(callEvents(uuid, t0), [
          ['call.dial', '001', 1, 0],
          ['call.hangup', '001', 1, 0],
        ]);
      });

      test(`a group whose every member is ${how} rings nobody and ends at once as no answer (1)`, async () => {
        for (const ext of EXTS) await takeOut(ext);
        for (const trunk of [T_ALL, T_SEQ, T_RR]) {
          const { uuid } = await sim.sim.incoming(account, '+380671000055', trunk);
          await sim.engine.idle();
          assert.equal(company(uuid).disposition, 1, trunk);
          assert.equal(company(uuid).duration, 0);
          assert.equal(company(uuid).leg?.type, 2);
          assert.deepEqual(users(uuid), []);
        }
      });
    }

    // ---- 7. history records of a direct call ------------------------------------------------------

    test("a direct trunk call to one employee leaves one employee record under the call's own uuid (parentUuid null) and no children", async () => {
      const answered = await sim.sim.incoming(account, '+380671000061', T_001);
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.uuid, l.parentUuid, l.leg?.ext]),
        [[answered.uuid, null, '001']],
      );
      await clock.advance(2_000);
      await sim.sim.answer(account.id, answered.uuid, '001');
      await clock.advance(30_000);
      await sim.engine.idle();
      assertDirect(answered.uuid, '001', 0);
      assert.equal(company(answered.uuid).disposition, 0);
      assert.equal(company(answered.uuid).duration, 32);
      assert.equal(users(answered.uuid)[0].billSecs, 30);
      assert.ok(
        events.every((e) => !('call' in e) || e.kind === 'company'),
        'a direct call sends no child events',
      );

      const t0 = clock.now();
      const missed = await sim.sim.incoming(account, '+380671000062', T_001);
      await clock.advance(30_000);
      await sim.engine.idle();
      assertDirect(missed.uuid, '001', 1);
      assert.equal(company(missed.uuid).disposition, 1);
      assert.equal(company(missed.uuid).endAt, t0 + 30_000);

      const rejected = await sim.sim.incoming(account, '+380671000063', T_001);
      await sim.sim.reject(account.id, rejected.uuid, '001');
      await sim.engine.idle();
      assertDirect(rejected.uuid, '001', 4);
      assert.equal(company(rejected.uuid).disposition, 4);
    });
  });
}
