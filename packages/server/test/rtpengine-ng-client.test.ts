// The NG client's transport against a scripted UDP peer on loopback (no rtpengine needed): how
// replies are matched to requests, retransmission, timeouts, errors and close(). What rtpengine
// itself answers is in rtpengine.test.ts.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { type BencodeDict, decode, encode } from '../src/engine/sip/media/bencode.ts';
import { createNgClient, retransmitSchedule } from '../src/engine/sip/media/ng-client.ts';
import { NgError, NgRejectedError, NgTimeoutError } from '../src/engine/sip/media/ng-errors.ts';
import { freeUdpPort } from './support/rtpengine.ts';

interface Received {
  cookie: string;
  body: BencodeDict;
  raw: Buffer;
  /** Where the request came from (the client's socket). */
  from: dgram.RemoteInfo;
  reply(dict: BencodeDict | Buffer, cookie?: string): void;
}

/** A UDP peer on 127.0.0.1 that hands every datagram to `onMessage`. */
async function startPeer(onMessage: (m: Received) => void) {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const seen: Received[] = [];
  socket.on('message', (raw, rinfo) => {
    const space = raw.indexOf(0x20);
    const m: Received = {
      cookie: raw.toString('latin1', 0, space),
      body: decode(raw.subarray(space + 1)) as BencodeDict,
      raw,
      from: rinfo,
      reply(dict, cookie = m.cookie) {
        const body = Buffer.isBuffer(dict) ? dict : encode(dict);
        socket.send(Buffer.concat([Buffer.from(`${cookie} `), body]), rinfo.port, rinfo.address);
      },
    };
    seen.push(m);
    onMessage(m);
  });
  return {
    port: socket.address().port,
    seen,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

async function peerAndClient(onMessage: (m: Received) => void, options: { timeoutMs?: number } = {}) {
  const peer = await startPeer(onMessage);
  const client = createNgClient({ port: peer.port, timeoutMs: 2000, retransmitMs: 50, ...options });
  cleanups.push(peer.close, client.close);
  return { peer, client };
}

describe('NG client transport', () => {
  test('the retransmission schedule doubles from the first wait up to the cap, within the total', () => {
    assert.deepEqual(retransmitSchedule(250, 1000, 3000), [250, 750, 1750, 2750]);
    assert.deepEqual(retransmitSchedule(100, 100, 350), [100, 200, 300]);
    assert.deepEqual(retransmitSchedule(500, 1000, 400), []);
  });

  test('a request is `COOKIE SP bencode` with the command, and its reply is matched by the cookie', async () => {
    const { peer, client } = await peerAndClient((m) => {
      m.reply({ result: 'ok', sdp: 'v=0\r\n' }, 'not-the-cookie'); // someone else's reply: ignored
      m.reply(Buffer.from('garbage'), 'another'); // garbage for nobody: ignored
      m.reply({ result: 'ok', sdp: `answer to ${m.body['call-id']}` });
    });
    const reply = await client.offer({ 'call-id': 'c1', 'from-tag': 'a', sdp: 'v=0', replace: ['origin'] });
    assert.equal(reply.sdp, 'answer to c1');
    const [m] = peer.seen;
    assert.match(m.cookie, /^[A-Za-z0-9_-]{8,}$/, 'a cookie without spaces');
    assert.deepEqual(m.body, {
      'call-id': 'c1',
      command: 'offer',
      'from-tag': 'a',
      replace: ['origin'],
      sdp: 'v=0',
    });
  });

  test('every request has its own random cookie, and concurrent replies in any order reach their own requests', async () => {
    const held: Received[] = [];
    const { peer, client } = await peerAndClient((m) => {
      held.push(m);
      if (held.length === 3)
        for (const h of held.reverse()) h.reply({ result: 'ok', echo: h.body['call-id'] });
    });
    const replies = await Promise.all(['x', 'y', 'z'].map((id) => client.query({ 'call-id': id })));
    assert.deepEqual(
      replies.map((r) => r.echo),
      ['x', 'y', 'z'],
    );
    assert.equal(new Set(peer.seen.map((m) => m.cookie)).size, 3);
  });

  test('an unanswered request is sent again, byte for byte with the same cookie, until a reply comes', async () => {
    const { peer, client } = await peerAndClient((m) => {
      if (peer.seen.length === 3) m.reply({ result: 'pong' });
    });
    await client.ping();
    assert.equal(peer.seen.length, 3);
    assert.ok(peer.seen.every((m) => m.raw.equals(peer.seen[0].raw)));
  });

  test('a duplicate reply (to a retransmission) after the first is ignored', async () => {
    const { client } = await peerAndClient((m) => {
      m.reply({ result: 'ok', n: 1 });
      m.reply({ result: 'ok', n: 2 });
    });
    assert.equal((await client.request('list')).n, 1);
    assert.equal((await client.request('list')).n, 1, 'the client still works after the duplicate');
  });

  test('`result: error` is an NgRejectedError carrying rtpengine’s error-reason', async () => {
    const { client } = await peerAndClient((m) =>
      m.reply({ result: 'error', 'error-reason': 'Unknown call-id' }),
    );
    await assert.rejects(
      client.answer({ 'call-id': 'gone', 'from-tag': 'a', 'to-tag': 'b', sdp: 'v=0' }),
      (e: unknown) =>
        e instanceof NgRejectedError &&
        e.code === 'REJECTED' &&
        e.reason === 'Unknown call-id' &&
        e.command === 'answer',
    );
  });

  test('a reply to our cookie that is not an NG reply is a PROTOCOL error, not a hang', async () => {
    const replies = [
      Buffer.from('d6:result'),
      encode(['not', 'a', 'dict']),
      encode({ no: 'result' }),
      encode({ result: 'ok' }),
    ];
    const { client } = await peerAndClient((m) => m.reply(replies.shift()!));
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        client.request('query'),
        (e: unknown) => e instanceof NgError && e.code === 'PROTOCOL',
      );
    }
    // An offer reply without an SDP is a protocol error too.
    await assert.rejects(client.offer({ 'call-id': 'c', 'from-tag': 'a', sdp: 'v=0' }), /has no SDP/);
  });

  test('a reply with the right cookie from another port is ignored', async () => {
    const impostor = dgram.createSocket('udp4');
    await new Promise<void>((r) => impostor.bind(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => impostor.close(() => r())));
    // The impostor knows the cookie (as an on-path attacker would) and answers before rtpengine.
    const { client } = await peerAndClient((m) => {
      const forged = Buffer.concat([Buffer.from(`${m.cookie} `), encode({ result: 'ok', from: 'impostor' })]);
      impostor.send(forged, m.from.port, m.from.address, () => {
        setTimeout(() => m.reply({ result: 'ok', from: 'rtpengine' }), 50);
      });
    });
    assert.equal((await client.request('list')).from, 'rtpengine');
  });

  test('with nobody listening, a request fails with NgTimeoutError within its total timeout', async () => {
    const client = createNgClient({ port: await freeUdpPort(), timeoutMs: 400, retransmitMs: 100 });
    cleanups.push(client.close);
    const started = Date.now();
    const error = await client.ping().then(
      () => assert.fail('a ping to nobody cannot succeed'),
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    assert.ok(error instanceof NgTimeoutError, String(error));
    assert.equal(error.code, 'TIMEOUT');
    assert.equal(error.attempts, 3, 'sent at 0, 100 and 300 ms');
    assert.ok(took >= 390 && took < 1500, `failed after ${took} ms`);
    // The per-request override.
    await assert.rejects(client.request('ping', {}, { timeoutMs: 50 }), NgTimeoutError);
  });

  test('latencyMs: 0 before any reply, then a moving average over about 20 replies in which a timeout counts as its whole wait', async () => {
    const client = createNgClient({ port: await freeUdpPort(), timeoutMs: 100, retransmitMs: 1000 });
    cleanups.push(client.close);
    assert.equal(client.latencyMs(), 0);
    assert.equal(client.inFlight(), 0);
    const waiting = client.ping();
    assert.equal(client.inFlight(), 1);
    await assert.rejects(waiting, NgTimeoutError);
    assert.equal(client.inFlight(), 0);
    assert.equal(
      client.latencyMs(),
      100 / 20,
      'one timeout of 100 ms moves the average a twentieth of the way',
    );
  });

  test('close() fails what is waiting with CLOSED, and later requests at once', async () => {
    const { client } = await peerAndClient(() => {});
    const waiting = client.ping();
    await client.close();
    await assert.rejects(waiting, (e: unknown) => e instanceof NgError && e.code === 'CLOSED');
    await assert.rejects(
      client.query({ 'call-id': 'c' }),
      (e: unknown) => e instanceof NgError && e.code === 'CLOSED',
    );
    await client.close();
  });

  test('an option that bencode cannot carry is rejected before anything is sent', async () => {
    const { peer, client } = await peerAndClient(() => {});
    await assert.rejects(
      client.request('offer', { ptime: 20.5 }),
      (e: unknown) => e instanceof NgError && e.code === 'PROTOCOL',
    );
    assert.equal(peer.seen.length, 0);
  });
});
