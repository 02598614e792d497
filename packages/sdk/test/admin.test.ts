// Every DzvinAdminClient method against a real Dzvin: account, the five directory resources,
// the simulator (incoming, IVR digit, answer, reject, transfers, internal, outgoing, pause,
// behaviours, talk time) and the traffic generator.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PhonetConflictError, PhonetValidationError } from '@dzvin/sdk';
import { createManualClock } from '../../server/src/index.ts';
import { type SdkFixture, startDzvin } from './support/dzvin.ts';

const clock = createManualClock(Date.UTC(2026, 10, 26, 14));

describe('DzvinAdminClient against a real Dzvin', () => {
  let f: SdkFixture;
  before(async () => {
    f = await startDzvin('admin.localhost', { clock });
  });
  after(() => f.close());

  test('account: get and update', async () => {
    const a = await f.admin.account.get();
    assert.equal(a.domain, 'admin.localhost');
    const changed = await f.admin.account.update({ name: 'Admin office', defaultCountry: 'UA' });
    assert.equal(changed.name, 'Admin office');
    assert.equal((await f.admin.account.get()).name, 'Admin office');
  });

  test('directory CRUD: employees, groups, ivr, trunks, crm connections', async () => {
    const { admin } = f;
    const e2 = await admin.employees.create({
      displayName: 'Андрій',
      ext: '002',
      email: 'a@admin.localhost',
    });
    const e3 = await admin.employees.create({ displayName: 'Марія', ext: '003' });
    assert.equal((await admin.employees.get(e2.id)).ext, '002');
    assert.equal((await admin.employees.update(e3.id, { displayName: 'Марія К.' })).displayName, 'Марія К.');
    assert.equal((await admin.employees.list()).length, 3);

    const [owner] = await admin.employees.list();
    const g = await admin.groups.create({ name: 'Продажі', ext: '100', members: [owner.id, e2.id] });
    assert.deepEqual((await admin.groups.update(g.id, { strategy: 'sequential' })).strategy, 'sequential');
    assert.equal((await admin.groups.get(g.id)).members.length, 2);

    const ivr = await admin.ivr.create({
      name: 'Меню',
      timeoutSec: 5,
      options: [{ digit: '1', target: { type: 'group', id: g.id } }],
      defaultTarget: { type: 'employee', id: owner.id },
    });
    assert.equal((await admin.ivr.list()).length, 1);
    assert.equal((await admin.ivr.update(ivr.id, { greeting: 'Вітаємо' })).greeting, 'Вітаємо');

    const t = await admin.trunks.create({
      number: '+380442246595',
      name: 'Головний',
      destination: { type: 'ivr', id: ivr.id },
      isDefault: true,
    });
    const t2 = await admin.trunks.create({
      number: '+380443334455',
      name: 'Прямий',
      destination: { type: 'employee', id: owner.id },
    });
    assert.equal((await admin.trunks.get(t.id)).isDefault, true);
    assert.equal((await admin.trunks.update(t2.id, { name: 'Олена' })).name, 'Олена');

    const crm = await admin.crmConnections.create({
      name: 'My CRM',
      eventsUrl: 'http://127.0.0.1:9/events',
      secret: 'x'.repeat(24),
    });
    assert.equal(crm.hasSecret, true);
    assert.equal((await admin.crmConnections.update(crm.id, { enabled: false })).enabled, false);
    await admin.crmConnections.delete(crm.id);
    assert.deepEqual(await admin.crmConnections.list(), []);

    await assert.rejects(admin.groups.delete(g.id), PhonetConflictError, 'the IVR still points at it');
    await assert.rejects(admin.employees.create({ displayName: 'x', ext: 'abc' }), PhonetValidationError);
    await admin.employees.delete(e3.id);
    assert.equal((await admin.employees.list()).length, 2);
  });

  test('sim: incoming call through the IVR, digit, answer, blind transfer, hangup', async () => {
    const { admin, client } = f;
    await admin.sim.employeeBehaviour('001', { mode: 'manual' });
    await admin.sim.employeeBehaviour('002', { mode: 'manual' });
    const { uuid } = await admin.sim.incoming({ from: '+380505826633', trunk: '+380442246595' });
    await admin.sim.digit(uuid, '1');
    const ringing = await client.calls.active();
    assert.deepEqual(
      ringing.map((c) => c.leg?.ext),
      ['001'],
      'the group rings its members one by one (sequential)',
    );
    await admin.sim.answer(uuid, { ext: '001' });
    const talking = await client.calls.active();
    assert.deepEqual(
      talking.map((c) => [c.leg?.ext, c.lastEvent]),
      [['001', 'call.bridge']],
    );
    await admin.sim.transfer(uuid, '002');
    await admin.sim.answer(uuid, { ext: '002' });
    await admin.sim.hangup(uuid);
    await f.server.built.simulator.engine.idle();
    assert.deepEqual(await client.calls.active(), []);
    const [h] = await client.calls.company({ from: clock.now() - 1000, to: clock.now() }).toArray();
    assert.equal(h.transferHistory, '001 > 002');
  });

  test('sim: reject, internal, outgoing, attended transfer complete and cancel', async () => {
    const { admin, client } = f;
    const direct = await admin.sim.incoming({ from: '+380505826634', trunk: '+380443334455' });
    await admin.sim.reject(direct.uuid, { ext: '001' });
    await f.server.built.simulator.engine.idle();
    assert.ok(
      !(await client.calls.active()).some((c) => c.parentUuid === direct.uuid || c.uuid === direct.uuid),
    );

    const internal = await admin.sim.internal({ fromExt: '001', toExt: '002' });
    const [live] = await client.calls.active();
    assert.equal(live.lgDirection, 1);
    assert.equal(live.leg2?.ext, '002');
    await admin.sim.hangup(internal.uuid);

    await admin.sim.externalBehaviour('*', { mode: 'manual' });
    await admin.sim.externalBehaviour('*', null);
    const out = await admin.sim.outgoing({ fromExt: '002', number: '0671112200', trunk: '+380442246595' });
    assert.equal((await client.calls.active())[0].lgDirection, 2);
    await client.calls.hangup(out.uuid);

    for (const ending of ['complete', 'cancel'] as const) {
      const { uuid } = await admin.sim.incoming({ from: '+380671110003', trunk: '+380443334455' });
      await admin.sim.answer(uuid, { ext: '001' });
      await admin.sim.attendedTransfer(uuid, '002');
      await admin.sim.answer(uuid, { ext: '002' });
      if (ending === 'complete') await admin.sim.completeTransfer(uuid);
      else await admin.sim.cancelTransfer(uuid);
      const legs = await client.calls.active();
      assert.deepEqual(
        legs.filter((c) => c.lastEvent === 'call.bridge').map((c) => c.leg?.ext),
        [ending === 'complete' ? '002' : '001'],
        ending,
      );
      await admin.sim.hangup(uuid);
    }
    await f.server.built.simulator.engine.idle();
    assert.deepEqual(await client.calls.active(), []);
  });

  test('sim: pause/unpause, behaviours and talk time, traffic start/status/stop', async () => {
    const { admin, client } = f;
    await admin.sim.pause('001');
    assert.equal((await admin.employees.list()).find((e) => e.ext === '001')?.paused, true);
    assert.deepEqual(await client.users.status(), { status: 1 });
    await admin.sim.unpause('001');
    assert.deepEqual(await client.users.status(), { status: 0 });

    await admin.sim.employeeBehaviour('001', null);
    await admin.sim.employeeBehaviour('002', { mode: 'answer', answerAfterSec: 1, probability: 1 });
    await admin.sim.talkTime({ minSec: 1, maxSec: 1 });
    await assert.rejects(admin.sim.talkTime({ minSec: 5, maxSec: 1 }), PhonetValidationError);

    const started = await admin.sim.traffic.start({
      ratePerSec: 2,
      durationSec: 30,
      trunks: ['+380443334455'],
    });
    assert.equal(started.running, true);
    await clock.advance(5_000);
    const status = await admin.sim.traffic.status();
    assert.equal(status.running, true);
    assert.ok(status.placed > 0, `placed ${status.placed}`);
    const stopped = await admin.sim.traffic.stop();
    assert.equal(stopped.running, false);
    await clock.advance(10_000);
    await f.server.built.simulator.engine.idle();
  });

  test('rotateKey: the client switches to the new key', async () => {
    const before = await f.admin.account.get();
    const { apiKey } = await f.admin.account.rotateKey();
    assert.notEqual(apiKey, f.apiKey);
    assert.equal((await f.admin.account.get()).domain, before.domain, 'still signed in with the new key');
  });
});
