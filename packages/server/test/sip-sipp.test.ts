// Our SIP layers (parser, UDP transport, transactions) against a real SIPp on loopback. The UAS
// and UAC here are a few lines of test code on top of the transaction layer — not the product's
// dialogs — enough to prove that a real peer accepts what we send and we accept what it sends:
// SIPp `uac` calls us (180, 200 + SDP, its ACK, its BYE), we call SIPp `uas`, and a SIPp script
// re-sends an INVITE with the same branch (one transaction; the last response comes back).
//
// Needs sipp (`apt-get install sip-tester`); without it the file skips loudly, unless
// DZVIN_REQUIRE_ALL=1 makes that a failure.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createResponse, newCallId, newTag } from '../src/engine/sip/build.ts';
import { parseNameAddr } from '../src/engine/sip/header-values.ts';
import { getCallId, getHeader, type SipRequest, type SipResponse } from '../src/engine/sip/message.ts';
import {
  createTransactionLayer,
  type NewRequest,
  type ServerTransaction,
  type TransactionLayer,
} from '../src/engine/sip/transaction.ts';
import { createUdpTransport, type Remote, type SipTransport } from '../src/engine/sip/transport.ts';
import { formatUri, isSipUri } from '../src/engine/sip/uri.ts';
import { letReportsDrainBeforeExit } from './support/sip-reports.ts';
import { sippSkipReason, startSipp } from './support/sip-sipp.ts';

letReportsDrainBeforeExit();

const skip = sippSkipReason();

const SDP = Buffer.from(
  'v=0\r\no=dzvin 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n',
);

/**
 * The tiny UAS: INVITE to `ring@` only rings (until CANCEL), any other INVITE rings then answers
 * with SDP and retransmits its 2xx until the ACK (§13.3.1.4, the TU's job); BYE and OPTIONS get 200.
 */
interface TinyUas {
  invites: Map<string, number>;
  acked: Set<string>;
  byes: string[];
  onRequest(r: NewRequest): void;
  onAck(ack: SipRequest): void;
}

function createTinyUas(transport: () => SipTransport): TinyUas {
  const invites = new Map<string, number>();
  const acked = new Set<string>();
  const byes: string[] = [];
  const contact = () => ({ name: 'Contact', value: `<sip:dzvin@${transport().sentBy}>` });

  function answer(tx: ServerTransaction, tag: string) {
    const callId = getCallId(tx.request)!;
    const ok = createResponse(tx.request, 200, 'OK', {
      toTag: tag,
      headers: [contact(), { name: 'Content-Type', value: 'application/sdp' }],
      body: SDP,
    });
    tx.respond(ok);
    // 2xx retransmission until the ACK: T1, doubling up to T2, for at most 64·T1.
    let interval = 500;
    let spent = 0;
    const again = () => {
      if (acked.has(callId) || spent >= 32_000) return;
      transport()
        .sendResponse(ok)
        .catch(() => {});
      spent += interval;
      interval = Math.min(2 * interval, 4000);
      setTimeout(again, interval).unref();
    };
    setTimeout(again, interval).unref();
  }

  return {
    invites,
    acked,
    byes,
    onRequest({ tx, cancels }) {
      const req = tx.request;
      const callId = getCallId(req)!;
      switch (req.method) {
        case 'INVITE': {
          invites.set(callId, (invites.get(callId) ?? 0) + 1);
          const tag = newTag();
          tx.reply(180, 'Ringing', { toTag: tag, headers: [contact()] });
          if (!req.uri.startsWith('sip:ring@')) setTimeout(() => answer(tx, tag), 50);
          return;
        }
        case 'CANCEL':
          tx.reply(200, 'OK', { toTag: newTag() });
          cancels?.reply(487, 'Request Terminated', { toTag: newTag() });
          return;
        case 'BYE':
          byes.push(callId);
          tx.reply(200, 'OK', { toTag: newTag() });
          return;
        default:
          tx.reply(200, 'OK', { toTag: newTag() });
      }
    },
    onAck(ack) {
      acked.add(getCallId(ack)!);
    },
  };
}

/** Sends a request through a client transaction and resolves with its final response. */
function finalResponse(
  layer: TransactionLayer,
  req: SipRequest,
  to: Remote,
  seen: number[] = [],
): Promise<SipResponse> {
  return new Promise((resolve, reject) => {
    layer.request(req, to, {
      onResponse(r) {
        seen.push(r.status);
        if (r.status >= 200) resolve(r);
      },
      onEnd(reason) {
        if (reason !== 'normal') reject(new Error(`${req.method} ended: ${reason}`));
      },
    });
  });
}

describe('SIP against SIPp', { skip }, () => {
  let transport: SipTransport;
  let layer: TransactionLayer;
  let uas: TinyUas;
  const discards: string[] = [];

  before(async () => {
    uas = createTinyUas(() => transport);
    transport = await createUdpTransport({ host: '127.0.0.1', port: 0, onDiscard: (r) => discards.push(r) });
    layer = createTransactionLayer({
      transport,
      onRequest: (r) => uas.onRequest(r),
      onAck: (a) => uas.onAck(a),
    });
  });

  after(async () => {
    layer?.close();
    await transport?.close();
  });

  test('SIPp uac calls us: 180, 200 with SDP, its ACK ends our 2xx retransmission, its BYE gets 200', async () => {
    const sipp = await startSipp({
      scenario: { builtin: 'uac' },
      remote: `127.0.0.1:${transport.address.port}`,
      extraArgs: ['-d', '200'],
    });
    const { code, output } = await sipp.done;
    assert.equal(code, 0, `SIPp failed:\n${output}`);
    assert.equal(uas.invites.size, 1);
    const [callId] = uas.invites.keys();
    assert.ok(uas.acked.has(callId), 'the ACK reached the TU');
    assert.deepEqual(uas.byes, [callId]);
    assert.deepEqual(discards, []);
  });

  test('we call SIPp uas: INVITE with SDP, 180 and 200, our ACK to its Contact, our BYE', async () => {
    const sipp = await startSipp({ scenario: { builtin: 'uas' } });
    const dest = { address: '127.0.0.1', port: sipp.port };
    const from = `<sip:dzvin@${transport.sentBy}>;tag=${newTag()}`;
    const callId = newCallId('127.0.0.1');
    const base = (method: string, seq: number, to: string) => [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: from },
      { name: 'To', value: to },
      { name: 'Call-ID', value: callId },
      { name: 'CSeq', value: `${seq} ${method}` },
      { name: 'Contact', value: `<sip:dzvin@${transport.sentBy}>` },
    ];
    const uri = `sip:service@127.0.0.1:${sipp.port}`;
    const seen: number[] = [];
    // SIPp may not be listening yet: timer A's retransmissions cover that.
    const ok = await finalResponse(
      layer,
      {
        type: 'request',
        method: 'INVITE',
        uri,
        headers: [...base('INVITE', 1, `<${uri}>`), { name: 'Content-Type', value: 'application/sdp' }],
        body: SDP,
      },
      dest,
      seen,
    );
    assert.equal(ok.status, 200);
    assert.ok(seen.includes(180), `saw ${seen}`);
    assert.match(ok.body.toString(), /^v=0/);

    // §13.2.2.4: the ACK goes to the remote target (the 200's Contact), To with the 2xx's tag.
    const to = getHeader(ok, 'To')!;
    const target = parseNameAddr(getHeader(ok, 'Contact')!);
    assert.ok(target.ok && isSipUri(target.value.uri));
    const remoteTarget = formatUri(target.value.uri);
    const targetDest = { address: target.value.uri.host, port: target.value.uri.port ?? 5060 };
    await layer.sendStateless(
      {
        type: 'request',
        method: 'ACK',
        uri: remoteTarget,
        headers: base('ACK', 1, to),
        body: Buffer.alloc(0),
      },
      targetDest,
    );
    const byeOk = await finalResponse(
      layer,
      {
        type: 'request',
        method: 'BYE',
        uri: remoteTarget,
        headers: base('BYE', 2, to),
        body: Buffer.alloc(0),
      },
      targetDest,
    );
    assert.equal(byeOk.status, 200);
    const { code, output } = await sipp.done;
    assert.equal(code, 0, `SIPp failed:\n${output}`);
  });

  test('an INVITE re-sent with the same branch is one transaction: the last response (180) comes back', async () => {
    // SIPp's own retransmission logic is off (-nr) so the script decides what is re-sent.
    const invite = `
    <send>
      <![CDATA[

        INVITE sip:ring@[remote_ip]:[remote_port] SIP/2.0
        Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-dzvin-retrans-[call_number]
        From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
        To: <sip:ring@[remote_ip]:[remote_port]>
        Call-ID: [call_id]
        CSeq: 1 INVITE
        Contact: sip:sipp@[local_ip]:[local_port]
        Max-Forwards: 70
        Content-Length: 0

      ]]>
    </send>`;
    const xml = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="INVITE retransmitted by hand, then cancelled">
  ${invite}
  <recv response="100" optional="true"/>
  <recv response="180"/>
  ${invite}
  <recv response="180"/>
  <send>
    <![CDATA[

      CANCEL sip:ring@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-dzvin-retrans-[call_number]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:ring@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[

      ACK sip:ring@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-dzvin-retrans-[call_number]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:ring@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="100"/>
</scenario>
`;
    const before = new Map(uas.invites);
    const sipp = await startSipp({
      scenario: { xml },
      remote: `127.0.0.1:${transport.address.port}`,
      extraArgs: ['-nr'],
    });
    const { code, output } = await sipp.done;
    assert.equal(code, 0, `SIPp failed:\n${output}`);
    const fresh = [...uas.invites].filter(([id]) => !before.has(id));
    assert.equal(fresh.length, 1);
    assert.equal(fresh[0][1], 1, 'the TU saw the INVITE once');
  });
});
