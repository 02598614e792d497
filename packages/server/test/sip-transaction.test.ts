// The UDP transport and the RFC 3261 §17 transaction state machines over a real loopback
// socket, with a hand-driven clock for timers A–M: the other side is a raw UDP socket sending
// hand-written messages, so every retransmission and absorption is visible on the wire.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createManualClock, type ManualClock } from '../src/domain/clock.ts';
import { createResponse } from '../src/engine/sip/build.ts';
import { parseVia, type Via } from '../src/engine/sip/header-values.ts';
import {
  getCSeq,
  getHeader,
  getNameAddr,
  getTopVia,
  type SipRequest,
  type SipResponse,
  serializeMessage,
} from '../src/engine/sip/message.ts';
import {
  type ClientHandlers,
  createTransactionLayer,
  type EndReason,
  type NewRequest,
  type TransactionLayer,
} from '../src/engine/sip/transaction.ts';
import {
  createUdpTransport,
  responseDestination,
  type SipTransport,
  stampVia,
} from '../src/engine/sip/transport.ts';
import { createRawPeer, type RawPeer } from './support/sip-peer.ts';
import { letReportsDrainBeforeExit } from './support/sip-reports.ts';

letReportsDrainBeforeExit();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

let clock: ManualClock;
let transport: SipTransport;
let layer: TransactionLayer;
let peer: RawPeer;
let requests: NewRequest[];
let acks: SipRequest[];
let strays: SipResponse[];
let discards: string[];

beforeEach(async () => {
  clock = createManualClock();
  requests = [];
  acks = [];
  strays = [];
  discards = [];
  transport = await createUdpTransport({ host: '127.0.0.1', port: 0, onDiscard: (r) => discards.push(r) });
  layer = createTransactionLayer({
    transport,
    timers: clock,
    onRequest: (r) => requests.push(r),
    onAck: (a) => acks.push(a),
    onStrayResponse: (r) => strays.push(r),
  });
  peer = await createRawPeer();
});

afterEach(async () => {
  layer.close();
  await transport.close();
  await peer.close();
});

/** A request from the raw peer; `sentBy` lets a test advertise an address that is not the real one. */
function fromPeer(o: {
  method?: string;
  branch: string;
  cseqMethod?: string;
  toTag?: string;
  sentBy?: string;
  rport?: boolean;
}): string {
  const method = o.method ?? 'INVITE';
  return `${method} sip:bob@${transport.sentBy} SIP/2.0
Via: SIP/2.0/UDP ${o.sentBy ?? `127.0.0.1:${peer.port}`};branch=${o.branch}${o.rport === false ? '' : ';rport'}
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=alice1
To: <sip:bob@127.0.0.1>${o.toTag ? `;tag=${o.toTag}` : ''}
Call-ID: ${o.branch}@127.0.0.1
CSeq: 1 ${o.cseqMethod ?? method}
Content-Length: 0

`;
}

const send = (text: string) => peer.send(text, transport.address.port);

async function expectResponse(status: number, cseqMethod = 'INVITE'): Promise<SipResponse> {
  const r = await peer.nextResponse();
  assert.equal(r.status, status);
  assert.equal(getCSeq(r)?.method, cseqMethod);
  return r;
}

/** A request of ours towards the raw peer (the layer adds the Via). */
function toPeer(method: string): SipRequest {
  return {
    type: 'request',
    method,
    uri: `sip:carol@127.0.0.1:${peer.port}`,
    headers: [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: '<sip:bob@127.0.0.1>;tag=bob1' },
      { name: 'To', value: `<sip:carol@127.0.0.1:${peer.port}>` },
      { name: 'Call-ID', value: `${method.toLowerCase()}-${Math.random()}@127.0.0.1` },
      { name: 'CSeq', value: `1 ${method}` },
      { name: 'Contact', value: `<sip:bob@${transport.sentBy}>` },
    ],
    body: Buffer.alloc(0),
  };
}

/** The peer answers one of our requests as received (so with our Via) and sends it back. */
function answer(req: SipRequest, status: number, reason: string, toTag = 'carol1'): Promise<void> {
  return peer.sendBytes(
    serializeMessage(createResponse(req, status, reason, { toTag })),
    transport.address.port,
  );
}

const peerDest = () => ({ address: '127.0.0.1', port: peer.port });

function recorder(): ClientHandlers & { responses: number[]; ended: EndReason[] } {
  const responses: number[] = [];
  const ended: EndReason[] = [];
  return { responses, ended, onResponse: (r) => responses.push(r.status), onEnd: (e) => ended.push(e) };
}

function via(text: string): Via {
  const v = parseVia(text);
  assert.ok(v.ok, text);
  return v.value;
}

describe('UDP transport', () => {
  test('responses are routed per §18.2.2: maddr, else received (+ rport), else sent-by (5060 by default)', () => {
    const dest = (t: string) => responseDestination(via(t));
    assert.deepEqual(dest('SIP/2.0/UDP pc33.example.com'), { address: 'pc33.example.com', port: 5060 });
    assert.deepEqual(dest('SIP/2.0/UDP pc33.example.com:5070;received=192.0.2.4'), {
      address: '192.0.2.4',
      port: 5070,
    });
    assert.deepEqual(dest('SIP/2.0/UDP pc33.example.com:5070;received=192.0.2.4;rport=40000'), {
      address: '192.0.2.4',
      port: 40000,
    });
    assert.deepEqual(dest('SIP/2.0/UDP h:5070;maddr=239.255.255.1;received=192.0.2.4'), {
      address: '239.255.255.1',
      port: 5070,
    });
    assert.deepEqual(dest('SIP/2.0/UDP [2001:db8::9]:5070'), { address: '2001:db8::9', port: 5070 });
    // §18.2.1: no received when the sent-by already is the source; RFC 3581: always with rport.
    assert.deepEqual(
      stampVia(via('SIP/2.0/UDP [::1]:5070;branch=z9hG4bKx'), { address: '::1', port: 5070 }).params,
      {
        branch: 'z9hG4bKx',
      },
    );
    assert.deepEqual(stampVia(via('SIP/2.0/UDP [::1]:5070;rport'), { address: '::1', port: 6000 }).params, {
      rport: '6000',
      received: '::1',
    });
  });

  test('a request gets received and rport on its top Via, and the response goes where it came from', async () => {
    // The peer claims 192.0.2.1:5999 but sends from 127.0.0.1:<its port>: the answer must find it.
    await send(fromPeer({ method: 'OPTIONS', branch: 'z9hG4bKrport', sentBy: '192.0.2.1:5999' }));
    await until(() => requests.length === 1, 'the OPTIONS');
    const via = getTopVia(requests[0].tx.request)!;
    assert.equal(via.params.received, '127.0.0.1');
    assert.equal(via.params.rport, String(peer.port));
    requests[0].tx.reply(200, 'OK', { toTag: 'b' });
    const res = await expectResponse(200, 'OPTIONS');
    assert.equal(getTopVia(res)!.params.rport, String(peer.port));
  });

  test('without rport, received is added only when the source differs from sent-by (§18.2.1)', async () => {
    await send(fromPeer({ method: 'OPTIONS', branch: 'z9hG4bKnorport', rport: false }));
    await until(() => requests.length === 1, 'the OPTIONS');
    assert.deepEqual(getTopVia(requests[0].tx.request)!.params, { branch: 'z9hG4bKnorport' });
  });

  test('a malformed request is answered 400 with the reason; garbage is dropped; nothing reaches the TU', async () => {
    await send(fromPeer({ method: 'OPTIONS', branch: 'z9hG4bKbad', cseqMethod: 'INVITE' }));
    const res = await peer.nextResponse();
    assert.equal(res.status, 400);
    assert.equal(res.reason, 'CSeq method does not match');
    assert.ok(getNameAddr(res, 'To')!.params.tag, 'a 400 carries a To tag');
    await peer.sendBytes(Buffer.from('\x00\xffnot sip at all\r\n\r\n'), transport.address.port);
    await peer.sendBytes(Buffer.from('\r\n\r\n'), transport.address.port); // keep-alive
    assert.equal(await peer.drain(100), 0);
    assert.equal(requests.length, 0);
    assert.ok(discards.some((d) => d.includes('Via')));
  });

  test('responses with two Vias (RFC 4475 bcast) or for another sent-by are discarded', async () => {
    const tx = layer.request(toPeer('OPTIONS'), peerDest(), recorder());
    const sent = await peer.nextRequest();
    const ours = getHeader(sent, 'Via')!;
    const base = `SIP/2.0 200 OK
From: <sip:bob@127.0.0.1>;tag=bob1
To: <sip:carol@127.0.0.1>;tag=c
Call-ID: ${getHeader(sent, 'Call-ID')}
CSeq: 1 OPTIONS
Content-Length: 0

`;
    await send(
      `${base.replace('SIP/2.0 200 OK\n', `SIP/2.0 200 OK\nVia: ${ours}\nVia: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\n`)}`,
    );
    await send(
      base.replace(
        'SIP/2.0 200 OK\n',
        `SIP/2.0 200 OK\nVia: ${ours.replace(transport.sentBy, '127.0.0.1:9')}\n`,
      ),
    );
    await until(() => discards.length === 2, 'two discards');
    assert.deepEqual(discards, ['response with more than one Via', 'response for another sent-by']);
    assert.equal(tx.state, 'trying');
  });
});

describe('INVITE server transaction (§17.2.1, RFC 6026)', () => {
  test('100 Trying for an INVITE the TU has not answered within 200 ms, or at once for its retransmission; none when the TU answers first', async () => {
    await send(fromPeer({ branch: 'z9hG4bKt100a' }));
    await until(() => requests.length === 1, 'the INVITE at the TU');
    await clock.advance(199);
    assert.equal(await peer.drain(50), 0, 'no 100 before 200 ms');
    await clock.advance(1);
    await expectResponse(100);

    // Answered at once: no 100, before or after 200 ms.
    await send(fromPeer({ branch: 'z9hG4bKt100b' }));
    await until(() => requests.length === 2, 'the second INVITE');
    requests[1].tx.reply(486, 'Busy Here', { toTag: 'b' });
    await expectResponse(486);
    await clock.advance(300);
    assert.equal(await peer.drain(50), 0, 'no 100 after the final response (timer G is at 500 ms)');
    await send(fromPeer({ method: 'ACK', branch: 'z9hG4bKt100b', toTag: 'b' })); // timer G stops
    await until(() => requests[1].tx.state === 'confirmed', 'Confirmed');

    // Retransmitted before anything was sent: the 100 at once, and only once.
    const third = fromPeer({ branch: 'z9hG4bKt100c' });
    await send(third);
    await until(() => requests.length === 3, 'the third INVITE');
    await send(third);
    await expectResponse(100);
    await clock.advance(200);
    assert.equal(await peer.drain(50), 0, 'the timer does not send a second 100');
    assert.equal(requests.length, 3, 'the retransmission did not reach the TU');
  });

  test('one transaction for a retransmitted INVITE: the 100, the last response re-sent, timer G until the ACK', async () => {
    const invite = fromPeer({ branch: 'z9hG4bKinv1' });
    await send(invite);
    await until(() => requests.length === 1, 'the INVITE at the TU');
    await clock.advance(200);
    await expectResponse(100);
    assert.equal(requests.length, 1);
    const { tx } = requests[0];
    assert.equal(tx.kind, 'invite');
    tx.reply(180, 'Ringing', { toTag: 'bob1' });
    await expectResponse(180);
    await send(invite);
    await expectResponse(180);
    tx.reply(486, 'Busy Here', { toTag: 'bob1' });
    await expectResponse(486);
    await send(invite);
    await expectResponse(486);
    assert.equal(requests.length, 1, 'retransmissions never reach the TU');

    // Timer G: T1, then 2·T1, … while no ACK comes.
    await clock.advance(500);
    await expectResponse(486);
    await clock.advance(999);
    assert.equal(await peer.drain(50), 0);
    await clock.advance(1);
    await expectResponse(486);

    await send(fromPeer({ method: 'ACK', branch: 'z9hG4bKinv1', toTag: 'bob1' }));
    await until(() => tx.state === 'confirmed', 'Confirmed');
    await send(fromPeer({ method: 'ACK', branch: 'z9hG4bKinv1', toTag: 'bob1' }));
    await clock.advance(4000);
    assert.equal(await peer.drain(50), 0, 'no retransmission after the ACK, no answer to ACKs');
    assert.equal(acks.length, 0, 'the ACK to a non-2xx stays in the transaction');
    await clock.advance(1000); // timer I = T4
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(layer.counts(), { server: 0, client: 0 });
  });

  test('timer H ends a final response that never gets its ACK', async () => {
    await send(fromPeer({ branch: 'z9hG4bKinvH' }));
    await until(() => requests.length === 1, 'the INVITE at the TU');
    const { tx } = requests[0];
    const ended: EndReason[] = [];
    tx.onEnd = (r) => ended.push(r);
    tx.reply(500, 'Server Internal Error', { toTag: 'b' });
    await expectResponse(500);
    await clock.advance(32_000);
    // G fired at 0.5, 1.5, 3.5, 7.5, 11.5, … 31.5 s: doubling, capped at T2 = 4 s.
    assert.equal(await peer.drain(100), 10);
    assert.deepEqual(ended, ['timeout']);
    assert.equal(tx.state, 'terminated');
  });

  test('timer G retransmissions follow 500, 1000, 2000, 4000, 4000 ms', async () => {
    await send(fromPeer({ branch: 'z9hG4bKinvG' }));
    await until(() => requests.length === 1, 'the INVITE at the TU');
    requests[0].tx.reply(404, 'Not Found', { toTag: 'b' });
    await expectResponse(404);
    const at: number[] = [];
    for (let t = 0; t < 16_000; t += 250) {
      await clock.advance(250);
      if ((await peer.drain(20)) > 0) at.push(t + 250);
    }
    assert.deepEqual(at, [500, 1500, 3500, 7500, 11500, 15500]);
  });

  test('a 2xx moves to Accepted: INVITE retransmissions are absorbed, the ACK goes to the TU, timer L ends it', async () => {
    const invite = fromPeer({ branch: 'z9hG4bKinv2' });
    await send(invite);
    await until(() => requests.length === 1, 'the INVITE at the TU');
    const { tx } = requests[0];
    tx.reply(200, 'OK', { toTag: 'bob2' });
    await expectResponse(200);
    await send(invite);
    assert.equal(await peer.drain(100), 0, 'the TU, not the transaction, retransmits a 2xx');
    tx.reply(200, 'OK', { toTag: 'bob2' }); // the TU's own retransmission passes through
    await expectResponse(200);
    await send(fromPeer({ method: 'ACK', branch: 'z9hG4bKack2', toTag: 'bob2' }));
    await until(() => acks.length === 1, 'the ACK at the TU');
    assert.equal(requests.length, 1);
    await clock.advance(32_000);
    assert.equal(tx.state, 'terminated');
  });

  test('CANCEL finds its INVITE (same branch); a CANCEL for nothing gets 481', async () => {
    await send(fromPeer({ branch: 'z9hG4bKinv3' }));
    await until(() => requests.length === 1, 'the INVITE at the TU');
    await send(fromPeer({ method: 'CANCEL', branch: 'z9hG4bKinv3' }));
    await until(() => requests.length === 2, 'the CANCEL');
    const [inv, cancel] = requests;
    assert.equal(cancel.tx.request.method, 'CANCEL');
    assert.equal(cancel.cancels, inv.tx);
    cancel.tx.reply(200, 'OK', { toTag: 'bob3' });
    inv.tx.reply(487, 'Request Terminated', { toTag: 'bob3' });
    await expectResponse(200, 'CANCEL');
    await expectResponse(487, 'INVITE');

    await send(fromPeer({ method: 'CANCEL', branch: 'z9hG4bKnothing' }));
    await expectResponse(481, 'CANCEL');
    assert.equal(requests.length, 2);
  });

  test('an RFC 2543 INVITE (no magic cookie) is matched by its other fields', async () => {
    const invite = fromPeer({ branch: '2543-no-cookie', rport: false });
    await send(invite);
    await until(() => requests.length === 1, 'the INVITE at the TU');
    await send(invite); // matched: its 100 at once, not a second request
    await expectResponse(100);
    assert.equal(requests.length, 1);
  });
});

describe('non-INVITE server transaction (§17.2.2)', () => {
  test('retransmissions are absorbed while Trying and answered with the final response once Completed', async () => {
    const options = fromPeer({ method: 'OPTIONS', branch: 'z9hG4bKopt1' });
    await send(options);
    await until(() => requests.length === 1, 'the OPTIONS');
    await send(options);
    assert.equal(await peer.drain(100), 0, 'no response yet: nothing to re-send');
    const { tx } = requests[0];
    tx.reply(200, 'OK', { toTag: 'b' });
    await expectResponse(200, 'OPTIONS');
    await send(options);
    await expectResponse(200, 'OPTIONS');
    assert.equal(requests.length, 1);
    assert.equal(tx.reply(500, 'Too late'), false, 'one final response only');
    await clock.advance(32_000); // timer J = 64·T1
    assert.equal(tx.state, 'terminated');
  });
});

describe('INVITE client transaction (§17.1.1, RFC 6026)', () => {
  test('timer A retransmits at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s and timer B gives up at 32 s', async () => {
    const h = recorder();
    const tx = layer.request(toPeer('INVITE'), peerDest(), h);
    const first = await peer.nextRequest();
    const branch = getTopVia(first)!.params.branch!;
    assert.match(branch, /^z9hG4bK/);
    assert.equal(getTopVia(first)!.params.rport, null);
    const at: number[] = [];
    for (let t = 0; t < 31_500; t += 500) {
      await clock.advance(500);
      const r = await peer.nextRequest(30).catch(() => undefined);
      if (r) {
        assert.equal(getTopVia(r)!.params.branch, branch, 'a retransmission is the same request');
        at.push(t + 500);
      }
    }
    assert.deepEqual(at, [500, 1500, 3500, 7500, 15500, 31500]);
    await clock.advance(500);
    assert.deepEqual(h.ended, ['timeout']);
    assert.equal(tx.state, 'terminated');
  });

  test('a provisional stops retransmission; a 486 is ACKed by the transaction, again for each retransmission', async () => {
    const h = recorder();
    const tx = layer.request(toPeer('INVITE'), peerDest(), h);
    const inv = await peer.nextRequest();
    await answer(inv, 180, 'Ringing');
    await until(() => tx.state === 'proceeding', 'Proceeding');
    await clock.advance(10_000);
    assert.equal(await peer.drain(50), 0);
    await answer(inv, 486, 'Busy Here');
    const ack = await peer.nextRequest();
    assert.equal(ack.method, 'ACK');
    assert.equal(getTopVia(ack)!.params.branch, getTopVia(inv)!.params.branch, 'same branch as the INVITE');
    assert.equal(getNameAddr(ack, 'To')!.params.tag, 'carol1');
    assert.deepEqual(getCSeq(ack), { seq: 1, method: 'ACK' });
    await answer(inv, 486, 'Busy Here');
    assert.equal((await peer.nextRequest()).method, 'ACK');
    assert.deepEqual(h.responses, [180, 486], 'the retransmitted 486 is absorbed');
    await clock.advance(32_000); // timer D
    assert.deepEqual(h.ended, ['normal']);
  });

  test('CANCEL waits for a provisional, uses the INVITE branch; the 487 is ACKed', async () => {
    const h = recorder();
    const tx = layer.request(toPeer('INVITE'), peerDest(), h);
    const inv = await peer.nextRequest();
    const c = recorder();
    tx.cancel(c);
    assert.equal(await peer.drain(50), 0, 'no CANCEL before a provisional (§9.1)');
    await answer(inv, 180, 'Ringing');
    const cancel = await peer.nextRequest();
    assert.equal(cancel.method, 'CANCEL');
    assert.equal(getTopVia(cancel)!.params.branch, getTopVia(inv)!.params.branch);
    assert.deepEqual(getCSeq(cancel), { seq: 1, method: 'CANCEL' });
    await answer(cancel, 200, 'OK');
    await answer(inv, 487, 'Request Terminated');
    assert.equal((await peer.nextRequest()).method, 'ACK');
    await until(() => c.responses.length === 1 && h.responses.length === 2, 'both answers');
    assert.deepEqual(c.responses, [200]);
    assert.deepEqual(h.responses, [180, 487]);
  });

  test('a CANCELled INVITE whose final response never comes ends after 64·T1 (§9.1), not never', async () => {
    const h = recorder();
    const tx = layer.request(toPeer('INVITE'), peerDest(), h);
    const inv = await peer.nextRequest();
    await answer(inv, 180, 'Ringing');
    await until(() => tx.state === 'proceeding', 'Proceeding');
    tx.cancel(recorder());
    const cancel = await peer.nextRequest();
    assert.equal(cancel.method, 'CANCEL');
    await answer(cancel, 200, 'OK');
    // The 487 is lost (as when a proxy cannot relay it): the INVITE must not wait for ever.
    await clock.advance(31_900);
    assert.deepEqual(h.ended, []);
    assert.equal(tx.state, 'proceeding');
    await clock.advance(100);
    assert.deepEqual(h.ended, ['timeout']);
    assert.equal(tx.state, 'terminated');
  });

  test('2xx: Accepted passes every 2xx (forks) to the TU and sends no ACK; after timer M they are strays', async () => {
    const h = recorder();
    const tx = layer.request(toPeer('INVITE'), peerDest(), h);
    const inv = await peer.nextRequest();
    await answer(inv, 200, 'OK', 'fork1');
    await answer(inv, 200, 'OK', 'fork2');
    await until(() => h.responses.length === 2, 'both 2xx');
    assert.equal(tx.state, 'accepted');
    assert.equal(await peer.drain(50), 0, 'the ACK to a 2xx is the TU’s');
    await clock.advance(32_000); // timer M
    assert.equal(tx.state, 'terminated');
    await answer(inv, 200, 'OK', 'fork1');
    await until(() => strays.length === 1, 'the stray 2xx');
  });
});

describe('non-INVITE client transaction (§17.1.2)', () => {
  test('timer E doubles up to T2, then every T2 after a provisional; timer F times out', async () => {
    const h = recorder();
    layer.request(toPeer('OPTIONS'), peerDest(), h);
    const opt = await peer.nextRequest();
    const at: number[] = [];
    for (let t = 0; t < 11_500; t += 500) {
      await clock.advance(500);
      if (await peer.nextRequest(30).catch(() => undefined)) at.push(t + 500);
    }
    assert.deepEqual(at, [500, 1500, 3500, 7500, 11500]);
    await answer(opt, 100, 'Trying');
    await until(() => h.responses.length === 1, 'the 100');
    for (let t = 11_500; t < 32_000; t += 500) {
      await clock.advance(500);
      if (await peer.nextRequest(30).catch(() => undefined)) at.push(t + 500);
    }
    assert.deepEqual(at.slice(5), [15500, 19500, 23500, 27500, 31500]);
    assert.deepEqual(h.ended, ['timeout']);
  });

  test('the final response reaches the TU once; retransmissions are absorbed; timer K ends it', async () => {
    const h = recorder();
    const tx = layer.request(toPeer('OPTIONS'), peerDest(), h);
    const opt = await peer.nextRequest();
    await answer(opt, 200, 'OK');
    await answer(opt, 200, 'OK');
    await until(() => tx.state === 'completed', 'Completed');
    await sleep(50);
    assert.deepEqual(h.responses, [200]);
    await clock.advance(5000); // timer K = T4
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(h.ended, ['normal']);
  });
});

describe('our UAC and UAS over IPv6 loopback', () => {
  test('an INVITE refused with 486 is ACKed and confirmed; an OPTIONS gets its 200', async () => {
    const uasTransport = await createUdpTransport({ host: '::1', port: 0 });
    const uacTransport = await createUdpTransport({ host: '::1', port: 0 });
    assert.match(uasTransport.sentBy, /^\[::1\]:\d+$/);
    const seen: NewRequest[] = [];
    const uas = createTransactionLayer({
      transport: uasTransport,
      onRequest: (r) => {
        seen.push(r);
        r.tx.reply(r.tx.kind === 'invite' ? 486 : 200, r.tx.kind === 'invite' ? 'Busy Here' : 'OK', {
          toTag: 'u',
        });
      },
    });
    const uac = createTransactionLayer({ transport: uacTransport, onRequest: () => {} });
    try {
      const to = { address: '::1', port: uasTransport.address.port };
      const req = (method: string): SipRequest => ({
        type: 'request',
        method,
        uri: `sip:bob@${uasTransport.sentBy}`,
        headers: [
          { name: 'From', value: `<sip:alice@${uacTransport.sentBy}>;tag=a` },
          { name: 'To', value: `<sip:bob@${uasTransport.sentBy}>` },
          { name: 'Call-ID', value: `${method}@v6` },
          { name: 'CSeq', value: `1 ${method}` },
          { name: 'Max-Forwards', value: '70' },
        ],
        body: Buffer.alloc(0),
      });
      const statuses: number[] = [];
      await new Promise<void>((resolve) =>
        uac.request(req('INVITE'), to, {
          onResponse: (r) => {
            statuses.push(r.status);
            if (r.status >= 200) resolve();
          },
        }),
      );
      await until(() => seen[0]?.tx.state === 'confirmed', 'the UAS to see the ACK');
      assert.deepEqual(statuses, [486], 'answered at once: no 100 Trying (§17.2.1)');
      const options = await new Promise<SipResponse>((resolve) =>
        uac.request(req('OPTIONS'), to, { onResponse: (r) => resolve(r) }),
      );
      assert.equal(options.status, 200);
      assert.equal(getTopVia(options)!.host, '[::1]');
      assert.equal(seen.length, 2);
    } finally {
      uas.close();
      uac.close();
      await uasTransport.close();
      await uacTransport.close();
    }
  });
});
