// A carrier's call Dzvin cannot anchor media for (issue 16, bench:sip's "500 Media Unavailable" at
// 200 calls/s): with real peers on loopback — rtpengine, Kamailio (deploy/kamailio/dzvin.cfg), a
// SIP-enabled Dzvin — and a raw UDP "carrier" sending INVITEs for a trunk's number through
// Kamailio. While rtpengine answers, the IVR takes the call (200). Once rtpengine is stopped, the
// INVITE is refused the way an overloaded B2BUA refuses one: 503 with Retry-After (Kamailio's
// dispatcher then offers it to another Dzvin process) and the cause in a Warning, not a 500;
// nothing was placed, so no call is in progress; and the process goes on serving: another INVITE
// is answered (403 for a number nobody has), and so is the HTTP API.
//
// Needs kamailio and rtpengine; without them it skips loudly, unless DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NgError, NgRejectedError, NgTimeoutError } from '../src/engine/sip/media/ng-errors.ts';
import {
  MAX_NG_IN_FLIGHT,
  MAX_QUEUE_MS,
  mediaRefusal,
  queuedMs,
} from '../src/engine/sip/phone-originated.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import {
  buildAckForFailure,
  buildRequest,
  header,
  type SipMessage,
  sdpOffer,
  startUdpPeer,
  type UdpSipPeer,
} from './support/kamailio-sip.ts';
import { activeCalls } from './support/phonet-calls.ts';
import { rtpengineSkipReason } from './support/rtpengine.ts';
import { type SipStack, startSipStack } from './support/sip-stack.ts';
import { until } from './support/wait.ts';

const DOMAIN = 'overload.localhost';
const DID = '+380443339900';
const CALLER = '380671112233';

const skip = kamailioSkipReason() || rtpengineSkipReason();

describe('mediaRefusal: what an INVITE whose media cannot be anchored is answered', () => {
  test('rtpengine silent, unreachable or out of ports, or our RTP socket not bound: 503 with the cause; an offer it cannot parse 488; a protocol error or anything else 500', () => {
    const timeout = mediaRefusal(new NgTimeoutError('offer', 3000, 5));
    assert.equal(timeout.status, 503);
    assert.match(timeout.overload ?? '', /no reply from rtpengine to "offer" within 3000 ms/);
    assert.equal(mediaRefusal(new NgError('SOCKET', 'offer', 'NG socket failed: EPERM')).status, 503);
    assert.equal(mediaRefusal(new NgError('CLOSED', 'answer', 'the NG client is closed')).status, 503);
    assert.equal(mediaRefusal(new NgRejectedError('offer', 'Ran out of ports')).status, 503);
    assert.equal(mediaRefusal(new NgRejectedError('offer', 'Failed to parse SDP')).status, 488);
    assert.equal(mediaRefusal(new Error('RTP socket: EMFILE')).status, 503);
    assert.equal(mediaRefusal(new Error('media worker stopped')).status, 503);
    const bug = mediaRefusal(new NgError('PROTOCOL', 'offer', 'the reply has no SDP'));
    assert.deepEqual(bug, { status: 500, reason: 'Media Unavailable', overload: null });
    assert.equal(mediaRefusal(new TypeError('x is undefined')).status, 500);
    assert.ok(MAX_NG_IN_FLIGHT > 0);
  });
});

describe("queuedMs: how long ago Kamailio's edge took an INVITE (X-Dzvin-Received)", () => {
  const now = 1_796_313_717_610.393;
  test("seconds.microseconds of Kamailio's $TV(Sn) against our clock; a little ahead is 0; missing, malformed, far ahead (> 5 s) or too old (> 32 s) is no figure", () => {
    assert.equal(queuedMs('1796313717.610393', now), 0);
    assert.ok(Math.abs((queuedMs('1796313716.110393', now) ?? -1) - 1500) < 0.01);
    assert.ok(Math.abs((queuedMs(' 1796313717.6 ', now) ?? -1) - 10.393) < 0.01);
    assert.ok(Math.abs((queuedMs('1796313687', now) ?? -1) - 30_610.393) < 0.01);
    assert.equal(queuedMs('1796313719.610393', now), 0, 'a clock 2 s ahead counts as no wait');
    assert.equal(queuedMs('1796313723.610393', now), null, '6 s ahead: not one clock');
    assert.equal(queuedMs('1796313680.0', now), null, '37 s ago: not believed');
    for (const bad of [undefined, '', 'abc', '-1.5', '1796313717,610393', '1e9', '1796313717.610393 x'])
      assert.equal(queuedMs(bad, now), null, String(bad));
    assert.equal(MAX_QUEUE_MS, 1000);
  });
});

describe("a carrier's INVITE while rtpengine is gone: 503 with Retry-After and its cause, the process keeps serving", {
  skip,
}, () => {
  let stack: SipStack;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let carrier: UdpSipPeer;

  before(async () => {
    stack = await startSipStack({ kamailioDefines: { NATPING_INTERVAL: 0 } });
    ({ kam, server } = stack);
    s = await server.account(DOMAIN);
    const ivr = await s.admin('POST', '/api/v1/ivr', { name: 'Menu', greeting: 'Hello', timeoutSec: 30 });
    assert.equal(ivr.status, 201, ivr.text);
    const trunk = await s.admin('POST', '/api/v1/trunks', {
      number: DID,
      name: 'Carrier',
      destination: { type: 'ivr', id: ivr.json().id },
      sipPeers: ['127.0.0.1'],
    });
    assert.equal(trunk.status, 201, trunk.text);
    carrier = await startUdpPeer();
  });
  after(async () => {
    await carrier?.close();
    await stack?.stop();
  });

  /**
   * Sends an INVITE for `number` through Kamailio (with `headers`; `sent` runs once it has left,
   * before the server's thread — this one — reads a socket again); resolves with its final
   * response (ACKed when negative).
   */
  async function invite(
    number: string,
    opts: { headers?: string[]; sent?: () => void } = {},
  ): Promise<SipMessage> {
    const via = { address: carrier.address, port: carrier.port };
    const callId = `overload-${Math.random().toString(36).slice(2)}`;
    const text = buildRequest({
      method: 'INVITE',
      uri: `sip:${number}@127.0.0.1:${kam.sipPort}`,
      via,
      from: `sip:${CALLER}@127.0.0.1`,
      to: `sip:${number}@127.0.0.1`,
      callId,
      headers: opts.headers,
      body: sdpOffer('127.0.0.1', 40_000),
    });
    const from = carrier.received.length;
    carrier.send(text, kam.sipPort, undefined, opts.sent);
    // rtpengine's silence takes the NG client's whole timeout (3 s) and Kamailio relays the answer.
    const final = await carrier.waitFor(
      (m) =>
        (m.status ?? 0) >= 200 && header(m, 'Call-ID') === callId && /INVITE/.test(header(m, 'CSeq') ?? ''),
      `a final response to ${callId}`,
      { from, ms: 15_000 },
    );
    if ((final.status ?? 0) >= 300) carrier.send(buildAckForFailure(text, final), kam.sipPort);
    return final;
  }

  /** The IVR's call in progress is hung up through the API and gone. */
  async function hangUpTheCall() {
    const [call] = await until(async () => {
      const a = await activeCalls(s);
      return a.length ? a : null;
    }, 'the answered call in progress');
    await s.get(`/rest/calls/active/${call.uuid}/hangup`);
    await until(async () => (await activeCalls(s)).length === 0, 'the call ended');
  }

  test("an INVITE that waited in the B2BUA's socket longer than DZVIN_SIP_MAX_QUEUE_MS (Kamailio's X-Dzvin-Received) gets 503, Retry-After and a Warning with the wait, once despite Kamailio's retransmissions, no call; one forged from outside is stripped; the next INVITE is taken", async () => {
    const driver = server.built.sip!.driver;
    const refusedBefore = driver.overloadRefusals();
    // From outside, a header saying 10 s of waiting (it would be refused): Kamailio strips it and
    // adds its own, so the call is taken as usual.
    const forged = await invite(DID.slice(1), {
      headers: [`X-Dzvin-Received: ${((Date.now() - 10_000) / 1000).toFixed(6)}`],
    });
    assert.equal(forged.status, 200, `a forged X-Dzvin-Received is not believed: ${forged.raw}`);
    await hangUpTheCall();
    assert.equal(driver.overloadRefusals(), refusedBefore);

    // The server's main thread (this process's: the harness runs it here) is stuck for 3 s right
    // after the INVITE left, as it is at a core of CPU: Kamailio relays it (and retransmits it, no
    // 100 Trying coming) into the B2BUA's socket, where it waits.
    const stuck = await invite(DID.slice(1), {
      sent: () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000),
    });
    assert.equal(stuck.status, 503, `refused for the wait, not taken late: ${stuck.raw}`);
    assert.equal(header(stuck, 'Retry-After'), '1', stuck.raw);
    const waited = /^399 dzvin "overloaded: waited (\d+) ms"$/.exec(header(stuck, 'Warning') ?? '');
    assert.ok(waited, `the cause in a Warning: ${stuck.raw}`);
    assert.ok(Number(waited[1]) >= 1000, `the wait it reports (${waited[1]} ms) is at least the threshold`);
    assert.deepEqual(await activeCalls(s), [], 'refused before routing: nothing was placed');
    // Kamailio's retransmissions of that INVITE were answered by its transaction, not refused again.
    assert.equal(driver.overloadRefusals(), refusedBefore + 1);

    const next = await invite(DID.slice(1));
    assert.equal(next.status, 200, `the next INVITE is taken: ${next.raw}`);
    await hangUpTheCall();
  });

  test('rtpengine up: the IVR answers the call (200); rtpengine stopped: 503, Retry-After, a Warning naming rtpengine, no call in progress; then a 403 for an unknown number and the API answer as before', async () => {
    const ok = await invite(DID.slice(1));
    assert.equal(ok.status, 200, `the IVR answered while rtpengine runs: ${ok.raw}`);
    const [call] = await until(async () => {
      const a = await activeCalls(s);
      return a.length ? a : null;
    }, 'the answered call in progress');
    await s.get(`/rest/calls/active/${call.uuid}/hangup`);
    await until(async () => (await activeCalls(s)).length === 0, 'the call ended');

    await stack.rtp.stop();
    const refused = await invite(DID.slice(1));
    assert.equal(refused.status, 503, `refused as overload, not a failure: ${refused.raw}`);
    assert.match(header(refused, 'Retry-After') ?? '', /^\d+/, `Retry-After: ${refused.raw}`);
    assert.match(header(refused, 'Warning') ?? '', /^399 dzvin ".*rtpengine/, `the cause: ${refused.raw}`);
    assert.deepEqual(await activeCalls(s), [], 'refused before routing: nothing was placed');

    const unknown = await invite('380449999999');
    assert.equal(unknown.status, 403, `the B2BUA still answers: ${unknown.raw}`);
    const r = await s.get('/rest/calls/active/v3');
    assert.equal(r.status, 200, r.text);
  });
});
