// Call flows of issue 15 over real SIP, with real peers started here on loopback: rtpengine,
// Kamailio (deploy/kamailio/dzvin.cfg) and a SIP-enabled Dzvin (support/sip-stack.ts); baresip
// softphones registered as employees (each with its own SIP password); SIPp registered with
// digest as a phone that refuses (486 / 503) or never answers. The external parties are
// simulated. What a CRM sees is read over the Phonet REST API.
//
// - click-to-call (`POST /rest/user/makeCall`): the employee's phone rings first, the number is
//   dialled once it answers, bridged; a REST hangup by uuid sends BYE to the phone;
// - a simultaneous ring group of three softphones: all ring, one answers, the other two are
//   CANCELled (baresip closes them as cancelled), history names who answered;
// - SIPp as the phone of 004: 486 → busy (4), 503 → congestion (2), ringing until the core's
//   30 s timeout (CANCEL, 487) → no answer (1), per issue 15's disposition table.
//
// Kamailio's keep-alive OPTIONS are off here (NATPING_INTERVAL=0): a SIPp UAS takes any request
// with a new Call-ID as its one call (-m 1), and a keep-alive OPTIONS arriving before Dzvin's
// INVITE would use it up (seen: one came 47 s into a run, with the interval at 600 s).
//
// Needs kamailio, rtpengine, baresip-core and sipp; without them it skips loudly, unless
// DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { getCallId } from '../src/engine/sip/message.ts';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import { rtpengineSkipReason } from './support/rtpengine.ts';
import { letReportsDrainBeforeExit } from './support/sip-reports.ts';
import { freeUdpPort, type SippRun, sippSkipReason, startSipp } from './support/sip-sipp.ts';
import { type SipStack, startSipStack } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';

letReportsDrainBeforeExit();

const DOMAIN = 'flows.localhost';
const GROUP_TRUNK = '+380443335500';
const SIPP_TRUNK = '+380443335504';
const NUMBER = '+380501119900';
const PASSWORDS: Record<string, string> = {
  '001': 'flows-001-secret',
  '002': 'flows-002-secret',
  '003': 'flows-003-secret',
  '004': 'flows-004-secret',
};

const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason() || sippSkipReason();

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

/** SIPp registering `ext` with digest from `port` (its Contact), then exiting. */
function registerXml(ext: string, password: string, expires: number): string {
  const request = (cseq: number, auth: string) => `
  <send retrans="500">
    <![CDATA[
      REGISTER sip:${DOMAIN} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:${ext}@${DOMAIN}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:${ext}@${DOMAIN}>
      Call-ID: [call_id]
      CSeq: ${cseq} REGISTER
      Contact: <sip:${ext}@[local_ip]:[local_port]>
      Expires: ${expires}
      User-Agent: SIPp phone
      ${auth}
      Content-Length: 0
    ]]>
  </send>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register ${ext}">
  ${request(1, '')}
  <recv response="401" auth="true"/>
  ${request(2, `[authentication username=${ext} password=${password}]`)}
  <recv response="200"/>
</scenario>`;
}

/** A response of the UAS to the last request it received (To gets the dialog's tag). */
const reply = (status: string, cseq = '[last_CSeq:]', via = '[last_Via:]') => `
  <send>
    <![CDATA[
      SIP/2.0 ${status}
      ${via}
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      ${cseq}
      Contact: <sip:004@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>`;

/**
 * The phone 004 as a SIPp UAS: it rings, then refuses with `status`, or (null) rings until
 * CANCEL. The 487 answers the INVITE, so it carries the INVITE's two Vias (Kamailio's, Dzvin's:
 * kept when it arrived), not the hop-by-hop CANCEL's one, which Kamailio could not relay on.
 */
function uasXml(status: string | null): string {
  const end =
    status === null
      ? `<recv request="CANCEL"/>
  ${reply('200 OK')}
  ${reply('487 Request Terminated', 'CSeq: [last_cseq_number] INVITE', 'Via: [$via1]\n      Via: [$via2]')}
  <Reference variables="vias"/>`
      : reply(status);
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="004 ${status ?? 'never answers'}">
  <recv request="INVITE">${
    status === null
      ? `
    <action>
      <ereg regexp="Via: ([^[:cntrl:]]*)[[:cntrl:]]+Via: ([^[:cntrl:]]*)" search_in="msg" check_it="true" assign_to="vias,via1,via2"/>
    </action>
  `
      : ''
  }</recv>
  ${reply('180 Ringing')}
  ${end}
  <recv request="ACK"/>
</scenario>`;
}

describe('call flows over real SIP: click-to-call, a ring group of three softphones, SIPp refusing', {
  skip,
}, () => {
  let stack: SipStack;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let accountId = 0;
  /** What the running test started: stopped (and un-registered) after it, pass or fail. */
  let phones: Baresip[] = [];
  let sipps: SippRun[] = [];
  let exts: string[] = [];
  /** Every request Dzvin's B2BUA put on the wire (method, Call-ID): a tap on its real transport. */
  const wire: { method: string; callId: string }[] = [];
  const sentTo = (method: string, callId: string | undefined) =>
    wire.some((m) => m.method === method && m.callId === callId);

  before(async () => {
    stack = await startSipStack({ kamailioDefines: { NATPING_INTERVAL: 0 } });
    ({ kam, server } = stack);
    const transport = server.built.sip!.transport;
    const send = transport.send.bind(transport);
    transport.send = (message, to) => {
      if (message.type === 'request') wire.push({ method: message.method, callId: getCallId(message) ?? '' });
      return send(message, to);
    };
    s = await server.account(DOMAIN);
    const account = (await server.built.store.accounts.byDomain(DOMAIN))!;
    accountId = account.id;
    const dir = server.built.services.directory;
    const ids: number[] = [];
    for (const ext of ['001', '002', '003', '004']) {
      const e =
        (await server.built.store.directory.employees.byExt(account.id, ext)) ??
        (await dir.employees.create(account, { displayName: `Phone ${ext}`, ext }));
      ids.push(e.id);
      const set = await s.admin('PUT', `/api/v1/employees/${e.id}/sip-password`, {
        password: PASSWORDS[ext],
      });
      assert.equal(set.status, 204, set.text);
    }
    const group = await dir.groups.create(account, {
      name: 'Sales',
      ext: '100',
      strategy: 'simultaneous',
      ringTimeoutSec: 30,
      members: ids.slice(0, 3),
    });
    await dir.trunks.create(account, {
      number: GROUP_TRUNK,
      name: 'Sales',
      destination: { type: 'group', id: group.id },
      isDefault: true,
    });
    await dir.trunks.create(account, {
      number: SIPP_TRUNK,
      name: 'Direct 004',
      destination: { type: 'employee', id: ids[3] },
    });
    assert.equal((await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 60, maxSec: 60 })).status, 204);
  });
  after(async () => {
    await stack?.stop();
  });
  afterEach(async () => {
    const [mine, runs, used] = [phones, sipps, exts];
    [phones, sipps, exts] = [[], [], []];
    for (const c of (await active()) as Json[])
      await s.get(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
    await server.built.simulator.engine.idle();
    for (const run of runs) run.stop();
    await Promise.all(runs.map((r) => r.done));
    await Promise.all(mine.map((p) => p.stop()));
    // A phone killed before it un-registered leaves its contact behind: drop every contact.
    for (const ext of new Set(used)) await kam.control.unregister({ ext, domain: DOMAIN });
    await until(
      async () => {
        await server.built.sip!.refresh();
        return !used.some((ext) => server.built.sip!.registered().includes(`${accountId}:${ext}`));
      },
      'the phones of the test un-registered',
      10_000,
    );
    await until(() => server.built.sip!.driver.legs().length === 0, 'no SIP leg left', 10_000);
  });

  const active = async (): Promise<Json[]> => (await s.get('/rest/calls/active/v3')).json();
  const history = async (path: 'company.api' | 'users.api'): Promise<Json[]> => {
    const now = Date.now();
    return (
      await s.get(`/rest/calls/${path}?timeFrom=${now - 600_000}&timeTo=${now + 60_000}&limit=50`)
    ).json();
  };
  const record = (uuid: string) =>
    until(
      async () => (await history('company.api')).find((c) => c.uuid === uuid),
      `the history record of ${uuid}`,
    );
  const seenRegistered = (ext: string) =>
    until(
      async () => {
        await server.built.sip!.refresh();
        return server.built.sip!.registered().includes(`${accountId}:${ext}`);
      },
      `Dzvin to see ${ext} registered`,
      15_000,
    );

  /** A baresip softphone registered as `ext` with its own password, stopped after the test. */
  async function softphone(ext: string): Promise<Baresip> {
    exts.push(ext);
    const phone = await startBaresip({
      user: ext,
      domain: DOMAIN,
      password: PASSWORDS[ext],
      proxyPort: kam.sipPort,
      answermode: 'manual',
      lifetimeSec: 180,
    });
    phones.push(phone);
    await phone.register();
    const ev = await phone.waitForEvent((e) => e.type.startsWith('REGISTER_'), 'a register result');
    assert.equal(ev.type, 'REGISTER_OK', `${ext} registered: ${ev.param}`);
    return phone;
  }

  test('click-to-call from the REST API: the softphone of 001 rings first, the number is dialled once it answers and bridged; a REST hangup by uuid sends BYE to the phone', async () => {
    const phone = await softphone('001');
    await seenRegistered('001');
    // The number answers 2 s after it is dialled.
    const b = await s.admin('PUT', `/api/v1/sim/behaviours/external/${encodeURIComponent(NUMBER)}`, {
      mode: 'answer',
      answerAfterSec: 2,
      probability: 1,
    });
    assert.equal(b.status, 204, b.text);
    const from = phone.events.length;
    const made = await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: NUMBER });
    assert.equal(made.status, 200, made.text);
    const { uuid } = made.json();
    const incoming = await phone.waitForEvent((e) => e.type === 'CALL_INCOMING', 'the phone to ring', {
      from,
    });
    assert.equal(incoming.direction, 'incoming');
    const [ringing] = (await active()).filter((c) => c.uuid === uuid);
    assert.equal(ringing.lastEvent, 'call.dial');
    assert.equal(ringing.lgDirection, 2);
    assert.equal(ringing.leg.ext, '001');
    assert.equal(ringing.bridgeAt, null);
    assert.equal(server.built.sip!.driver.legs().length, 1, 'one SIP leg: the phone of 001');
    // Were the number dialled in parallel, it would have answered by now: it must still wait.
    await sleep(2500);
    const [still] = (await active()).filter((c) => c.uuid === uuid);
    assert.equal(still.lastEvent, 'call.dial', 'nothing bridged before the employee answers');
    assert.equal(still.bridgeAt, null);
    const acceptedAt = Date.now();
    assert.ok((await phone.command('accept')).ok);
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established at the phone', {
      from,
    });
    const bridged = await until(
      async () => (await active()).find((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
      'the call bridged',
    );
    assert.ok(
      bridged.bridgeAt - acceptedAt >= 1500,
      `the number was dialled after the answer: bridged ${bridged.bridgeAt - acceptedAt} ms after it`,
    );
    assert.equal(bridged.leg.ext, '001');
    assert.equal(bridged.parentUuid, null, 'a click-to-call is one call');
    await until(() => {
      const [leg] = server.built.sip!.driver.legs();
      return leg && leg.received >= 10 && leg.sent >= 10;
    }, 'RTP both ways between the phone and Dzvin');
    const hung = phone.events.length;
    const h = await s.get(`/rest/calls/active/${uuid}/hangup`);
    assert.equal(h.status, 200, h.text);
    await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at the phone', { from: hung });
    await until(async () => !(await active()).some((c) => c.uuid === uuid), 'the call over');
    await until(() => server.built.sip!.driver.legs().length === 0, 'the SIP leg gone');
    const c = await record(uuid);
    assert.equal(c.disposition, 0, 'answered');
    assert.equal(c.lgDirection ?? c.direction, 2);
    assert.equal(c.leg.ext, '001');
    assert.equal(c.otherLegNum, NUMBER);
    assert.ok(c.billSecs >= 0 && c.duration >= 3, `duration ${c.duration} s, billSecs ${c.billSecs} s`);
    const users = (await history('users.api')).filter((u) => u.uuid === uuid || u.parentUuid === uuid);
    assert.deepEqual(
      users.map((u) => [u.leg.ext, u.disposition]),
      [['001', 0]],
    );
  });

  test('a simultaneous ring group of three softphones: all three ring, 002 answers, 001 and 003 are CANCELled, the call is 002’s in history', async () => {
    const [p1, p2, p3] = [await softphone('001'), await softphone('002'), await softphone('003')];
    for (const ext of ['001', '002', '003']) await seenRegistered(ext);
    const marks = [p1, p2, p3].map((p) => p.events.length);
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501119901', trunk: GROUP_TRUNK });
    assert.equal(placed.status, 201, placed.text);
    const { uuid } = placed.json();
    const invited = await Promise.all(
      [p1, p2, p3].map((p, i) =>
        p.waitForEvent((e) => e.type === 'CALL_INCOMING', 'the phone to ring', { from: marks[i] }),
      ),
    );
    // Each phone got its own INVITE from Dzvin (baresip's call id is the SIP Call-ID).
    assert.equal(new Set(invited.map((e) => e.id)).size, 3);
    for (const e of invited) assert.ok(sentTo('INVITE', e.id), `Dzvin sent the INVITE ${e.id}`);
    const ringing = (await active()).filter((c) => c.parentUuid === uuid);
    assert.deepEqual(ringing.map((c) => c.leg.ext).sort(), ['001', '002', '003']);
    assert.equal(server.built.sip!.driver.legs().length, 3, 'three SIP legs');
    assert.ok((await p2.command('accept')).ok);
    await p2.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established at 002', {
      from: marks[1],
    });
    const closed = await Promise.all(
      [p1, p3].map((p, i) =>
        p.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the CANCEL at the phone', {
          from: marks[i * 2],
        }),
      ),
    );
    // The two others were CANCELled: Dzvin sent a CANCEL for each one's INVITE (none for 002's),
    // and each phone closed that call without ever establishing it. (baresip 1.0 reports a
    // CANCEL, like a BYE, as "Connection reset by peer": libre's ECONNRESET.)
    for (const [i, p] of [p1, p3].entries()) {
      const id = invited[i * 2].id;
      assert.ok(sentTo('CANCEL', id), `Dzvin CANCELled ${p.aor}'s INVITE`);
      assert.equal(closed[i].id, id);
      assert.match(
        closed[i].param ?? '',
        /Connection reset by peer|cancel|487/i,
        `closed: ${closed[i].param}`,
      );
      assert.ok(
        !p.events.slice(marks[i * 2]).some((e) => e.type === 'CALL_ESTABLISHED'),
        `${p.aor} never answered`,
      );
    }
    assert.ok(!sentTo('CANCEL', invited[1].id), 'no CANCEL for the phone that answered');
    assert.ok(
      !p2.events.slice(marks[1]).some((e) => e.type === 'CALL_CLOSED'),
      'the phone that answered is still in the call',
    );
    await until(async () => {
      const mine = (await active()).filter((c) => c.parentUuid === uuid);
      return mine.length === 1 && mine[0].leg.ext === '002' && mine[0].lastEvent === 'call.bridge';
    }, 'only 002 left, bridged');
    await until(() => server.built.sip!.driver.legs().length === 1, 'one SIP leg left: 002');
    const hung = p2.events.length;
    assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
    await p2.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 002', { from: hung });
    const c = await record(uuid);
    assert.equal(c.disposition, 0, 'answered');
    assert.equal(c.leg.ext, '002', 'answered by 002');
    await server.built.simulator.engine.idle();
    const users = await until(async () => {
      const rows = (await history('users.api')).filter((u) => u.parentUuid === uuid);
      return rows.length === 3 && rows;
    }, "the three employees' records");
    assert.deepEqual(users.map((u) => [u.leg.ext, u.disposition]).sort(), [
      ['001', 1],
      ['002', 0],
      ['003', 1],
    ]);
  });

  /** Registers 004 with SIPp (digest), then runs the UAS `xml` on the registered port. */
  async function sippPhone(xml: string, timeout = '20s'): Promise<SippRun> {
    exts.push('004');
    const port = await freeUdpPort();
    const reg = await startSipp({
      scenario: { xml: registerXml('004', PASSWORDS['004'], 600) },
      remote: `127.0.0.1:${kam.sipPort}`,
      port,
    });
    sipps.push(reg);
    const r = await reg.done;
    assert.equal(r.code, 0, `SIPp registered 004:\n${r.output}`);
    await seenRegistered('004');
    const uas = await startSipp({ scenario: { xml }, port, timeout, killAfterMs: 75_000 });
    sipps.push(uas);
    return uas;
  }

  /** A simulated caller dials 004's trunk; the call ends with what SIPp answered. */
  async function callSipp(uas: SippRun, ms: number): Promise<Json> {
    const mark = wire.length;
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501119904', trunk: SIPP_TRUNK });
    assert.equal(placed.status, 201, placed.text);
    const { uuid } = placed.json();
    const done = await uas.done;
    assert.equal(done.code, 0, `SIPp's scenario ran to its end:\n${done.output}`);
    await until(async () => !(await active()).some((c) => c.uuid === uuid), 'the call over', ms);
    const c = await record(uuid);
    assert.equal(c.leg?.ext ?? '004', '004');
    assert.equal(c.billSecs, 0);
    const invites = wire.slice(mark).filter((m) => m.method === 'INVITE');
    assert.equal(invites.length, 1, 'one INVITE to the phone of 004');
    return { ...c, callId: invites[0].callId };
  }

  test('SIPp registered as 004 answers 486 Busy Here: the direct call ends busy (4)', async () => {
    const uas = await sippPhone(uasXml('486 Busy Here'));
    const c = await callSipp(uas, 10_000);
    assert.equal(c.disposition, 4);
    assert.ok(!sentTo('CANCEL', c.callId), 'refused, not cancelled');
  });

  test('SIPp registered as 004 answers 503 Service Unavailable: the direct call ends congestion (2)', async () => {
    const uas = await sippPhone(uasXml('503 Service Unavailable'));
    const c = await callSipp(uas, 10_000);
    assert.equal(c.disposition, 2);
    assert.ok(!sentTo('CANCEL', c.callId), 'refused, not cancelled');
  });

  test('SIPp registered as 004 rings and never answers: Dzvin CANCELs at the 30 s ring timeout, the call ends no answer (1)', async () => {
    const uas = await sippPhone(uasXml(null), '60s');
    const started = Date.now();
    const c = await callSipp(uas, 10_000);
    assert.ok(Date.now() - started >= 29_000, `rang ${Date.now() - started} ms`);
    assert.ok(sentTo('CANCEL', c.callId), 'Dzvin CANCELled its INVITE at the ring timeout');
    assert.equal(c.disposition, 1);
  });
});
