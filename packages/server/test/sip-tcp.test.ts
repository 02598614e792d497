// SIP over TCP (RFC 3261 §18): the stream transport on loopback against raw sockets (framing,
// connection reuse, limits, keep-alive and idle connections), the transaction layer over it (no
// retransmissions, the reliable-transport timers), and — with real Kamailio, rtpengine and
// baresip — a phone registering and calling over TCP with Dzvin's leg to Kamailio over TCP.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { createManualClock, type ManualClock } from '../src/domain/clock.ts';
import { createResponse } from '../src/engine/sip/build.ts';
import { startManagedSip } from '../src/engine/sip/edge/daemons.ts';
import {
  getCSeq,
  getHeader,
  getTopVia,
  parseMessage,
  type SipMessage,
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
import type { Remote } from '../src/engine/sip/transport.ts';
import { createTcpTransport, type TcpTransport } from '../src/engine/sip/transport-tcp.ts';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason, makeDaemonDir, startKamailio } from './support/kamailio.ts';
import { buildRequest, header, startUdpPeer } from './support/kamailio-sip.ts';
import { type Rtpengine, rtpengineSkipReason } from './support/rtpengine.ts';
import { letReportsDrainBeforeExit } from './support/sip-reports.ts';
import { startSipStack, untilRegistered } from './support/sip-stack.ts';
import { until as untilAsync } from './support/wait.ts';

letReportsDrainBeforeExit();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * A raw TCP peer: one connection, what arrives split into messages by its own reading of §18.3
 * (headers to the blank line, then Content-Length octets), independent of the transport's.
 */
interface StreamPeer {
  socket: net.Socket;
  /** Every complete message received, oldest first. */
  messages: SipMessage[];
  /** Raw bytes received so far (CRLF pongs included). */
  raw(): Buffer;
  closed(): boolean;
  write(text: string | Buffer): Promise<void>;
  next(ms?: number): Promise<SipMessage>;
  end(): void;
}

function wrapPeer(socket: net.Socket): StreamPeer {
  const messages: SipMessage[] = [];
  let all = Buffer.alloc(0);
  let buf = Buffer.alloc(0);
  let isClosed = false;
  let taken = 0;
  socket.on('data', (c: Buffer) => {
    all = Buffer.concat([all, c]);
    buf = Buffer.concat([buf, c]);
    for (;;) {
      while (buf.length && (buf[0] === 13 || buf[0] === 10)) buf = buf.subarray(1);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const cl = /\r\nContent-Length: *(\d+)/i.exec(buf.subarray(0, end).toString());
      const total = end + 4 + Number(cl?.[1] ?? 0);
      if (buf.length < total) return;
      const r = parseMessage(buf.subarray(0, total));
      if (r.kind === 'message') messages.push(r.message);
      buf = buf.subarray(total);
    }
  });
  socket.on('close', () => {
    isClosed = true;
  });
  socket.on('error', () => {});
  return {
    socket,
    messages,
    raw: () => all,
    closed: () => isClosed,
    write: (text) =>
      new Promise((resolve, reject) =>
        socket.write(typeof text === 'string' ? text.replace(/\r?\n/g, '\r\n') : text, (e) =>
          e ? reject(e) : resolve(),
        ),
      ),
    async next(ms = 3000) {
      await until(() => messages.length > taken, 'a message on the stream', ms);
      return messages[taken++];
    },
    end: () => socket.destroy(),
  };
}

function connectPeer(port: number): Promise<StreamPeer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(wrapPeer(s)));
    s.once('error', reject);
  });
}

/** A request as a peer writes it (LF line ends; wrapPeer.write makes them CRLF). */
function request(o: {
  method?: string;
  branch: string;
  cseqMethod?: string;
  body?: string;
  contentLength?: number | null;
  port?: number;
}): string {
  const method = o.method ?? 'OPTIONS';
  const body = o.body ?? '';
  const cl =
    o.contentLength === null ? '' : `Content-Length: ${o.contentLength ?? Buffer.byteLength(body)}\n`;
  return `${method} sip:dzvin@127.0.0.1 SIP/2.0
Via: SIP/2.0/TCP 127.0.0.1:${o.port ?? 5999};branch=${o.branch};rport
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=a1
To: <sip:dzvin@127.0.0.1>
Call-ID: ${o.branch}@127.0.0.1
CSeq: 1 ${o.cseqMethod ?? method}
${body ? 'Content-Type: text/plain\n' : ''}${cl}
${body}`;
}

describe('TCP transport: framing and connections on loopback', () => {
  let transport: TcpTransport;
  let got: { message: SipMessage; remote: Remote }[];
  let discards: string[];
  const peers: StreamPeer[] = [];

  async function start(opts: Partial<Parameters<typeof createTcpTransport>[0]> = {}) {
    transport = await createTcpTransport({
      host: '127.0.0.1',
      port: 0,
      onDiscard: (r) => discards.push(r),
      ...opts,
    });
    // Every request is answered 200 on the connection it came on, with its body echoed.
    transport.setHandler((message, remote) => {
      got.push({ message, remote });
      if (message.type === 'request')
        transport
          .sendResponse({ ...createResponse(message, 200, 'OK', { toTag: 'z' }), body: message.body }, remote)
          .catch(() => {});
    });
  }
  async function peer(): Promise<StreamPeer> {
    const p = await connectPeer(transport.address.port);
    peers.push(p);
    return p;
  }

  beforeEach(() => {
    got = [];
    discards = [];
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.end();
    await transport?.close();
  });

  test('pipelined messages in one write are framed by Content-Length, each answered on the same connection', async () => {
    await start();
    const p = await peer();
    await p.write(
      request({ branch: 'z9hG4bKpipe1', body: 'first\r\n\r\nOPTIONS looks like a header end' }) +
        request({ branch: 'z9hG4bKpipe2' }) +
        request({ method: 'INFO', branch: 'z9hG4bKpipe3', body: 'third' }),
    );
    await until(() => got.length === 3, 'three requests');
    assert.deepEqual(
      got.map((g) => (g.message as SipRequest).method),
      ['OPTIONS', 'OPTIONS', 'INFO'],
    );
    assert.equal(got[0].message.body.toString(), 'first\r\n\r\nOPTIONS looks like a header end');
    assert.equal(got[2].message.body.toString(), 'third');
    // The source port is the connection's; the Via got received/rport for it.
    assert.equal(got[0].remote.port, p.socket.localPort);
    assert.equal(getTopVia(got[0].message)!.params.rport, String(p.socket.localPort));
    const answers = [await p.next(), await p.next(), await p.next()] as SipResponse[];
    assert.deepEqual(
      answers.map((r) => [r.status, getTopVia(r)!.params.branch]),
      [
        [200, 'z9hG4bKpipe1'],
        [200, 'z9hG4bKpipe2'],
        [200, 'z9hG4bKpipe3'],
      ],
    );
    assert.equal(answers[2].body.toString(), 'third');
    assert.equal(transport.connections().length, 1, 'no second connection was opened for the answers');
  });

  test('a message split across many writes (inside the headers and the body) arrives once, whole', async () => {
    await start();
    const p = await peer();
    const bytes = Buffer.from(
      request({ branch: 'z9hG4bKsplit', body: 'x'.repeat(300) }).replace(/\r?\n/g, '\r\n'),
    );
    const cuts = [0, 5, 40, 41, 120, bytes.length - 200, bytes.length - 1, bytes.length];
    for (let i = 1; i < cuts.length; i++) {
      await p.write(bytes.subarray(cuts[i - 1], cuts[i]));
      await sleep(15);
      if (i < cuts.length - 1)
        assert.equal(got.length, 0, `nothing delivered after ${cuts[i]} of ${bytes.length} octets`);
    }
    await until(() => got.length === 1, 'the request');
    assert.equal(got[0].message.body.toString(), 'x'.repeat(300));
    assert.equal((await p.next()).type, 'response');
    await sleep(50);
    assert.equal(got.length, 1);
  });

  test('a request without Content-Length is answered 400 and the connection closed', async () => {
    await start();
    const p = await peer();
    await p.write(request({ branch: 'z9hG4bKnocl', contentLength: null }));
    const res = (await p.next()) as SipResponse;
    assert.equal(res.status, 400);
    assert.equal(res.reason, 'Missing Content-Length');
    assert.equal(getCSeq(res)?.method, 'OPTIONS');
    await until(() => p.closed(), 'the connection to close');
    assert.equal(got.length, 0, 'nothing reached the handler');
    assert.ok(discards.some((d) => d.includes('Missing Content-Length')));
  });

  test('a message over maxMessageBytes is answered 513 and the connection closed; a header block that never ends too', async () => {
    await start({ maxMessageBytes: 2048 });
    const p = await peer();
    // Refused from its Content-Length alone, before the body is even sent.
    await p.write(request({ branch: 'z9hG4bKbig', contentLength: 100_000 }));
    const res = (await p.next()) as SipResponse;
    assert.equal(res.status, 513);
    await until(() => p.closed(), 'the connection to close');

    const q = await peer();
    await q.write(`OPTIONS sip:dzvin@127.0.0.1 SIP/2.0\r\nX-Junk: ${'y'.repeat(4000)}`);
    await until(() => q.closed(), 'the endless header connection to close');
    assert.equal(q.messages.length, 0);
    assert.equal(got.length, 0);
  });

  test('a malformed request that frames is answered 400 on an open connection; CRLFCRLF is answered CRLF', async () => {
    await start();
    const p = await peer();
    await p.write(request({ branch: 'z9hG4bKbadcseq', cseqMethod: 'INVITE' }));
    const res = (await p.next()) as SipResponse;
    assert.equal(res.status, 400);
    assert.equal(res.reason, 'CSeq method does not match');
    await p.write('\r\n\r\n');
    await until(() => p.raw().toString().endsWith('\r\n\r\n\r\n'), 'the pong (a CRLF after the 400)');
    await p.write(request({ branch: 'z9hG4bKafter' }));
    assert.equal(((await p.next()) as SipResponse).status, 200);
    assert.equal(p.closed(), false);
    await p.write(Buffer.from('\x00\xffgarbage\r\nContent-Length: 0\r\n\r\n'));
    await p.write(request({ branch: 'z9hG4bKafter2' }));
    assert.equal(
      ((await p.next()) as SipResponse).status,
      200,
      'garbage that frames is dropped, the stream goes on',
    );
  });

  test('requests reuse an open connection to the peer; a keep-alive peer is reconnected after a loss', async () => {
    const accepted: StreamPeer[] = [];
    const server = net.createServer((s) => accepted.push(wrapPeer(s)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const edge = { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
    const opened: string[] = [];
    try {
      await start({
        keepAlive: [edge],
        keepAliveMs: 100,
        onConnection: (e, _r, d) => opened.push(`${e}-${d}`),
      });
      await until(() => accepted.length === 1, 'the kept connection');
      const options = (b: string): SipRequest => {
        const r = parseMessage(
          Buffer.from(request({ branch: b, port: transport.address.port }).replace(/\n/g, '\r\n')),
        );
        assert.equal(r.kind, 'message');
        return r.message as SipRequest;
      };
      await transport.send(options('z9hG4bKout1'), edge);
      await transport.send(options('z9hG4bKout2'), edge);
      await until(() => accepted[0].messages.length === 2, 'both requests on the kept connection');
      assert.equal(accepted.length, 1);
      await until(() => accepted[0].raw().includes('\r\n\r\n\r\n\r\n'), 'a CRLFCRLF keep-alive ping', 2000);
      accepted[0].end(); // the peer drops it
      await until(() => accepted.length === 2, 'the reconnection', 4000);
      await transport.send(options('z9hG4bKout3'), edge);
      await until(() => accepted[1].messages.length === 1, 'the request on the new connection');
      assert.deepEqual(opened.slice(0, 3), ['open-out', 'close-out', 'open-out']);
    } finally {
      for (const a of accepted) a.end();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('an idle connection is closed after idleTimeoutMs; sending to a closed port fails, never throws', async () => {
    await start({ idleTimeoutMs: 200 });
    const p = await peer();
    await p.write(request({ branch: 'z9hG4bKidle' }));
    await p.next();
    await until(() => p.closed(), 'the idle connection to close', 2000);
    assert.ok(discards.includes('idle connection closed'));
    const gone = net.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', () => r()));
    const port = (gone.address() as net.AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const r = parseMessage(Buffer.from(request({ branch: 'z9hG4bKx' }).replace(/\n/g, '\r\n')));
    assert.equal(r.kind, 'message');
    await assert.rejects(
      transport.send((r as { message: SipMessage }).message, { address: '127.0.0.1', port }),
    );
  });
});

describe('transactions over TCP: no retransmissions, reliable-transport timers', () => {
  let clock: ManualClock;
  let transport: TcpTransport;
  let layer: TransactionLayer;
  let requests: NewRequest[];
  let server: net.Server;
  let accepted: StreamPeer[];
  let peerPort: number;

  beforeEach(async () => {
    clock = createManualClock();
    requests = [];
    accepted = [];
    server = net.createServer((s) => accepted.push(wrapPeer(s)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    peerPort = (server.address() as net.AddressInfo).port;
    transport = await createTcpTransport({ host: '127.0.0.1', port: 0 });
    layer = createTransactionLayer({ transport, timers: clock, onRequest: (r) => requests.push(r) });
  });
  afterEach(async () => {
    layer.close();
    await transport.close();
    for (const a of accepted) a.end();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const toPeer = (method: string): SipRequest => ({
    type: 'request',
    method,
    uri: `sip:carol@127.0.0.1:${peerPort};transport=tcp`,
    headers: [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: '<sip:bob@127.0.0.1>;tag=bob1' },
      { name: 'To', value: `<sip:carol@127.0.0.1:${peerPort}>` },
      { name: 'Call-ID', value: `${method.toLowerCase()}-${Math.random()}@127.0.0.1` },
      { name: 'CSeq', value: `1 ${method}` },
      { name: 'Contact', value: `<sip:bob@${transport.sentBy}${transport.uriParams}>` },
    ],
    body: Buffer.alloc(0),
  });
  const recorder = (): ClientHandlers & { responses: number[]; ended: EndReason[] } => {
    const responses: number[] = [];
    const ended: EndReason[] = [];
    return { responses, ended, onResponse: (r) => responses.push(r.status), onEnd: (e) => ended.push(e) };
  };
  /** Advances the manual clock in steps, letting the sockets deliver between them. */
  async function advance(ms: number, step = 250) {
    for (let t = 0; t < ms; t += step) {
      clock.advance(step);
      await sleep(2);
    }
    await sleep(50);
  }

  test('an INVITE is sent once (no timer A), times out by timer B; a non-INVITE once (no timer E), F', async () => {
    const inv = recorder();
    layer.request(toPeer('INVITE'), { address: '127.0.0.1', port: peerPort }, inv);
    const opt = recorder();
    layer.request(toPeer('OPTIONS'), { address: '127.0.0.1', port: peerPort }, opt);
    await until(() => accepted.length === 1 && accepted[0].messages.length === 2, 'both requests');
    const sent = accepted[0].messages[0] as SipRequest;
    assert.match(getHeader(sent, 'Via')!, /^SIP\/2\.0\/TCP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
    assert.match(getHeader(sent, 'Contact')!, /;transport=tcp>$/);
    // Over UDP A and E would have fired at 0.5, 1, 2, 4, 8, 16 s…
    await advance(31_000);
    assert.equal(accepted[0].messages.length, 2, 'nothing was retransmitted');
    assert.deepEqual([inv.ended, opt.ended], [[], []]);
    await advance(1500);
    assert.deepEqual([inv.ended, opt.ended], [['timeout'], ['timeout']]);
    assert.equal(accepted.length, 1);
  });

  test('a final response ends a client transaction at once (timers D and K are 0)', async () => {
    const inv = recorder();
    layer.request(toPeer('INVITE'), { address: '127.0.0.1', port: peerPort }, inv);
    const opt = recorder();
    layer.request(toPeer('OPTIONS'), { address: '127.0.0.1', port: peerPort }, opt);
    await until(() => accepted[0]?.messages.length === 2, 'both requests');
    const [invite, options] = accepted[0].messages as SipRequest[];
    await accepted[0].write(serializeMessage(createResponse(invite, 486, 'Busy Here', { toTag: 'c' })));
    await accepted[0].write(serializeMessage(createResponse(options, 200, 'OK', { toTag: 'c' })));
    await until(() => inv.ended.length === 1 && opt.ended.length === 1, 'both to end');
    assert.deepEqual([inv.responses, opt.responses], [[486], [200]]);
    assert.deepEqual(layer.counts(), { server: 0, client: 0 }, 'no clock advanced: D and K were 0');
    // The ACK for the 486 went on the same connection.
    await until(() => accepted[0].messages.length === 3, 'the ACK');
    assert.equal((accepted[0].messages[2] as SipRequest).method, 'ACK');
  });

  test('a server INVITE final response is not retransmitted (no timer G); ACK ends it at once (timer I is 0)', async () => {
    const p = await connectPeer(transport.address.port);
    try {
      await p.write(request({ method: 'INVITE', branch: 'z9hG4bKsrv1' }));
      await until(() => requests.length === 1, 'the INVITE');
      await advance(200); // unanswered for 200 ms: the 100 Trying (§17.2.1)
      assert.equal(((await p.next()) as SipResponse).status, 100);
      requests[0].tx.reply(486, 'Busy Here', { toTag: 'b1' });
      assert.equal(((await p.next()) as SipResponse).status, 486);
      await advance(16_000);
      assert.equal(p.messages.length, 2, 'the 486 was sent once');
      assert.equal(layer.counts().server, 1, 'still waiting for the ACK (timer H)');
      await p.write(`ACK sip:dzvin@127.0.0.1 SIP/2.0
Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKsrv1;rport
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=a1
To: <sip:dzvin@127.0.0.1>;tag=b1
Call-ID: z9hG4bKsrv1@127.0.0.1
CSeq: 1 ACK
Content-Length: 0

`);
      await until(() => layer.counts().server === 0, 'the transaction to end on the ACK');
      // A non-INVITE ends as its final response is sent (timer J is 0).
      await p.write(request({ branch: 'z9hG4bKsrv2' }));
      await until(() => requests.length === 2, 'the OPTIONS');
      requests[1].tx.reply(200, 'OK', { toTag: 'b2' });
      assert.equal(layer.counts().server, 0);
      assert.equal(((await p.next()) as SipResponse).status, 200);
    } finally {
      p.end();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// With real peers: Kamailio (dzvin.cfg, B2BUA_TRANSPORT=tcp), rtpengine, baresip over TCP.

const DOMAIN = 'tcp.localhost';
const PASSWORD = 'softphone-001-over-tcp';
const TRUNK = '+380443334410';
const NUMBER = '+380501112299';
const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();

// biome-ignore lint/suspicious/noExplicitAny: REST and RPC answers are checked key by key
type Json = any;

// Dzvin's leg over TCP, and over UDP (the default) with the phone still on TCP: Kamailio crosses
// transports between its two sockets.
for (const leg of ['tcp', 'udp'] as const)
  describe(`a softphone over TCP, through Kamailio, with Dzvin’s leg to Kamailio over ${leg.toUpperCase()}`, {
    skip,
  }, () => {
    let rtp: Rtpengine;
    let kam: Kamailio;
    let server: TestServer;
    let s: Session;
    let phone: Baresip;
    let accountId = 0;

    before(async () => {
      ({ rtp, kam, server } = await startSipStack({ transport: leg }));
      s = await server.account(DOMAIN);
      const account = (await server.built.store.accounts.byDomain(DOMAIN))!;
      accountId = account.id;
      const dir = server.built.services.directory;
      const e001 = (await server.built.store.directory.employees.byExt(account.id, '001'))!;
      await dir.trunks.create(account, {
        number: TRUNK,
        name: 'Main',
        destination: { type: 'employee', id: e001.id },
        isDefault: true,
      });
      assert.equal((await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 60, maxSec: 60 })).status, 204);
      const set = await s.admin('PUT', `/api/v1/employees/${e001.id}/sip-password`, { password: PASSWORD });
      assert.equal(set.status, 204, set.text);
      phone = await startBaresip({
        user: '001',
        domain: DOMAIN,
        password: PASSWORD,
        proxyPort: kam.sipPort,
        answermode: 'auto',
        toneHz: 1000,
        transport: 'tcp',
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

    const active = async (): Promise<Json[]> => (await s.get('/rest/calls/active/v3')).json();
    const record = (uuid: string) =>
      untilAsync(async () => {
        const now = Date.now();
        const r = await s.get(
          `/rest/calls/company.api?timeFrom=${now - 600_000}&timeTo=${now + 60_000}&limit=50`,
        );
        return (r.json() as Json[]).find((c) => c.uuid === uuid);
      }, `the history record of ${uuid}`);
    /**
     * Kamailio's own view of its TCP connections (core.tcp_list): `src_*` is the far end,
     * `dst_*` Kamailio's end (its listening port for accepted ones, 0 for those it opened).
     */
    async function kamailioTcp(): Promise<Json[]> {
      const r = await fetch(kam.rpcUrl, {
        method: 'POST',
        body: JSON.stringify({ jsonrpc: '2.0', method: 'core.tcp_list', id: 1 }),
      });
      const body = (await r.json()) as Json;
      assert.ok(body.result, `core.tcp_list: ${JSON.stringify(body)}`);
      return Array.isArray(body.result) ? body.result : [body.result];
    }
    const tcpTransport = () => server.built.sip!.transport as TcpTransport;

    test('the phone registers over TCP: Kamailio keeps its binding on its TCP socket (and Dzvin, on TCP, a connection to the edge)', async () => {
      const [reg] = (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`);
      assert.ok(reg, 'registered');
      assert.match(reg.socket, new RegExp(`^tcp:127\\.0\\.0\\.1:${kam.sipPort}$`));
      assert.match(reg.contact, /;transport=tcp/i);
      // Where Kamailio will reach it: the phone's own connection (its source port), not a new one.
      assert.match(reg.received ?? '', /^sip:127\.0\.0\.1:\d+;transport=tcp$/i);
      const kamConns = await kamailioTcp();
      assert.ok(
        kamConns.some((c) => c.dst_port === kam.sipPort),
        `Kamailio lists the phone's connection: ${JSON.stringify(kamConns)}`,
      );
      if (leg === 'udp') {
        assert.equal(server.built.sip!.transport.protocol, 'UDP');
        assert.ok(!kamConns.some((c) => c.dst_port === kam.edgePort), 'no TCP between Dzvin and Kamailio');
        return;
      }
      assert.equal(tcpTransport().protocol, 'TCP');
      const out = tcpTransport()
        .connections()
        .find((c) => c.direction === 'out' && c.remote.port === kam.edgePort);
      assert.ok(out, 'Dzvin’s kept connection to Kamailio’s edge');
      // Kamailio sees the same connection from its side.
      assert.ok(
        kamConns.some((c) => c.dst_port === kam.edgePort && c.src_port === out.local.port),
        `Kamailio lists Dzvin's connection: ${JSON.stringify(kamConns)}`,
      );
    });

    test('a simulated caller reaches 001: INVITE to the phone over TCP, media both ways through rtpengine, a REST hangup sends the BYE; the history has it', async () => {
      const from = phone.events.length;
      const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234567', trunk: TRUNK });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the phone to answer', {
        from,
        ms: 10_000,
      });
      await untilAsync(
        async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
        'the call bridged',
      );
      const leg = await untilAsync(() => {
        const [l] = server.built.sip!.driver.legs();
        return l && l.received >= 50 && l.sent >= 50 && l;
      }, 'RTP both ways');
      const ng = rtp.client();
      try {
        assert.equal((await ng.query({ 'call-id': leg.callId })).result, 'ok', 'rtpengine anchors the media');
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
      // The INVITE and the BYE reached the phone on the connection it registered over: Kamailio
      // never connected to the phone's listening port (a phone behind NAT has none reachable).
      const kamConns = await kamailioTcp();
      assert.ok(!kamConns.some((k) => k.src_port === phone.sipPort), JSON.stringify(kamConns));
      assert.ok(kamConns.some((k) => k.dst_port === kam.sipPort));
    });

    test('001 dials out over TCP: Kamailio relays the INVITE to Dzvin (over TCP when Dzvin’s leg is), the phone’s BYE ends the call; the history has it', async () => {
      assert.equal(
        (
          await s.admin('PUT', `/api/v1/sim/behaviours/external/${encodeURIComponent(NUMBER)}`, {
            mode: 'answer',
            answerAfterSec: 1,
            probability: 1,
          })
        ).status,
        204,
      );
      const from = phone.events.length;
      assert.ok((await phone.command('dial', `sip:0501112299@${DOMAIN}`)).ok);
      const live = await untilAsync(
        async () => (await active()).find((c) => c.lgDirection === 2),
        'the outgoing call',
      );
      assert.equal(live.leg.ext, '001');
      await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'established at the phone', {
        from,
        ms: 10_000,
      });
      await untilAsync(
        async () => (await active()).some((c) => c.uuid === live.uuid && c.lastEvent === 'call.bridge'),
        'bridged',
      );
      if (leg === 'tcp') {
        // Kamailio opened its own connection to the B2BUA's TCP port for the INVITE.
        assert.ok(
          tcpTransport()
            .connections()
            .some((c) => c.direction === 'in'),
          'a connection from Kamailio to the B2BUA',
        );
        const b2bua = server.built.sip!.transport.address.port;
        const inbound = tcpTransport()
          .connections()
          .filter((c) => c.direction === 'in');
        const kamConns = await kamailioTcp();
        assert.ok(
          inbound.length > 0 && kamConns.some((k) => k.src_port === b2bua),
          `Kamailio's connection to the B2BUA's TCP port: ${JSON.stringify(kamConns)}`,
        );
      }
      await sleep(300);
      assert.ok((await phone.command('hangup')).ok);
      await untilAsync(async () => !(await active()).some((c) => c.uuid === live.uuid), 'the call over');
      const c = await record(live.uuid);
      assert.equal(c.disposition, 0);
      assert.equal(c.otherLegNum, NUMBER);
      await untilAsync(() => server.built.sip!.driver.originated().length === 0, 'no call of the phone left');
    });

    // Dzvin's leg over TCP only (over UDP there is no connection to lose).
    if (leg === 'tcp')
      test('Kamailio restarts: Dzvin reconnects its TCP leg by itself, the phone registers again and is called', async () => {
        const ports = { sip: kam.sipPort, edge: kam.edgePort, rpc: kam.rpcPort };
        const before = tcpTransport()
          .connections()
          .find((c) => c.direction === 'out' && c.remote.port === kam.edgePort);
        assert.ok(before);
        await kam.stop();
        await untilAsync(
          () =>
            !tcpTransport()
              .connections()
              .some((c) => c.direction === 'out'),
          'Dzvin to notice the lost connection',
        );
        kam = await startKamailio({ ports, b2buaPort: kam.b2buaPort, defines: { B2BUA_TRANSPORT: 'tcp' } });
        const after = await untilAsync(
          () =>
            tcpTransport()
              .connections()
              .find((c) => c.direction === 'out' && c.remote.port === ports.edge),
          'the reconnection',
          15_000,
        );
        assert.notEqual(after.local.port, before.local.port, 'a new connection');
        // The new Kamailio has no registrations: the phone registers again (Dzvin re-pushes the HA1s).
        await phone.unregister();
        await untilAsync(
          async () => (await kam.control.credentials()).has(`001@${DOMAIN}`),
          'the credentials re-pushed',
        );
        await phone.register();
        await untilRegistered(server, accountId, '001');
        const from = phone.events.length;
        const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234570', trunk: TRUNK });
        assert.equal(placed.status, 201, placed.text);
        await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the phone to answer', {
          from,
          ms: 10_000,
        });
        const kamConns = await kamailioTcp();
        assert.ok(
          kamConns.some((c) => c.dst_port === ports.edge && c.src_port === after.local.port),
          `the call went over the new connection: ${JSON.stringify(kamConns)}`,
        );
      });
  });

describe('DZVIN_SIP=on with DZVIN_SIP_TRANSPORT=tcp: the Kamailio Dzvin starts relays to the B2BUA over TCP', {
  skip: kamailioSkipReason() || rtpengineSkipReason(),
}, () => {
  test('an OPTIONS from a phone over UDP reaches the B2BUA port over TCP; its answer goes back to the phone', async () => {
    const config = parseConfig({ DZVIN_SIP: 'on', DZVIN_SIP_TRANSPORT: 'tcp' }).sipManaged!;
    const portMin = 20_000 + 2 * Math.floor(Math.random() * 4000);
    const managed = await startManagedSip({
      ...config,
      dir: makeDaemonDir('dzvin-managed-tcp-'),
      sipPort: 0,
      edgePort: 0,
      b2buaPort: 0,
      rpcPort: 0,
      ngPort: 0,
      rtpPorts: { min: portMin, max: portMin + 19 },
      kamailioBin: '/usr/sbin/kamailio',
    });
    const accepted: StreamPeer[] = [];
    const b2bua = net.createServer((sock) => accepted.push(wrapPeer(sock)));
    const phone = await startUdpPeer();
    try {
      assert.equal(managed.sip.transport, 'tcp');
      await new Promise<void>((r) => b2bua.listen(managed.sip.listen.port, '127.0.0.1', () => r()));
      phone.send(
        buildRequest({
          method: 'OPTIONS',
          uri: 'sip:0501234567@tcp.localhost',
          via: { address: '127.0.0.1', port: phone.port },
          from: 'sip:someone@elsewhere.example',
          to: 'sip:0501234567@tcp.localhost',
        }),
        managed.phones.port,
      );
      await untilAsync(() => accepted[0]?.messages.length === 1, 'the OPTIONS at the B2BUA over TCP');
      const relayed = accepted[0].messages[0] as SipRequest;
      assert.equal(relayed.method, 'OPTIONS');
      const edgeVia = new RegExp(`^SIP/2\\.0/TCP 127\\.0\\.0\\.1:${managed.sip.edge.port};`);
      assert.match(getHeader(relayed, 'Via')!, edgeVia);
      await accepted[0].write(serializeMessage(createResponse(relayed, 200, 'OK', { toTag: 'b2bua' })));
      const ok = await phone.waitFor((m) => m.status === 200, 'the 200 back at the phone');
      assert.equal(header(ok, 'CSeq'), '1 OPTIONS');
    } finally {
      for (const a of accepted) a.end();
      await new Promise<void>((r) => b2bua.close(() => r()));
      await phone.close();
      await managed.kamailio.stop();
      await managed.rtpengine.stop();
      managed.release();
    }
  });
});
