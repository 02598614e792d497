// A real phone in a Dzvin call (issue 15): Dzvin started with its SIP engine (the B2BUA under
// the call core), Kamailio with deploy/kamailio/dzvin.cfg in front of it, rtpengine anchoring the
// media and a baresip softphone registered as employee 001. The caller is simulated; 002 stays a
// simulated phone of the same office. What the CRM side sees is read over the Phonet REST API.
//
// Needs kamailio, rtpengine and baresip-core; without them it skips loudly, unless
// DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { digestHa1 } from '../src/engine/sip/edge/sip-credentials.ts';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import { activeCalls, historyRecord } from './support/phonet-calls.ts';
import { type Rtpengine, rtpengineSkipReason } from './support/rtpengine.ts';
import { startSipStack, untilRegistered } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';
import { goertzel, parseWav, peakHz } from './support/wav.ts';

const DOMAIN = 'sip.localhost';
const PASSWORD = 'softphone-001-secret';
const TRUNK = '+380443334400';
const GROUP_TRUNK = '+380443334401';

const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

describe('a softphone registered through Kamailio rings, talks and hangs up in a Dzvin call', {
  skip,
}, () => {
  let rtp: Rtpengine;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let phone: Baresip;
  let accountId = 0;
  let e001Id = 0;

  before(async () => {
    ({ rtp, kam, server } = await startSipStack());
    s = await server.account(DOMAIN);
    const account = (await server.built.store.accounts.byDomain(DOMAIN))!;
    accountId = account.id;
    const dir = server.built.services.directory;
    const e001 = (await server.built.store.directory.employees.byExt(account.id, '001'))!;
    const e002 = await dir.employees.create(account, { displayName: 'Андрій', ext: '002' });
    await dir.trunks.create(account, {
      number: TRUNK,
      name: 'Main',
      destination: { type: 'employee', id: e001.id },
      isDefault: true,
    });
    const group = await dir.groups.create(account, {
      name: 'Office',
      ext: '100',
      strategy: 'simultaneous',
      ringTimeoutSec: 30,
      members: [e001.id, e002.id],
    });
    await dir.trunks.create(account, {
      number: GROUP_TRUNK,
      name: 'Office',
      destination: { type: 'group', id: group.id },
    });
    // 002 is a simulated phone that rings until told; the simulated callers talk for a minute.
    assert.equal(
      (await s.admin('PUT', '/api/v1/sim/behaviours/employees/002', { mode: 'manual' })).status,
      204,
    );
    assert.equal((await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 60, maxSec: 60 })).status, 204);
    // The operator gives 001 a SIP password through the admin API; Dzvin pushes its HA1 to Kamailio.
    e001Id = e001.id;
    const set = await s.admin('PUT', `/api/v1/employees/${e001.id}/sip-password`, { password: PASSWORD });
    assert.equal(set.status, 204, set.text);
    assert.equal(
      (await kam.control.credentials()).get(`001@${DOMAIN}`),
      digestHa1({ ext: '001', domain: DOMAIN }, PASSWORD),
      'Kamailio holds the HA1 once the PUT is answered',
    );
    phone = await startBaresip({
      user: '001',
      domain: DOMAIN,
      password: PASSWORD,
      proxyPort: kam.sipPort,
      answermode: 'auto',
      toneHz: 1000,
    });
    await phone.register();
    await untilRegistered(server, accountId, '001');
  });
  after(async () => {
    await phone?.stop();
    await server?.close();
    await kam?.stop();
    await rtp?.stop();
  });
  afterEach(async () => {
    for (const c of (await s.get('/rest/calls/active/v3')).json() as Json[])
      await s.get(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
    await server.built.simulator.engine.idle();
  });

  const active = () => activeCalls(s);
  const record = (uuid: string) => historyRecord(s, uuid);

  test('a simulated caller reaches 001 on the softphone: it rings over SIP, answers, media flows both ways through rtpengine, a REST hangup sends BYE, the recording is the real audio', async () => {
    const from = phone.events.length;
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234567', trunk: TRUNK });
    assert.equal(placed.status, 201, placed.text);
    const { uuid } = placed.json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the phone to answer', {
      from,
      ms: 10_000,
    });
    await until(
      async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
      'the call bridged',
    );
    const [live] = (await active()).filter((c) => c.uuid === uuid);
    assert.equal(live.leg.ext, '001');
    assert.equal(live.parentUuid, null, 'one uuid for the call, as for a simulated phone');
    // Audio both ways: the phone's tone reaches Dzvin through rtpengine, and Dzvin's reaches the phone.
    await until(() => {
      const [leg] = server.built.sip!.driver.legs();
      return leg && leg.received >= 50 && leg.sent >= 50;
    }, 'RTP both ways');
    await sleep(500);
    // rtpengine relayed it (its own counters for the call), not a direct path.
    const ng = rtp.client();
    try {
      const stats = await ng.query({ 'call-id': server.built.sip!.driver.legs()[0].callId });
      assert.equal(stats.result, 'ok');
    } finally {
      await ng.close();
    }
    const hung = phone.events.length;
    assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
    await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at the phone', {
      from: hung,
      ms: 10_000,
    });
    const c = await record(uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.leg.ext, '001');
    assert.ok(c.duration >= 1, `duration ${c.duration}`);
    await until(() => server.built.sip!.driver.legs().length === 0, 'the SIP leg gone');
    // The recording: tx is what the phone sent (baresip's 1000 Hz tone), rx what Dzvin sent it as
    // the caller (400 Hz), not the synthesized voices (440 Hz rx, 1000 Hz tx under a 3 Hz envelope).
    const track = async (suffix: string) => {
      const r = await fetch(`${server.baseUrl}/rest/public/calls/${uuid}${suffix}/audio`);
      assert.equal(r.status, 200, `${suffix || 'mixed'} track`);
      return parseWav(Buffer.from(await r.arrayBuffer())).samples;
    };
    const [mixed, rx, tx] = [await track(''), await track('-rx'), await track('-tx')];
    assert.ok(rx.length >= 8000, `at least a second recorded: ${rx.length} samples`);
    const measured = { rx: peakHz(rx), tx: peakHz(tx) };
    console.log(`# recorded: rx ${measured.rx} Hz, tx ${measured.tx} Hz, ${rx.length / 8000} s`);
    assert.ok(Math.abs(measured.tx - 1000) <= 50, `tx is the phone's 1000 Hz tone: ${measured.tx} Hz`);
    assert.ok(Math.abs(measured.rx - 400) <= 20, `rx is Dzvin's 400 Hz tone: ${measured.rx} Hz`);
    const at = goertzel;
    assert.ok(at(rx, 8000, 400) > 10 * at(rx, 8000, 440), 'rx: no synthesized 440 Hz voice');
    assert.ok(at(tx, 8000, 1000) > 10 * at(tx, 8000, 400) && at(rx, 8000, 400) > 10 * at(rx, 8000, 1000));
    // A steady tone, not the synthesized voice's syllables: from the first sound on (the phone's
    // RTP starts at its answer, before the bridge), every 50 ms of tx is loud.
    const first = tx.findIndex((v) => Math.abs(v) > 1000);
    assert.ok(first >= 0 && first < 4000, `tx sounds within half a second: sample ${first}`);
    let quiet = 0;
    for (let i = first; i + 400 <= tx.length - 800; i += 400)
      if (at(tx.subarray(i, i + 400), 8000, 1000) < 0.1) quiet++;
    assert.ok(quiet <= 2, `${quiet} quiet 50 ms windows in tx`);
    // The mixed track is both sides, at half gain.
    assert.equal(mixed.length, rx.length);
    assert.ok(at(mixed, 8000, 400) > 0.3 * at(rx, 8000, 400), 'mixed carries the caller');
    assert.ok(at(mixed, 8000, 1000) > 0.3 * at(tx, 8000, 1000), 'mixed carries the employee');
  });

  test('the employee hangs up on the phone: the call ends, answered', async () => {
    const from = phone.events.length;
    const { uuid } = (
      await s.admin('POST', '/api/v1/sim/calls', { from: '0501234568', trunk: TRUNK })
    ).json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the phone to answer', {
      from,
      ms: 10_000,
    });
    await until(
      async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
      'bridged',
    );
    await sleep(300);
    assert.ok((await phone.command('hangup')).ok);
    await until(async () => !(await active()).some((c) => c.uuid === uuid), 'the call over');
    const c = await record(uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.leg.ext, '001');
    assert.ok(c.duration >= c.billSecs && c.billSecs >= 0, `talked: ${c.billSecs} s of ${c.duration} s`);
  });

  test('one ring group, one real phone and one simulated: both ring, the softphone answers, the simulated one stops ringing', async () => {
    const from = phone.events.length;
    const { uuid } = (
      await s.admin('POST', '/api/v1/sim/calls', { from: '0501234569', trunk: GROUP_TRUNK })
    ).json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the phone to answer', {
      from,
      ms: 10_000,
    });
    await until(async () => {
      const mine = (await active()).filter((c) => c.parentUuid === uuid);
      return mine.length === 1 && mine[0].leg.ext === '001' && mine[0].lastEvent === 'call.bridge';
    }, 'only 001 left, bridged');
    assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
    await server.built.simulator.engine.idle();
    const now = Date.now();
    const users = (
      (
        await s.get(`/rest/calls/users.api?timeFrom=${now - 600_000}&timeTo=${now + 60_000}&limit=50`)
      ).json() as Json[]
    ).filter((c) => c.parentUuid === uuid);
    assert.deepEqual(users.map((c) => [c.leg.ext, c.disposition]).sort(), [
      ['001', 0],
      ['002', 1],
    ]);
  });

  test('a wrong password does not register: Kamailio refuses it (403) and Dzvin never sees 002 registered', async () => {
    const e002 = (await server.built.store.directory.employees.byExt(accountId, '002'))!;
    assert.equal(
      (await s.admin('PUT', `/api/v1/employees/${e002.id}/sip-password`, { password: 'the-right-002-pass' }))
        .status,
      204,
    );
    const wrong = await startBaresip({
      user: '002',
      domain: DOMAIN,
      password: 'not-the-002-password',
      proxyPort: kam.sipPort,
    });
    try {
      await wrong.register();
      const ev = await wrong.waitForEvent((e) => e.type.startsWith('REGISTER_'), 'a register result');
      assert.equal(ev.type, 'REGISTER_FAIL', `registered: ${ev.param}`);
      assert.match(ev.param ?? '', /^403 /);
      await server.built.sip!.refresh();
      assert.ok(!server.built.sip!.registered().includes(`${accountId}:002`));
      await wrong.unregister();
    } finally {
      await wrong.stop();
      await s.admin('DELETE', `/api/v1/employees/${e002.id}/sip-password`);
    }
  });

  test('an employee without a registered phone stays simulated: 002 called directly rings the simulator', async () => {
    const r = await s.admin('POST', '/api/v1/sim/internal', { fromExt: '001', toExt: '002' });
    assert.equal(r.status, 201, r.text);
    const { uuid } = r.json();
    assert.equal(server.built.sip!.driver.legs().length, 0, 'no SIP leg for 002');
    assert.equal((await s.admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '002' })).status, 204);
    await until(
      async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
      'bridged',
    );
  });

  test("a blind transfer from 001's softphone to 002's: 002 rings over SIP, answers into the talking call and hears the caller; 001 gets BYE; transferHistory names both", async () => {
    const e002 = (await server.built.store.directory.employees.byExt(accountId, '002'))!;
    assert.equal(
      (await s.admin('PUT', `/api/v1/employees/${e002.id}/sip-password`, { password: 'softphone-002-pass' }))
        .status,
      204,
    );
    const phone2 = await startBaresip({
      user: '002',
      domain: DOMAIN,
      password: 'softphone-002-pass',
      proxyPort: kam.sipPort,
      answermode: 'auto',
      toneHz: 880,
      dumpAudio: true,
    });
    try {
      await phone2.register();
      await untilRegistered(server, accountId, '002');
      const from = phone.events.length;
      const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234570', trunk: TRUNK });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '001 answers', { from });
      await until(
        async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
        'the call bridged with 001',
      );
      const from2 = phone2.events.length;
      const closed1 = phone.events.length;
      const moved = await s.admin('POST', `/api/v1/sim/calls/${uuid}/transfer`, { toExt: '002' });
      assert.equal(moved.status, 204, moved.text);
      await phone2.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '002 answers the transfer', {
        from: from2,
      });
      await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: closed1 });
      // 002 hears the caller (Dzvin's 400 Hz) from its answer on, not silence.
      await until(() => {
        const leg = server.built.sip!.driver.legs().find((l) => l.state === 'up');
        return leg && leg.sent >= 100 && leg.received >= 100;
      }, "two seconds of RTP both ways on 002's leg");
      const hung = phone2.events.length;
      assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
      await phone2.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 002', { from: hung });
      const c = await record(uuid);
      assert.equal(c.disposition, 0);
      assert.equal(c.leg.ext, '002', 'the call ended with 002');
      assert.equal(c.transferHistory, '001 > 002');
      const heard = await until(
        () => {
          const [dump] = phone2.heard();
          const samples = dump && dump.length > 44 ? parseWav(dump).samples : null;
          return samples && samples.length >= 8000 ? samples : null;
        },
        "002's dump of what it heard",
        5000,
      ).catch(() => {
        throw new Error(
          `002's dump: ${phone2.heard().map((b) => b.length)} bytes; ${phone2.output().slice(-1500)}`,
        );
      });
      const hz = peakHz(heard);
      assert.ok(Math.abs(hz - 400) <= 20, `002 hears the caller's 400 Hz: ${hz} Hz`);
    } finally {
      await phone2.stop();
      await s.admin('DELETE', `/api/v1/employees/${e002.id}/sip-password`);
      await untilRegistered(server, accountId, '002', false);
    }
  });

  test('001 transfers the call from its softphone (REFER): 202, 002 (simulated) answers, 001 gets BYE; a REFER to an ext nobody has gets 404', async () => {
    assert.equal(
      (
        await s.admin('PUT', '/api/v1/sim/behaviours/employees/002', {
          mode: 'answer',
          answerAfterSec: 1,
          probability: 1,
        })
      ).status,
      204,
    );
    const talking = async (caller: string) => {
      const from = phone.events.length;
      const placed = await s.admin('POST', '/api/v1/sim/calls', { from: caller, trunk: TRUNK });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '001 answers', { from });
      await until(
        async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
        'the call bridged with 001',
      );
      return uuid as string;
    };
    try {
      // An ext nobody has: Dzvin refuses the REFER (404); baresip 1.0 then hangs up by itself.
      const refused = await talking('0501234571');
      assert.ok((await phone.command('transfer', `sip:077@${DOMAIN}`)).ok);
      await until(() => /transfer failed: 404 Not Found/.test(phone.output()), 'the 404 at the phone');
      const first = await record(refused);
      assert.equal(first.leg.ext, '001', 'the call never left 001');
      assert.equal(first.transferHistory, '001');

      const uuid = await talking('0501234572');
      const closed = phone.events.length;
      assert.ok((await phone.command('transfer', `sip:002@${DOMAIN}`)).ok);
      await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001 once 002 answered', {
        from: closed,
      });
      await until(
        async () => (await active()).some((c) => c.uuid === uuid && c.leg.ext === '002'),
        'the call with 002',
      );
      assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
      const c = await record(uuid);
      assert.equal(c.disposition, 0);
      assert.equal(c.leg.ext, '002');
      assert.equal(c.transferHistory, '001 > 002');
    } finally {
      await s.admin('PUT', '/api/v1/sim/behaviours/employees/002', { mode: 'manual' });
    }
  });

  // Last: it takes 001's phone away.
  test('after DELETE of the SIP password the phone is dropped and its next REGISTER is refused', async () => {
    const del = await s.admin('DELETE', `/api/v1/employees/${e001Id}/sip-password`);
    assert.equal(del.status, 204, del.text);
    assert.ok(!(await kam.control.credentials()).has(`001@${DOMAIN}`), 'Kamailio forgot the HA1');
    await until(
      async () => {
        await server.built.sip!.refresh();
        return !server.built.sip!.registered().includes(`${accountId}:001`);
      },
      'Dzvin to see 001 unregistered',
      5_000,
    );
    await phone.unregister();
    const from = phone.events.length;
    await phone.register();
    const ev = await phone.waitForEvent((e) => e.type.startsWith('REGISTER_'), 'a register result', { from });
    assert.equal(ev.type, 'REGISTER_FAIL', `registered: ${ev.param}`);
    assert.match(ev.param ?? '', /^403 /);
    await server.built.sip!.refresh();
    assert.ok(!server.built.sip!.registered().includes(`${accountId}:001`));
    await phone.unregister();
  });
});
