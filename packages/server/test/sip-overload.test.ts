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
import { MAX_NG_IN_FLIGHT, mediaRefusal } from '../src/engine/sip/phone-originated.ts';
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

  /** Sends an INVITE for `number` through Kamailio; resolves with its final response (ACKed when negative). */
  async function invite(number: string): Promise<SipMessage> {
    const via = { address: carrier.address, port: carrier.port };
    const callId = `overload-${Math.random().toString(36).slice(2)}`;
    const text = buildRequest({
      method: 'INVITE',
      uri: `sip:${number}@127.0.0.1:${kam.sipPort}`,
      via,
      from: `sip:${CALLER}@127.0.0.1`,
      to: `sip:${number}@127.0.0.1`,
      callId,
      body: sdpOffer('127.0.0.1', 40_000),
    });
    const from = carrier.received.length;
    carrier.send(text, kam.sipPort);
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
