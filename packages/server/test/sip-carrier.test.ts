// Calls out over a trunk's SIP carrier (issue 16), with real peers on loopback: Kamailio (the
// edge every call leaves through), rtpengine (media), Dzvin's B2BUA, a baresip employee, and SIPp
// as the carrier — it challenges the INVITE with digest (407), checks the answer (verifyauth),
// checks what the INVITE presents (the number dialled in the request URI, the trunk's number as
// the caller), answers and echoes the RTP it gets (-rtp_echo). Click-to-call: 001's phone rings
// first, then the carrier; hangup by uuid sends BYE to both. A busy carrier (486) is a busy call;
// a wrong password (challenged again) a failed one; the password never appears in the API.
//
// Skips loudly without kamailio/rtpengine/baresip/sipp, unless DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, afterEach, before, describe, test } from 'node:test';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import { historyRecord } from './support/phonet-calls.ts';
import { rtpengineSkipReason } from './support/rtpengine.ts';
import { type SippRun, sippSkipReason, startSipp } from './support/sip-sipp.ts';
import { type SipStack, startSipStack, untilRegistered } from './support/sip-stack.ts';
import { until } from './support/wait.ts';

const DOMAIN = 'carrier.localhost';
const TRUNK = '+380443337700';
const NUMBER = '+380501117788';
const USER = 'dzvin-trunk';
const SECRET = 'carrier-s3cret';
const PHONE_PASSWORD = 'carrier-001-secret';

const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason() || sippSkipReason();

/**
 * The carrier: one call. INVITE → 401 (digest challenge) → ACK; the INVITE again must carry a
 * valid Authorization for USER/`password` (else 403 and the scenario fails), the number in
 * its request URI and the trunk's number in From; then `answer`: 180 + 200 with SDP (RTP echoed)
 * and the BYE, or a final refusal.
 */
function carrierXml(answer: 'talk' | 486, password = SECRET, trunk = TRUNK): string {
  const respond = (status: string, extra = '') => `
  <send>
    <![CDATA[
      SIP/2.0 ${status}
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:carrier@[local_ip]:[local_port]>
${extra}
    ]]>
  </send>`;
  const sdp = `      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 1 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
      a=ptime:20`;
  const digits = (n: string) => n.replace(/\D/g, '');
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="carrier">
  <recv request="INVITE">
    <action>
      <ereg regexp="^INVITE sip:${digits(NUMBER)}@" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="From: &lt;sip:${digits(trunk)}@" search_in="msg" check_it="true" assign_to="from"/>
    </action>
  </recv>
  ${respond('401 Unauthorized', '      WWW-Authenticate: Digest realm="carrier.test", nonce="[pid]n[call_number]c0ffee", algorithm=MD5, qop="auth"\n      Content-Length: 0')}
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="${USER}" password="${password}"/>
    </action>
  </recv>
  <nop test="authvalid" next="good"/>
  ${respond('401 Unauthorized', '      WWW-Authenticate: Digest realm="carrier.test", nonce="[pid]n[call_number]again", algorithm=MD5, qop="auth"\n      Content-Length: 0')}
  <recv request="ACK" next="end"/>
  <label id="good"/>
  ${
    answer === 'talk'
      ? `${respond('180 Ringing', '      Content-Length: 0')}
  ${respond('200 OK', sdp)}
  <recv request="ACK"/>
  <recv request="BYE"/>
  ${respond('200 OK', '      Content-Length: 0')}`
      : `${respond(`${answer} Busy Here`, '      Content-Length: 0')}
  <recv request="ACK"/>`
  }
  <label id="end"/>
  <Reference variables="ruri,from"/>
</scenario>`;
}

/**
 * A carrier's registrar: first away (503: Dzvin retries after 2 s), then two rounds of REGISTER (401, then the digest answer checked: 200 granting
 * 3 s — the second round is the refresh before it runs out), the Contact being Kamailio's public
 * socket with the trunk's number; then the REGISTER with Expires: 0 that removes it.
 */
function registrarXml(kamailioPort: number): string {
  const respond = (status: string, extra: string) => `
  <send>
    <![CDATA[
      SIP/2.0 ${status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
${extra}
      Content-Length: 0
    ]]>
  </send>`;
  const round = (n: number) => `
  <recv request="REGISTER">
    <action>
      <ereg regexp="Contact: &lt;sip:${TRUNK.replace(/\D/g, '')}@127.0.0.1:${kamailioPort};transport=udp>" search_in="msg" check_it="true" assign_to="contact${n}"/>
    </action>
  </recv>
  ${respond('401 Unauthorized', `      WWW-Authenticate: Digest realm="carrier.test", nonce="[pid]r${n}[call_number]", algorithm=MD5`)}
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="valid${n}" username="${USER}" password="${SECRET}"/>
    </action>
  </recv>
  <nop test="valid${n}" next="ok${n}"/>
  ${respond('403 Forbidden', '')}
  <label id="ok${n}"/>
  ${respond('200 OK', '      [last_Contact:];expires=3')}`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="registrar">
  <recv request="REGISTER"/>
  ${respond('503 Service Unavailable', '')}
  ${round(1)}
  ${round(2)}
  <recv request="REGISTER">
    <action>
      <ereg regexp="Expires: 0" search_in="msg" check_it="true" assign_to="gone"/>
    </action>
  </recv>
  ${respond('200 OK', '')}
  <Reference variables="contact1,contact2,gone"/>
</scenario>`;
}

/**
 * A carrier that talks, then re-INVITEs Dzvin three times in the dialog (through Kamailio, along
 * the record-route): (1) its media moved to `newPort` (a socket of the test); (2) hold
 * (a=sendonly), whose 200 must say a=recvonly; (3) no SDP at all, whose 200 must carry an offer —
 * its ACK's answer points the media back at SIPp's echo. Then Dzvin's BYE.
 */
function reinvitingCarrierXml(newPort: number): string {
  const challenge = `
  <send>
    <![CDATA[
      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="carrier.test", nonce="[pid]re[call_number]", algorithm=MD5
      Content-Length: 0
    ]]>
  </send>`;
  const sdp = (port: string, direction: string) => `      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 ${port === '[media_port]' ? 2 : 3} IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio ${port} RTP/AVP 8
      a=rtpmap:8 PCMA/8000
      a=ptime:20
      a=${direction}`;
  const inDialog = (method: string, cseq: number, body: string) => `
  <send${method === 'ACK' ? '' : ' retrans="500"'}>
    <![CDATA[
      ${method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:carrier@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To:[$dzvin]
      Call-ID: [call_id]
      CSeq: ${cseq} ${method}
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Max-Forwards: 70
${body || '      Content-Length: 0'}
    ]]>
  </send>`;
  const ok = (check: string, name: string) => `
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="${check}" search_in="body" check_it="true" assign_to="${name}"/>
    </action>
  </recv>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="reinviting carrier">
  <recv request="INVITE"/>
  ${challenge}
  <recv request="ACK"/>
  <recv request="INVITE" rrs="true">
    <action>
      <verifyauth assign_to="authvalid" username="${USER}" password="${SECRET}"/>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="dzvin"/>
    </action>
  </recv>
  <nop test="authvalid" next="good"/>
  <send><![CDATA[
      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
  <recv request="ACK" next="end"/>
  <label id="good"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:carrier@[local_ip]:[local_port]>
${sdp('[media_port]', 'sendrecv')}
    ]]>
  </send>
  <recv request="ACK"/>
  <pause milliseconds="1500"/>
  ${inDialog('INVITE', 101, sdp(String(newPort), 'sendrecv'))}
  ${ok('m=audio [0-9]+', 'moved')}
  ${inDialog('ACK', 101, '')}
  <pause milliseconds="2500"/>
  ${inDialog('INVITE', 102, sdp(String(newPort), 'sendonly'))}
  ${ok('a=recvonly', 'held')}
  ${inDialog('ACK', 102, '')}
  <pause milliseconds="500"/>
  ${inDialog('INVITE', 103, '')}
  ${ok('m=audio [0-9]+ RTP/AVP', 'offered')}
  ${inDialog('ACK', 103, sdp('[media_port]', 'sendrecv'))}
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="end"/>
  <Reference variables="dzvin,moved,held,offered"/>
</scenario>`;
}

/**
 * A carrier calling the trunk `did` from SIPp (through Kamailio's SIP socket): answered (by the
 * IVR), then a re-INVITE moving its media to `newPort` (a socket of the test), then its BYE.
 */
/**
 * A carrier calling `did` through Kamailio, re-INVITEing its media to `newPort` after a second.
 * `users`: other user parts for the request URI and To than the DID's digits (a carrier that puts
 * its login or main number in one of them).
 */
function callingCarrierXml(
  did: string,
  kamailioPort: number,
  newPort: number,
  users: { uri?: string; to?: string } = {},
): string {
  const sdp = (port: string, version: number) => `      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 ${version} IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio ${port} RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=ptime:20
      a=sendrecv`;
  const digits = did.replace(/\D/g, '');
  const uriUser = users.uri ?? digits;
  const toUser = users.to ?? digits;
  const request = (method: string, uri: string, cseq: number, body: string, extra = '') => `
  <send${method === 'ACK' ? '' : ' retrans="500"'}>
    <![CDATA[
      ${method} ${uri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
${extra}      From: <sip:380671234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:${toUser}@127.0.0.1:${kamailioPort}>${method === 'INVITE' && cseq === 1 ? '' : '[peer_tag_param]'}
      Call-ID: [call_id]
      CSeq: ${cseq} ${method}
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Max-Forwards: 70
${body || '      Content-Length: 0'}
    ]]>
  </send>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="calling carrier">
  ${request('INVITE', `sip:${uriUser}@127.0.0.1:${kamailioPort}`, 1, sdp('[media_port]', 1))}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  ${request('ACK', '[next_url]', 1, '', '      [routes]\n')}
  <pause milliseconds="1000"/>
  ${request('INVITE', '[next_url]', 2, sdp(String(newPort), 2), '      [routes]\n')}
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="m=audio [0-9]+ RTP/AVP" search_in="body" check_it="true" assign_to="answered"/>
    </action>
  </recv>
  ${request('ACK', '[next_url]', 2, '', '      [routes]\n')}
  <pause milliseconds="2500"/>
  ${request('BYE', '[next_url]', 3, '', '      [routes]\n')}
  <recv response="200"/>
  <Reference variables="answered"/>
</scenario>`;
}

/** A congested carrier: 503 to the INVITE, no challenge. */
const congestedXml = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="congested">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 503 Service Unavailable
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>`;

describe('calls out over a SIP carrier: digest to the carrier, click-to-call bridged with media, busy and a wrong password', {
  skip,
}, () => {
  let stack: SipStack;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let accountId = 0;
  let trunkId = 0;
  let phone: Baresip;
  let carrier: SippRun | null = null;

  before(async () => {
    // The engine reads the trunks by itself only every 10 min here: what a test sees registered
    // came from the trunk change itself (the admin API tells the engine at once).
    stack = await startSipStack({ kamailioDefines: { NATPING_INTERVAL: 0 }, carrierSyncMs: 600_000 });
    ({ kam, server } = stack);
    s = await server.account(DOMAIN);
    const account = (await server.built.store.accounts.byDomain(DOMAIN))!;
    accountId = account.id;
    const dir = server.built.services.directory;
    const e =
      (await server.built.store.directory.employees.byExt(account.id, '001')) ??
      (await dir.employees.create(account, { displayName: 'Phone 001', ext: '001' }));
    const set = await s.admin('PUT', `/api/v1/employees/${e.id}/sip-password`, { password: PHONE_PASSWORD });
    assert.equal(set.status, 204, set.text);
    phone = await startBaresip({
      user: '001',
      domain: DOMAIN,
      password: PHONE_PASSWORD,
      proxyPort: kam.sipPort,
      answermode: 'auto',
      lifetimeSec: 240,
      toneHz: 440,
      toneSeconds: 60,
    });
    await phone.register();
    await untilRegistered(server, accountId, '001');
  });
  after(async () => {
    await phone?.stop();
    await stack?.stop();
  });
  afterEach(async () => {
    for (const c of (await s.get('/rest/calls/active/v3')).json() as {
      uuid: string;
      parentUuid: string | null;
    }[])
      await s.get(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
    carrier?.stop();
    await carrier?.done;
    carrier = null;
    await until(() => server.built.sip!.driver.legs().length === 0, 'no SIP leg left', 10_000);
  });

  /** Starts the carrier and points the trunk at it (the password set only when `password` is given). */
  async function useCarrier(xml: string, password?: string) {
    carrier = await startSipp({
      scenario: { xml },
      extraArgs: ['-mi', '127.0.0.1', '-rtp_echo'],
      timeout: '40s',
      killAfterMs: 45_000,
    });
    const sipCarrier = {
      host: '127.0.0.1',
      port: carrier.port,
      username: USER,
      ...(password ? { password } : {}),
    };
    if (!trunkId) {
      const r = await s.admin('POST', '/api/v1/trunks', {
        number: TRUNK,
        name: 'Carrier',
        destination: null,
        isDefault: true,
        sipCarrier,
      });
      assert.equal(r.status, 201, r.text);
      trunkId = r.json().id;
      return r.json();
    }
    const r = await s.admin('PATCH', `/api/v1/trunks/${trunkId}`, { sipCarrier });
    assert.equal(r.status, 200, r.text);
    return r.json();
  }

  test('click-to-call: 001 answers, the carrier is dialled with the trunk number as caller, challenges, accepts the digest answer and talks (RTP both ways through the joint); hangup by uuid: BYE to both, history answered', async () => {
    const trunk = await useCarrier(carrierXml('talk'), SECRET);
    assert.deepEqual(trunk.sipCarrier, {
      host: '127.0.0.1',
      port: carrier!.port,
      transport: 'udp',
      username: USER,
      hasPassword: true,
      register: false,
      registration: {
        state: 'off',
        expiresAt: null,
        lastStatus: null,
        lastError: null,
        lastAttemptAt: null,
        nextAttemptAt: null,
        failures: 0,
      },
    });
    assert.ok(!JSON.stringify(trunk).includes(SECRET), 'the password is write-only');
    const listed = await s.admin('GET', '/api/v1/trunks');
    assert.ok(!listed.text.includes(SECRET), 'not in the list either');

    const from = phone.events.length;
    const made = await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: NUMBER });
    assert.equal(made.status, 200, made.text);
    const { uuid } = made.json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '001 answers', { from });
    const bridged = await until(
      async () =>
        ((await s.get('/rest/calls/active/v3')).json() as { uuid: string; lastEvent: string }[]).find(
          (c) => c.uuid === uuid && c.lastEvent === 'call.bridge',
        ),
      'the carrier answered: call.bridge',
      20_000,
    );
    assert.ok(bridged);
    // The employee's RTP reaches the carrier and its echo comes back: the joint relays both ways.
    const joint = await until(() => {
      const j = server.built.sip!.driver.joints().find((x) => x.uuid === uuid);
      return j && j.aToB >= 50 && j.bToA >= 50 ? j : null;
    }, 'a second of RTP both ways between 001 and the carrier');
    assert.ok(joint);
    const hung = phone.events.length;
    assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
    await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: hung });
    const done = await carrier!.done;
    assert.equal(
      done.code,
      0,
      `the carrier's scenario passed (digest, URI, From, BYE): ${done.output.slice(-2000)}`,
    );
    const c = await historyRecord(s, uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.otherLegNum, NUMBER);
    assert.equal(c.leg.ext, '001');
  });

  test('a busy carrier (486 after the digest): the call is busy in company.api, 001 gets its BYE', async () => {
    await useCarrier(carrierXml(486));
    const from = phone.events.length;
    const made = await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: NUMBER });
    assert.equal(made.status, 200, made.text);
    const { uuid } = made.json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '001 answers', { from });
    await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from });
    const done = await carrier!.done;
    assert.equal(done.code, 0, done.output.slice(-2000));
    const c = await historyRecord(s, uuid);
    assert.equal(c.disposition, 4, 'busy');
  });

  test("a wrong password: the carrier challenges again, Dzvin does not loop — the call fails (disposition 3); removing the carrier's password is reflected as hasPassword false", async () => {
    await useCarrier(carrierXml('talk', 'not-the-secret'));
    const from = phone.events.length;
    const made = await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: NUMBER });
    assert.equal(made.status, 200, made.text);
    const { uuid } = made.json();
    await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from });
    const c = await historyRecord(s, uuid);
    assert.equal(c.disposition, 3, 'failed');
    const done = await carrier!.done;
    assert.equal(done.code, 0, `challenged twice, then the ACK: ${done.output.slice(-2000)}`);
    carrier = null;

    const removed = await s.admin('PATCH', `/api/v1/trunks/${trunkId}`, {
      sipCarrier: { host: '127.0.0.1', port: 5999, username: USER, password: null },
    });
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.json().sipCarrier.hasPassword, false);
    const refused = await s.admin('PATCH', `/api/v1/trunks/${trunkId}`, {
      sipCarrier: { host: 'bad host!', username: USER },
    });
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.text, /sipCarrier\.host/);
    const noCreds = await s.admin('PATCH', `/api/v1/trunks/${trunkId}`, {
      sipCarrier: { host: 'sip.carrier.example', register: true },
    });
    assert.equal(noCreds.status, 400, noCreds.text);
    assert.match(noCreds.text, /registering needs a username and a password/);
  });

  test('a trunk that registers (the admin API shows the state): the carrier away first (503, failed, retried), then REGISTER through Kamailio with its public socket and the trunk number as Contact, the digest answered, refreshed before the 3 s granted run out; turned off: Expires 0', async () => {
    carrier = await startSipp({
      scenario: { xml: registrarXml(kam.sipPort) },
      timeout: '30s',
      killAfterMs: 35_000,
    });
    const regs = server.built.sip!.carrierRegistrations;
    const on = await s.admin('PATCH', `/api/v1/trunks/${trunkId}`, {
      sipCarrier: { host: '127.0.0.1', port: carrier.port, username: USER, password: SECRET, register: true },
    });
    assert.equal(on.status, 200, on.text);
    assert.equal(on.json().sipCarrier.register, true);
    // No sync() asked for: the PATCH itself has the engine read the trunks.
    // The carrier is away at first: the admin API says so, and when it tries again.
    const registration = async () =>
      (await s.admin('GET', `/api/v1/trunks/${trunkId}`)).json().sipCarrier.registration;
    const away = await until(async () => {
      const r = await registration();
      return r.state === 'failed' ? r : null;
    }, 'the admin API to show the failed registration');
    assert.equal(away.lastStatus, 503);
    assert.equal(away.lastError, '503 Service Unavailable');
    assert.equal(away.failures, 1);
    assert.equal(away.expiresAt, null);
    assert.ok(away.nextAttemptAt > away.lastAttemptAt, 'a retry is due');
    const first = await until(
      () => regs.states().find((r) => r.trunkId === trunkId && r.state === 'registered'),
      'the trunk registered',
    );
    assert.equal(first.lastStatus, 200);
    const shown = await until(async () => {
      const r = await registration();
      return r.state === 'registered' ? r : null;
    }, 'the admin API to show it registered');
    assert.equal(shown.lastStatus, 200);
    assert.equal(shown.lastError, null);
    assert.equal(shown.failures, 0);
    assert.ok(
      shown.expiresAt - Date.now() <= 3000 && shown.expiresAt > Date.now() - 3000,
      'until the 3 s granted run out',
    );
    assert.ok(shown.nextAttemptAt < shown.expiresAt, 'the refresh is due before it runs out');
    const listed = (await s.admin('GET', '/api/v1/trunks'))
      .json()
      .find((t: { id: number }) => t.id === trunkId);
    assert.equal(listed.sipCarrier.registration.state, 'registered', 'the list says the same');
    assert.ok(first.expiresAt! - Date.now() <= 3000, 'the 3 s the carrier granted, not the 600 asked');
    // Still registered past the first 3 s: it was refreshed (the registrar's second round).
    await until(
      () => {
        const r = regs.states().find((x) => x.trunkId === trunkId);
        return r && r.state === 'registered' && r.expiresAt! > first.expiresAt! ? r : null;
      },
      'the registration refreshed',
      8000,
    );
    const off = await s.admin('PATCH', `/api/v1/trunks/${trunkId}`, {
      sipCarrier: { host: '127.0.0.1', port: carrier.port, username: USER, register: false },
    });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.json().sipCarrier.hasPassword, true, 'the password stays when not given');
    assert.equal(off.json().sipCarrier.registration.state, 'off');
    await regs.sync();
    assert.ok(!regs.states().some((r) => r.trunkId === trunkId), 'no registration kept');
    const done = await carrier.done;
    assert.equal(done.code, 0, `the registrar's scenario passed: ${done.output.slice(-2000)}`);
    carrier = null;
  });

  test("a carrier's re-INVITEs go through rtpengine: a new media address gets the RTP, hold is answered recvonly, one without SDP gets an offer and its ACK's answer brings the media back", async () => {
    const moved = dgram.createSocket('udp4');
    await new Promise<void>((r) => moved.bind(0, '127.0.0.1', () => r()));
    let movedPackets = 0;
    let movedLastAt = 0;
    moved.on('message', () => {
      movedPackets += 1;
      movedLastAt = Date.now();
    });
    try {
      await useCarrier(reinvitingCarrierXml(moved.address().port), SECRET);
      const from = phone.events.length;
      const made = await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: NUMBER });
      assert.equal(made.status, 200, made.text);
      const { uuid } = made.json();
      await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '001 answers', { from });
      const joint = () => server.built.sip!.driver.joints().find((x) => x.uuid === uuid);
      await until(() => (joint()?.bToA ?? 0) >= 25, "the carrier's echo reaches 001");
      // (1) The carrier moved its media: rtpengine now sends 001's audio to the new address.
      await until(() => movedPackets >= 25, 'RTP at the address of the re-INVITE', 15_000);
      // (3) The re-INVITE without SDP: the ACK's answer points it back at the echo — the new
      // address hears nothing more and the echo comes back to 001.
      let last = { at: Date.now(), bToA: joint()?.bToA ?? 0 };
      await until(
        () => {
          const now = { at: Date.now(), bToA: joint()?.bToA ?? 0 };
          const back = Date.now() - movedLastAt > 1000 && now.bToA - last.bToA >= 20;
          if (now.at - last.at >= 1000) last = now;
          return back;
        },
        "the media back at the carrier's echo after the ACK's answer",
        15_000,
      ).catch(async (err) => {
        // What the carrier saw says which step went wrong.
        carrier?.stop();
        throw new Error(`${err.message}; the carrier: ${(await carrier?.done)?.output.slice(-3000)}`);
      });
      const hung = phone.events.length;
      assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
      await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: hung });
      const done = await carrier!.done;
      assert.equal(
        done.code,
        0,
        `the carrier's scenario passed (an answer to the move, recvonly to hold, an offer): ${done.output.slice(-3000)}`,
      );
      carrier = null;
      const c = await historyRecord(s, uuid);
      assert.equal(c.disposition, 0);
    } finally {
      moved.close();
    }
  });

  test("a carrier's call to a trunk: its re-INVITE moving the media goes through rtpengine — the IVR's prompt reaches the new address", async () => {
    const DID = '+380443337799';
    const ivr = await s.admin('POST', '/api/v1/ivr', {
      name: 'Carrier menu',
      greeting: 'Hello',
      timeoutSec: 30,
    });
    assert.equal(ivr.status, 201, ivr.text);
    const trunk = await s.admin('POST', '/api/v1/trunks', {
      number: DID,
      name: 'Incoming from the carrier',
      destination: { type: 'ivr', id: ivr.json().id },
      isDefault: false,
      sipPeers: ['127.0.0.1'],
    });
    assert.equal(trunk.status, 201, trunk.text);
    const moved = dgram.createSocket('udp4');
    await new Promise<void>((r) => moved.bind(0, '127.0.0.1', () => r()));
    let movedPackets = 0;
    moved.on('message', () => {
      movedPackets += 1;
    });
    try {
      carrier = await startSipp({
        scenario: { xml: callingCarrierXml(DID, kam.sipPort, moved.address().port) },
        remote: `127.0.0.1:${kam.sipPort}`,
        extraArgs: ['-mi', '127.0.0.1', '-rtp_echo'],
        timeout: '30s',
        killAfterMs: 35_000,
      });
      // Before the re-INVITE nothing goes to the new address; after it, the prompt does.
      await until(() => movedPackets >= 25, "the IVR's prompt at the address of the re-INVITE", 15_000).catch(
        async (err) => {
          carrier?.stop();
          throw new Error(`${err.message}; the carrier: ${(await carrier?.done)?.output.slice(-3000)}`);
        },
      );
      const done = await carrier.done;
      assert.equal(done.code, 0, `the calling carrier's scenario passed: ${done.output.slice(-3000)}`);
      carrier = null;
    } finally {
      moved.close();
    }
  });

  test("a trunk's carrier delivers calls from its own host without being listed in sipPeers, another trunk's carrier cannot; sipDidFrom says where the INVITE carries the number", async () => {
    const DID = '+380443337788';
    const OTHER = '+380443337787';
    const ivr = await s.admin('POST', '/api/v1/ivr', {
      name: 'From the carrier',
      greeting: 'Hi',
      timeoutSec: 30,
    });
    assert.equal(ivr.status, 201, ivr.text);
    const destination = { type: 'ivr', id: ivr.json().id };
    // The carrier we register at / call out through is 127.0.0.1 (SIPp sends from there).
    const mine = await s.admin('POST', '/api/v1/trunks', {
      number: DID,
      name: 'Carrier DID',
      destination,
      isDefault: false,
      sipPeers: [],
      sipCarrier: { host: '127.0.0.1', port: 5099, register: false },
    });
    assert.equal(mine.status, 201, mine.text);
    // A trunk whose carrier is elsewhere: 127.0.0.1 may not deliver to it.
    const theirs = await s.admin('POST', '/api/v1/trunks', {
      number: OTHER,
      name: 'Elsewhere',
      destination,
      isDefault: false,
      sipPeers: [],
      sipCarrier: { host: '127.0.0.42', port: 5060, register: false },
    });
    assert.equal(theirs.status, 201, theirs.text);
    const call = async (did: string, users: { uri?: string; to?: string } = {}) => {
      const moved = dgram.createSocket('udp4');
      await new Promise<void>((r) => moved.bind(0, '127.0.0.1', () => r()));
      try {
        const sipp = await startSipp({
          scenario: { xml: callingCarrierXml(did, kam.sipPort, moved.address().port, users) },
          remote: `127.0.0.1:${kam.sipPort}`,
          extraArgs: ['-mi', '127.0.0.1', '-rtp_echo'],
          timeout: '20s',
          killAfterMs: 25_000,
        });
        return await sipp.done;
      } finally {
        moved.close();
      }
    };
    try {
      const ok = await call(DID);
      assert.equal(ok.code, 0, `the IVR answered the carrier's call: ${ok.output.slice(-2000)}`);
      const refused = await call(OTHER);
      assert.notEqual(refused.code, 0, 'refused');
      assert.match(
        refused.output,
        /403/,
        `a 403 for the other trunk's number: ${refused.output.slice(-1500)}`,
      );

      // sipDidFrom: a carrier that puts its login in the request URI and the DID in To.
      const digits = (n: string) => n.replace(/\D/g, '');
      const login = { uri: 'carrierlogin', to: digits(DID) };
      const either = await call(DID, login);
      assert.equal(
        either.code,
        0,
        `either: To's number when the request URI has none: ${either.output.slice(-1500)}`,
      );
      const patch = (sipDidFrom: string) =>
        s.admin('PATCH', `/api/v1/trunks/${mine.json().id}`, { sipDidFrom });
      const strict = await patch('request-uri');
      assert.equal(strict.status, 200, strict.text);
      assert.equal(strict.json().sipDidFrom, 'request-uri');
      const notInUri = await call(DID, login);
      assert.match(
        notInUri.output,
        /403/,
        `request-uri: a number only in To is refused: ${notInUri.output.slice(-1500)}`,
      );
      // Another number of ours in the request URI, the DID in To: a trunk set to `to` takes it by To.
      assert.equal((await patch('to')).status, 200);
      const byTo = await call(DID, { uri: digits(OTHER), to: digits(DID) });
      assert.equal(byTo.code, 0, `to: found by To despite the request URI: ${byTo.output.slice(-1500)}`);
      const onlyUri = await call(DID, { uri: digits(DID), to: 'somebody' });
      assert.match(
        onlyUri.output,
        /403/,
        `to: a number only in the request URI is refused: ${onlyUri.output.slice(-1500)}`,
      );
      const bad = await patch('sideways');
      assert.equal(bad.status, 400, `an unknown sipDidFrom is refused: ${bad.text}`);
    } finally {
      // Trunks with a carrier are failover candidates for the calls of the next tests.
      for (const t of [mine, theirs])
        assert.equal((await s.admin('DELETE', `/api/v1/trunks/${t.json().id}`)).status, 204);
    }
  });

  test("a congested carrier (503): the call tries the account's next trunk with a carrier, which answers; history's trunk lists both (o=…;o=…;)", async () => {
    const SECOND = '+380443337701';
    const congested = await startSipp({
      scenario: { xml: congestedXml },
      timeout: '30s',
      killAfterMs: 35_000,
    });
    const good = await startSipp({
      scenario: { xml: carrierXml('talk', SECRET, SECOND) },
      extraArgs: ['-mi', '127.0.0.1', '-rtp_echo'],
      timeout: '30s',
      killAfterMs: 35_000,
    });
    try {
      const first = await s.admin('PATCH', `/api/v1/trunks/${trunkId}`, {
        sipCarrier: { host: '127.0.0.1', port: congested.port, username: USER, register: false },
      });
      assert.equal(first.status, 200, first.text);
      const second = await s.admin('POST', '/api/v1/trunks', {
        number: SECOND,
        name: 'Backup carrier',
        destination: null,
        isDefault: false,
        sipCarrier: { host: '127.0.0.1', port: good.port, username: USER, password: SECRET },
      });
      assert.equal(second.status, 201, second.text);
      const from = phone.events.length;
      const made = await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: NUMBER });
      assert.equal(made.status, 200, made.text);
      const { uuid } = made.json();
      await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '001 answers', { from });
      await until(
        async () =>
          ((await s.get('/rest/calls/active/v3')).json() as { uuid: string; lastEvent: string }[]).find(
            (c) => c.uuid === uuid && c.lastEvent === 'call.bridge',
          ),
        'the backup carrier answered: call.bridge',
        20_000,
      );
      assert.equal((await congested.done).code, 0, 'the first carrier was tried (503)');
      const hung = phone.events.length;
      assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
      await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: hung });
      const done = await good.done;
      assert.equal(done.code, 0, `the backup carrier's scenario passed: ${done.output.slice(-2000)}`);
      const c = await historyRecord(s, uuid);
      assert.equal(c.disposition, 0);
      assert.equal(c.trunk, `o=${TRUNK.slice(1)};o=${SECOND.slice(1)};`);
    } finally {
      congested.stop();
      good.stop();
      await Promise.all([congested.done, good.done]);
    }
  });
});
