// Calls placed FROM a real phone (issue 15): a baresip softphone registered through Kamailio as
// employee 001 dials; Kamailio relays the INVITE to Dzvin's B2BUA with X-Dzvin-Auth, and the call
// core places an internal call (an ext) or an outgoing one (a number, simulated far end). What the
// CRM side sees is read over the Phonet REST API.
//
// Needs kamailio, rtpengine and baresip-core; without them it skips loudly, unless
// DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import { buildAckForFailure, buildRequest, header, sdpOffer, startUdpPeer } from './support/kamailio-sip.ts';
import { activeCalls, historyRecord } from './support/phonet-calls.ts';
import { type Rtpengine, rtpengineSkipReason } from './support/rtpengine.ts';
import { startSipStack, untilRegistered } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';
import { goertzel, parseWav, peakHz } from './support/wav.ts';

const DOMAIN = 'sip.localhost';
const PASSWORD = 'softphone-001-secret';
const TRUNK = '+380443334400';
const NUMBER = '+380501112233';

const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

describe('a softphone places calls through Kamailio into the Dzvin call core', { skip }, () => {
  let rtp: Rtpengine;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let phone: Baresip;
  let accountId = 0;

  before(async () => {
    ({ rtp, kam, server } = await startSipStack());
    s = await server.account(DOMAIN);
    const account = (await server.built.store.accounts.byDomain(DOMAIN))!;
    accountId = account.id;
    const dir = server.built.services.directory;
    const e001 = (await server.built.store.directory.employees.byExt(account.id, '001'))!;
    await dir.employees.create(account, { displayName: 'Андрій', ext: '002' });
    await dir.trunks.create(account, {
      number: TRUNK,
      name: 'Main',
      destination: { type: 'employee', id: e001.id },
      isDefault: true,
    });
    assert.equal((await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 60, maxSec: 60 })).status, 204);
    // The softphone's password, as an operator sets it (Dzvin pushes its HA1 to Kamailio).
    const set = await s.admin('PUT', `/api/v1/employees/${e001.id}/sip-password`, { password: PASSWORD });
    assert.equal(set.status, 204, set.text);
    phone = await startBaresip({
      user: '001',
      domain: DOMAIN,
      password: PASSWORD,
      proxyPort: kam.sipPort,
      answermode: 'manual',
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
    await until(() => server.built.sip!.driver.originated().length === 0, 'no call of the phone left');
  });

  const active = () => activeCalls(s);
  const record = (uuid: string) => historyRecord(s, uuid);
  const behaviour = async (path: string, body: unknown) =>
    assert.equal((await s.admin('PUT', `/api/v1/sim/behaviours/${path}`, body)).status, 204);

  test('001 dials 002 on the softphone: an internal call 001 → 002, bridged when 002 answers; 001 hangs up and the call ends answered', async () => {
    await behaviour('employees/002', { mode: 'answer', answerAfterSec: 1, probability: 1 });
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:002@${DOMAIN}`)).ok);
    const live = await until(
      async () => (await active()).find((c) => c.lgDirection === 1),
      'the internal call',
    );
    assert.equal(live.leg.ext, '001');
    assert.equal(live.leg2.ext, '002');
    assert.equal(live.lastEvent, 'call.dial');
    const { uuid } = live;
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established at the phone', {
      from,
      ms: 10_000,
    });
    await until(
      async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
      'the call bridged',
    );
    // The caller is off hook: a call to 001 now finds them busy.
    const busy = await s.admin('POST', '/api/v1/sim/internal', { fromExt: '002', toExt: '001' });
    assert.equal(busy.status, 201, busy.text);
    const busyRecord = await record(busy.json().uuid);
    assert.equal(busyRecord.disposition, 4, 'busy: 001 is on a call');
    await sleep(1200);
    assert.ok((await phone.command('hangup')).ok);
    await until(async () => !(await active()).some((c) => c.uuid === uuid), 'the call over');
    const c = await record(uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.lgDirection ?? c.direction, 1);
    assert.equal(c.leg.ext, '001');
    assert.equal(c.leg2.ext, '002');
    assert.ok(c.billSecs >= 1, `talked ${c.billSecs} s`);
  });

  test('001 dials an external number: an outgoing call on the default trunk, bridged when the number answers; a REST hangup sends BYE to the phone', async () => {
    await behaviour(`external/${encodeURIComponent(NUMBER)}`, {
      mode: 'answer',
      answerAfterSec: 1,
      probability: 1,
    });
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:0501112233@${DOMAIN}`)).ok);
    const live = await until(
      async () => (await active()).find((c) => c.lgDirection === 2),
      'the outgoing call',
    );
    assert.equal(live.leg.ext, '001');
    assert.equal(live.trunkNum, TRUNK);
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established at the phone', {
      from,
      ms: 10_000,
    });
    await until(
      async () => (await active()).some((c) => c.uuid === live.uuid && c.lastEvent === 'call.bridge'),
      'bridged',
    );
    const hung = phone.events.length;
    assert.equal((await s.get(`/rest/calls/active/${live.uuid}/hangup`)).status, 200);
    await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at the phone', {
      from: hung,
      ms: 10_000,
    });
    const c = await record(live.uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.leg.ext, '001');
    assert.equal(c.otherLegNum, NUMBER);
    assert.equal(c.lgDirection ?? c.direction, 2);
  });

  test('001 dials an ext nobody has: 404 at the phone, no call', async () => {
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:077@${DOMAIN}`)).ok);
    const closed = await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the call refused', {
      from,
      ms: 10_000,
    });
    assert.match(closed.param ?? '', /404/);
    assert.equal((await active()).length, 0);
  });

  test('002 is busy: 486 at the phone, the call ends busy', async () => {
    await behaviour('employees/002', { mode: 'busy' });
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:002@${DOMAIN}`)).ok);
    const closed = await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the call refused', {
      from,
      ms: 10_000,
    });
    assert.match(closed.param ?? '', /486/);
  });

  test('001 hangs up while 002 still rings: CANCEL, the call ends unanswered', async () => {
    await behaviour('employees/002', { mode: 'manual' });
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:002@${DOMAIN}`)).ok);
    const live = await until(
      async () => (await active()).find((c) => c.lgDirection === 1),
      'the internal call',
    );
    await phone.waitForEvent(
      (e) => e.type === 'CALL_RINGING' || e.type === 'CALL_PROGRESS',
      'ringback at the phone',
      {
        from,
        ms: 10_000,
      },
    );
    assert.ok((await phone.command('hangup')).ok);
    await until(async () => !(await active()).some((c) => c.uuid === live.uuid), 'the call over');
    const c = await record(live.uuid);
    assert.equal(c.disposition, 1, 'no answer');
    assert.equal(c.billSecs, 0);
  });

  test('two softphones call each other: 001 dials 002 on its own phone, each hears the other through rtpengine, the recording has both tones', async () => {
    const e002 = (await server.built.store.directory.employees.byExt(accountId, '002'))!;
    const set = await s.admin('PUT', `/api/v1/employees/${e002.id}/sip-password`, {
      password: 'softphone-002-secret',
    });
    assert.equal(set.status, 204, set.text);
    const phone2 = await startBaresip({
      user: '002',
      domain: DOMAIN,
      password: 'softphone-002-secret',
      proxyPort: kam.sipPort,
      answermode: 'auto',
      toneHz: 440,
      dumpAudio: true,
    });
    try {
      await phone2.register();
      await untilRegistered(server, accountId, '002');
      const from = phone.events.length;
      const from2 = phone2.events.length;
      assert.ok((await phone.command('dial', `sip:002@${DOMAIN}`)).ok);
      await phone2.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '002 answers', { from: from2 });
      await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call up at 001', { from });
      const live = await until(
        async () => (await active()).find((c) => c.lgDirection === 1 && c.lastEvent === 'call.bridge'),
        'the internal call bridged',
      );
      assert.equal(live.leg.ext, '001');
      assert.equal(live.leg2.ext, '002');
      // Dzvin relays each phone's RTP (anchored by rtpengine on both sides) to the other.
      await until(() => {
        const [j] = server.built.sip!.driver.joints();
        return j && j.aToB >= 75 && j.bToA >= 75;
      }, '1.5 s of RTP each way between the phones');
      const hung = phone2.events.length;
      assert.ok((await phone.command('hangup')).ok);
      await phone2.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 002', { from: hung });
      await until(async () => !(await active()).some((c) => c.uuid === live.uuid), 'the call over');
      const c = await record(live.uuid);
      assert.equal(c.disposition, 0);
      assert.equal(c.leg.ext, '001');
      assert.equal(c.leg2.ext, '002');
      assert.equal(server.built.sip!.driver.joints().length, 0, 'the relay stopped with the call');
      // What each phone heard (baresip's decoded dump): the other one's tone.
      // sndfile writes the file as it goes and completes its header when the call's audio stops.
      const heardBy002 = await until(
        () => {
          const [dump] = phone2.heard();
          const samples = dump && dump.length > 44 ? parseWav(dump).samples : null;
          return samples && samples.length >= 8000 ? samples : null;
        },
        "002's dump of what it heard",
        5000,
      ).catch(() => {
        throw new Error(
          `002's dump: ${phone2.heard().map((b) => b.length)} bytes; ${phone2.output().slice(-800)}`,
        );
      });
      assert.ok(heardBy002.length >= 8000, `002 heard ${heardBy002.length / 8000} s`);
      const hz002 = peakHz(heardBy002);
      assert.ok(Math.abs(hz002 - 1000) <= 50, `002 hears 001's 1000 Hz tone: ${hz002} Hz`);
      // The recording: tx the rung employee 002 (440 Hz), rx the caller 001 (1000 Hz).
      const track = async (suffix: string) => {
        const r = await fetch(`${server.baseUrl}/rest/public/calls/${live.uuid}${suffix}/audio`);
        assert.equal(r.status, 200, `${suffix} track`);
        return parseWav(Buffer.from(await r.arrayBuffer())).samples;
      };
      const [rx, tx] = [await track('-rx'), await track('-tx')];
      const measured = { rx: peakHz(rx), tx: peakHz(tx) };
      console.log(
        `# phone to phone: 002 heard ${hz002} Hz; recorded rx ${measured.rx} Hz, tx ${measured.tx} Hz`,
      );
      assert.ok(Math.abs(measured.tx - 440) <= 22, `tx is 002's 440 Hz: ${measured.tx} Hz`);
      assert.ok(Math.abs(measured.rx - 1000) <= 50, `rx is 001's 1000 Hz: ${measured.rx} Hz`);
      assert.ok(goertzel(rx, 8000, 1000) > 10 * goertzel(rx, 8000, 400), 'rx: no tone of Dzvin in it');
    } finally {
      await phone2.stop();
      await s.admin('DELETE', `/api/v1/employees/${e002.id}/sip-password`);
      await untilRegistered(server, accountId, '002', false);
    }
  });

  test('a request that requires an extension Dzvin lacks (100rel, timer) gets 420 Bad Extension naming it; no call starts', async () => {
    const b2buaPort = Number(server.built.sip!.transport.sentBy.split(':').pop());
    const peer = await startUdpPeer();
    try {
      const invite = buildRequest({
        method: 'INVITE',
        uri: `sip:002@${DOMAIN}`,
        via: { address: peer.address, port: peer.port },
        from: `sip:001@${DOMAIN}`,
        to: `sip:002@${DOMAIN}`,
        headers: ['Require: 100rel'],
        body: sdpOffer('127.0.0.1', 40_000),
      });
      peer.send(invite, b2buaPort);
      const refused = await peer.waitFor(
        (m) => m.status !== undefined && m.status >= 200,
        'the final answer',
      );
      assert.equal(refused.status, 420, refused.raw ?? JSON.stringify(refused));
      assert.equal(header(refused, 'Unsupported'), '100rel');
      assert.match(header(refused, 'To') ?? '', /;tag=/);
      peer.send(buildAckForFailure(invite, refused), b2buaPort);
      const from = peer.received.length;
      peer.send(
        buildRequest({
          method: 'OPTIONS',
          uri: `sip:dzvin@${DOMAIN}`,
          via: { address: peer.address, port: peer.port },
          from: `sip:001@${DOMAIN}`,
          to: `sip:dzvin@${DOMAIN}`,
          headers: ['Require: timer, foo'],
        }),
        b2buaPort,
      );
      const options = await peer.waitFor((m) => m.status !== undefined, 'the OPTIONS answer', { from });
      assert.equal(options.status, 420);
      assert.equal(header(options, 'Unsupported'), 'timer, foo');
      assert.equal((await active()).length, 0, 'no call');
    } finally {
      await peer.close();
    }
  });

  test("an INVITE with a forged X-Dzvin-Auth straight to the B2BUA's port (not from Kamailio's edge) gets 403; no call starts", async () => {
    // Found by `npm run proof` (the sip part): the header is Kamailio's word only on its edge socket.
    const b2buaPort = Number(server.built.sip!.transport.sentBy.split(':').pop());
    const peer = await startUdpPeer();
    try {
      for (const headers of [[`X-Dzvin-Auth: 001@${DOMAIN}`], ['X-Dzvin-Source: udp:127.0.0.1:5060']]) {
        const invite = buildRequest({
          method: 'INVITE',
          uri: `sip:0501112233@${DOMAIN}`,
          via: { address: peer.address, port: peer.port },
          from: `sip:001@${DOMAIN}`,
          to: `sip:0501112233@${DOMAIN}`,
          headers,
          body: sdpOffer('127.0.0.1', 40_000),
        });
        const from = peer.received.length;
        peer.send(invite, b2buaPort);
        const refused = await peer.waitFor(
          (m) => m.status !== undefined && m.status >= 200,
          'the final answer',
          { from },
        );
        assert.equal(refused.status, 403, refused.raw ?? JSON.stringify(refused));
        peer.send(buildAckForFailure(invite, refused), b2buaPort);
      }
      await sleep(300);
      assert.equal((await active()).length, 0, 'no call');
      assert.equal(server.built.sip!.driver.originated().length, 0, 'no call of a phone');
    } finally {
      await peer.close();
    }
  });
});
