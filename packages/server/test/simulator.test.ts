import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type CallBusEvent, createCallBus } from '../src/domain/calls/call-engine.ts';
import type { FinishedCall } from '../src/domain/calls/call-model.ts';
import { createManualClock } from '../src/domain/clock.ts';
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

for (const dialect of DIALECTS) {
  describe(`office simulator scenarios [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let office: TestOffice;
    let store: Store;
    let account: AccountRecord;
    let dir: string;
    const clock = createManualClock(Date.UTC(2026, 10, 26, 9));
    let sim: Simulator;
    let saved: FinishedCall[] = [];
    let events: CallBusEvent[] = [];
    const ids: Record<string, number> = {};

    before(async () => {
      office = await createTestOffice(dialect, clock, { domain: 'sim.localhost', ivrTimeoutSec: 8 });
      ({ store, account, recordingsDir: dir } = office);
      Object.assign(ids, office.employees, { group: office.groupId, ivr: office.ivrId });
    });
    after(async () => {
      await sim?.engine.close();
      await office.close();
    });
    beforeEach(() => {
      const bus = createCallBus();
      saved = [];
      events = [];
      bus.on((e) => {
        events.push(e);
        if (e.type === 'call.saved') saved.push(e.record);
      });
      const recorder = createFileRecorder({ dir, timers: clock, clock });
      sim = createSimulator({ store, clock, timers: clock, recorder, bus, random: seeded() });
      for (const ext of ['001', '002', '003'])
        sim.sim.setEmployeeBehaviour(account.id, ext, { mode: 'manual' });
      sim.sim.setTalkTime(account.id, { minSec: 30, maxSec: 30 });
    });

    const company = (uuid: string) => saved.find((r) => r.uuid === uuid && r.kind === 'company');
    /** The employee records of a call: its primary leg (same uuid) and its child legs. */
    const children = (uuid: string) =>
      saved.filter((r) => r.kind === 'user' && (r.uuid === uuid || r.parentUuid === uuid));
    const byExt = (rs: FinishedCall[], ext: string) => rs.find((r) => r.leg?.ext === ext);

    test('ring group, three employees, the second answers: parent + 3 children with the right dispositions', async () => {
      sim.sim.setEmployeeBehaviour(account.id, '002', { mode: 'answer', answerAfterSec: 5, probability: 1 });
      const { uuid } = await sim.sim.incoming(account, '0505826633', '+380800218500');
      assert.equal((await sim.engine.active(account.id)).length, 3, 'three phones ring');
      await clock.advance(5000);
      const live = await sim.engine.active(account.id);
      assert.equal(live.length, 1);
      assert.equal(live[0].leg?.ext, '002');
      assert.equal(live[0].lastEvent, 'call.bridge');
      assert.equal(live[0].parentUuid, uuid);
      await clock.advance(30_000);
      await sim.engine.idle();
      const c = company(uuid);
      assert.ok(c, 'the company call is saved');
      assert.equal(c.disposition, 0);
      assert.equal(c.direction, 4);
      assert.deepEqual(c.leg, { type: 1, id: ids['002'], ext: '002', displayName: 'Андрій' });
      assert.equal(c.billSecs, 30);
      assert.equal(c.duration, 35);
      assert.equal(c.transferHistory, '002');
      assert.equal(c.otherLegNum, '+380505826633');
      assert.equal(c.trunk, 'i=380800218500;');
      assert.equal(c.recordingUuid, uuid);
      const kids = children(uuid);
      assert.equal(kids.length, 3);
      assert.equal(byExt(kids, '001')?.disposition, 1);
      assert.equal(byExt(kids, '003')?.disposition, 1);
      assert.equal(byExt(kids, '002')?.disposition, 0);
      assert.equal(byExt(kids, '002')?.billSecs, 30);
      assert.ok(kids.every((k) => k.kind === 'user'));
      assert.deepEqual(await sim.engine.active(account.id), []);
      // The documented events, in order, for the answering leg.
      const legUuid = byExt(kids, '002')?.uuid;
      const legEvents = events.filter((e) => 'call' in e && e.call.uuid === legUuid).map((e) => e.type);
      assert.deepEqual(legEvents, ['call.dial', 'call.bridge', 'call.hangup']);
      assert.ok(fs.existsSync(path.join(dir, `${uuid}.wav`)), 'a recording was written');
    });

    test('IVR → group → nobody answers: the company call is a missed call of the group', async () => {
      const { uuid } = await sim.sim.incoming(account, '+380671112233', '+380442246595');
      const [inIvr] = await sim.engine.active(account.id);
      assert.equal(inIvr.uuid, uuid);
      await clock.advance(8000); // IVR timeout → default target (the group)
      assert.equal((await sim.engine.active(account.id)).length, 3);
      await clock.advance(20_000); // group ring timeout
      await sim.engine.idle();
      const c = company(uuid);
      assert.equal(c?.disposition, 1);
      assert.deepEqual(c?.leg, { type: 2, id: ids.group, ext: '100', displayName: 'Продажі' });
      assert.equal(c?.billSecs, 0);
      assert.equal(c?.duration, 28);
      assert.equal(c?.recordingUuid, null);
      assert.equal(children(uuid).length, 3);
      assert.ok(children(uuid).every((k) => k.disposition === 1));
    });

    test('an IVR digit routes the caller; a digit with no option is refused', async () => {
      sim.sim.setEmployeeBehaviour(account.id, '003', { mode: 'answer', answerAfterSec: 2, probability: 1 });
      const { uuid } = await sim.sim.incoming(account, '+380671112299', '+380442246595');
      await assert.rejects(sim.sim.digit(account.id, uuid, '9'), /no option 9/);
      await sim.sim.digit(account.id, uuid, '2');
      await clock.advance(2000);
      assert.equal((await sim.engine.active(account.id))[0]?.leg?.ext, '003');
      await sim.engine.hangup(account.id, uuid);
      assert.equal(company(uuid)?.disposition, 0);
      assert.equal(company(uuid)?.leg?.ext, '003');
    });

    test('busy: an employee who is busy refuses (disposition 4)', async () => {
      sim.sim.setEmployeeBehaviour(account.id, '001', { mode: 'busy' });
      const { uuid } = await sim.sim.incoming(account, '+380671110000', '+380443334455');
      await clock.advance(1000);
      await sim.engine.idle();
      assert.equal(company(uuid)?.disposition, 4);
      assert.equal(children(uuid)[0]?.disposition, 4);
    });

    test('outgoing click-to-call: congestion (2) and failure (3) of the external side', async () => {
      sim.sim.setEmployeeBehaviour(account.id, '001', { mode: 'answer', answerAfterSec: 2, probability: 1 });
      sim.sim.setExternalBehaviour(account, '+380501234567', { mode: 'congestion' });
      sim.sim.setExternalBehaviour(account, '0501234568', { mode: 'unreachable' });
      const a = await sim.engine.makeCall(account, '001', '+380501234567');
      // Another employee: one person takes one answered call at a time.
      sim.sim.setEmployeeBehaviour(account.id, '002', { mode: 'answer', answerAfterSec: 2, probability: 1 });
      const b = await sim.engine.makeCall(account, '002', '+380501234568');
      await clock.advance(3000);
      await sim.engine.idle();
      assert.equal(company(a.uuid)?.disposition, 2);
      assert.equal(company(b.uuid)?.disposition, 3);
      assert.equal(company(a.uuid)?.direction, 2);
      assert.equal(company(a.uuid)?.trunk, 'o=380442246595;');
      assert.equal(company(a.uuid)?.billSecs, 0);
    });

    test('click-to-call rings the employee first; when they answer the number is dialled and bridged', async () => {
      sim.sim.setExternalBehaviour(account, '*', { mode: 'answer', answerAfterSec: 4, probability: 1 });
      const { uuid } = await sim.engine.makeCall(account, '002', '0671234567');
      assert.equal((await sim.engine.active(account.id))[0].leg?.ext, '002');
      await sim.sim.answer(account.id, uuid, '002');
      await clock.advance(4000);
      const [live] = await sim.engine.active(account.id);
      assert.equal(live.lastEvent, 'call.bridge');
      await clock.advance(30_000);
      await sim.engine.idle();
      const c = company(uuid);
      assert.equal(c?.disposition, 0);
      assert.equal(c?.billSecs, 30);
      assert.equal(c?.duration, 34);
      assert.equal(c?.transferHistory, '002');
      assert.equal(c?.otherLegNum, '+380671234567');
    });

    test('click-to-call where the employee does not answer ends as no answer', async () => {
      const { uuid } = await sim.engine.makeCall(account, '001', '0671234567');
      await clock.advance(30_000);
      await sim.engine.idle();
      assert.equal(company(uuid)?.disposition, 1);
      assert.equal(company(uuid)?.billSecs, 0);
      assert.equal(company(uuid)?.duration, 30);
    });

    test('makeCall refuses an unknown ext, a paused employee and a bad number', async () => {
      await assert.rejects(sim.engine.makeCall(account, '777', '0671234567'), /No employee with ext 777/);
      await assert.rejects(sim.engine.makeCall(account, '001', 'x'), /not a phone number/);
      await sim.sim.pause(account, '003', true);
      await assert.rejects(sim.engine.makeCall(account, '003', '0671234567'), /paused/);
      await sim.sim.pause(account, '003', false);
    });

    test('a transfer chain is recorded as "001 > 002 > 003"', async () => {
      const { uuid } = await sim.sim.incoming(account, '+380931112233', '+380443334455');
      await sim.sim.answer(account.id, uuid, '001');
      await clock.advance(10_000);
      await sim.engine.transfer(account.id, uuid, '002');
      await sim.sim.answer(account.id, uuid, '002');
      await clock.advance(5000);
      await sim.engine.transfer(account.id, uuid, '003');
      await sim.sim.answer(account.id, uuid, '003');
      await clock.advance(5000);
      await sim.engine.hangup(account.id, uuid);
      const c = company(uuid);
      assert.equal(c?.transferHistory, '001 > 002 > 003');
      assert.equal(c?.leg?.ext, '003');
      assert.equal(c?.billSecs, 20);
      const kids = children(uuid);
      assert.equal(byExt(kids, '001')?.billSecs, 10);
      assert.equal(byExt(kids, '002')?.billSecs, 5);
      assert.equal(byExt(kids, '003')?.billSecs, 5);
      await assert.rejects(sim.engine.transfer(account.id, uuid, '002'), /No active call/);
    });

    test('attended transfer: the consulted employee answers first, then takes the caller; a cancelled one changes nothing', async () => {
      const { uuid } = await sim.sim.incoming(account, '+380931112244', '+380443334455');
      await sim.sim.answer(account.id, uuid, '001');
      await clock.advance(10_000);
      await sim.engine.attendedTransfer(account.id, uuid, '002');
      await assert.rejects(sim.engine.completeTransfer(account.id, uuid), /No answered consultation/);
      await sim.sim.answer(account.id, uuid, '002');
      assert.equal(
        (await sim.engine.active(account.id)).filter((l) => l.lastEvent === 'call.bridge').length,
        2,
        '001 and 002 both on the line during the consultation',
      );
      await clock.advance(3000);
      await sim.engine.completeTransfer(account.id, uuid);
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => l.leg?.ext),
        ['002'],
      );
      await sim.engine.attendedTransfer(account.id, uuid, '003');
      await sim.engine.cancelTransfer(account.id, uuid);
      await clock.advance(7000);
      await sim.engine.hangup(account.id, uuid);
      const c = company(uuid);
      assert.equal(c?.transferHistory, '001 > 002');
      assert.equal(c?.leg?.ext, '002');
      assert.equal(c?.billSecs, 20);
      assert.equal(byExt(children(uuid), '001')?.billSecs, 13);
      assert.equal(byExt(children(uuid), '002')?.billSecs, 10, 'from the consultation on');
      assert.equal(byExt(children(uuid), '003')?.disposition, 1);
    });

    test('pause and unpause leave 32 / 64 records and take the employee out of the group', async () => {
      await sim.sim.pause(account, '002', true);
      const { uuid } = await sim.sim.incoming(account, '+380931119999', '+380800218500');
      assert.deepEqual((await sim.engine.active(account.id)).map((l) => l.leg?.ext).sort(), ['001', '003']);
      await sim.engine.hangup(account.id, uuid);
      await sim.sim.pause(account, '002', false);
      const pauses = saved.filter((r) => r.kind === 'pause' || r.kind === 'unpause');
      assert.deepEqual(
        pauses.map((r) => [r.kind, r.direction, r.leg?.ext]),
        [
          ['pause', 32, '002'],
          ['unpause', 64, '002'],
        ],
      );
    });

    test('hangup through the API works in every state: ringing, IVR, dialling out, bridged', async () => {
      const ringing = await sim.sim.incoming(account, '+380930000001', '+380800218500');
      await sim.engine.hangup(account.id, ringing.uuid);
      assert.equal(company(ringing.uuid)?.disposition, 1);
      assert.ok(children(ringing.uuid).every((k) => k.disposition === 1));

      const ivr = await sim.sim.incoming(account, '+380930000002', '+380442246595');
      await sim.engine.hangup(account.id, ivr.uuid);
      assert.equal(company(ivr.uuid)?.disposition, 1);
      assert.equal(company(ivr.uuid)?.leg?.type, 4);

      sim.sim.setExternalBehaviour(account, '+380930000003', { mode: 'manual' });
      const out = await sim.engine.makeCall(account, '001', '+380930000003');
      await sim.sim.answer(account.id, out.uuid, '001');
      await sim.engine.hangup(account.id, out.uuid);
      assert.equal(company(out.uuid)?.disposition, 1, 'the number never answered');

      const talking = await sim.sim.incoming(account, '+380930000004', '+380443334455');
      await sim.sim.answer(account.id, talking.uuid, '001');
      await clock.advance(7000);
      // By a leg's uuid, as active/v3 lists it.
      const [leg] = await sim.engine.active(account.id);
      await sim.engine.hangup(account.id, leg.uuid);
      assert.equal(company(talking.uuid)?.disposition, 0);
      assert.equal(company(talking.uuid)?.billSecs, 7);
      await assert.rejects(sim.engine.hangup(account.id, talking.uuid), /No active call/);
      assert.deepEqual(await sim.engine.active(account.id), []);
    });

    test('an internal call: leg is the caller, leg2 whoever answered; no trunk, no external number', async () => {
      sim.sim.setEmployeeBehaviour(account.id, '003', { mode: 'answer', answerAfterSec: 2, probability: 1 });
      const { uuid } = await sim.sim.internal(account, '001', '003');
      const [live] = await sim.engine.active(account.id);
      assert.equal(live.direction, 1);
      assert.equal(live.leg?.ext, '001');
      assert.equal(live.leg2?.ext, '003');
      await clock.advance(2000 + 30_000);
      await sim.engine.idle();
      const c = company(uuid);
      assert.equal(c?.direction, 1);
      assert.equal(c?.leg?.ext, '001');
      assert.equal(c?.leg2?.ext, '003');
      assert.equal(c?.otherLegNum, null);
      assert.equal(c?.otherLegName, null);
      assert.equal(c?.trunk, null);
      assert.equal(c?.billSecs, 30);
      await assert.rejects(sim.sim.internal(account, '001', '555'), /No employee or ring group/);
    });

    test('an employee dials out directly on a chosen trunk', async () => {
      sim.sim.setExternalBehaviour(account, '+380501112233', {
        mode: 'answer',
        answerAfterSec: 5,
        probability: 1,
      });
      const { uuid } = await sim.sim.outgoing(account, '002', '0501112233', '+380800218500');
      await clock.advance(5000 + 30_000);
      await sim.engine.idle();
      const c = company(uuid);
      assert.equal(c?.direction, 2);
      assert.equal(c?.trunk, 'o=380800218500;');
      assert.equal(c?.trunkName, 'Продажі');
      assert.equal(c?.billSecs, 30);
      assert.equal(c?.duration, 35);
      assert.equal(c?.leg?.ext, '002');
      assert.equal(children(uuid)[0]?.billSecs, 30);
    });

    test('an employee ringing on two calls can take only one: the second answer finds them busy', async () => {
      const first = await sim.sim.incoming(account, '+380931110001', '+380443334455');
      const second = await sim.sim.incoming(account, '+380931110002', '+380443334455');
      await sim.sim.answer(account.id, first.uuid, '001');
      await sim.sim.answer(account.id, second.uuid, '001');
      await sim.engine.idle();
      assert.equal(
        company(second.uuid)?.disposition,
        4,
        'the only phone was busy: busy, as in the busy test',
      );
      assert.equal(children(second.uuid)[0]?.disposition, 4);
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.uuid, l.parentUuid]),
        [[first.uuid, null]],
      );
      await sim.engine.hangup(account.id, first.uuid);
    });

    test('a ring-all group where one phone turns out busy still ends when the others stop ringing', async () => {
      // The group rings 001, 002 and 003; meanwhile 001 takes a direct call, so its answer on the
      // group call finds them busy. When 002 and 003 time out, the group call must end (it used
      // to wait forever for the busy leg's outcome).
      const group = await sim.sim.incoming(account, '+380931110011', '+380800218500');
      const direct = await sim.sim.incoming(account, '+380931110012', '+380443334455');
      await sim.sim.answer(account.id, direct.uuid, '001');
      await sim.sim.answer(account.id, group.uuid, '001');
      assert.equal(
        (await sim.engine.active(account.id)).filter((l) => l.parentUuid === group.uuid).length,
        2,
      );
      await clock.advance(21_000);
      await sim.engine.idle();
      assert.equal(company(group.uuid)?.disposition, 1, 'no answer');
      assert.deepEqual(
        children(group.uuid)
          .map((k) => [k.leg?.ext, k.disposition])
          .sort(),
        [
          ['001', 4],
          ['002', 1],
          ['003', 1],
        ],
      );
      assert.deepEqual(
        (await sim.engine.active(account.id)).map((l) => [l.uuid, l.parentUuid]),
        [[direct.uuid, null]],
      );
      await sim.engine.hangup(account.id, direct.uuid);
    });

    test('rejecting one phone of a ring-all group leaves the others ringing', async () => {
      const { uuid } = await sim.sim.incoming(account, '+380931110013', '+380800218500');
      await sim.sim.reject(account.id, uuid, '002');
      assert.deepEqual((await sim.engine.active(account.id)).map((l) => l.leg?.ext).sort(), ['001', '003']);
      await sim.sim.answer(account.id, uuid, '003');
      await sim.engine.hangup(account.id, uuid);
      await sim.engine.idle();
      assert.equal(company(uuid)?.disposition, 0);
      assert.equal(byExt(children(uuid), '002')?.disposition, 4);
    });

    test('another account cannot see or end the calls', async () => {
      const { uuid } = await sim.sim.incoming(account, '+380930000005', '+380443334455');
      assert.deepEqual(await sim.engine.active(account.id + 1000), []);
      await assert.rejects(sim.engine.hangup(account.id + 1000, uuid), /No active call/);
      await sim.engine.hangup(account.id, uuid);
    });
  });
}
