// Dzvin's NG client against a real rtpengine (Debian's rtpengine-daemon, userspace forwarding),
// started by the test on loopback. Two UDP sockets on 127.0.0.2 and 127.0.0.3 play the two phones
// of a call: their SDPs go through offer/answer, then real 20 ms PCMA packets go through rtpengine
// both ways. Skips loudly without rtpengine, unless DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeG711, encodeG711 } from '../src/engine/sip/media/g711.ts';
import type { NgClient } from '../src/engine/sip/media/ng-client.ts';
import { createNgClient } from '../src/engine/sip/media/ng-client.ts';
import { NgRejectedError, NgTimeoutError } from '../src/engine/sip/media/ng-errors.ts';
import type { NgSdpOptions } from '../src/engine/sip/media/ng-types.ts';
import { firstAudioStream, g711Codecs } from '../src/engine/sip/media/sdp-audio.ts';
import { freeUdpPort, type Rtpengine, rtpengineSkipReason, startRtpengine } from './support/rtpengine.ts';
import { createRtpPhone, type RtpPhone } from './support/rtpengine-phone.ts';
import { sleep, until } from './support/wait.ts';
import { rms, toneWav, zeroCrossingHz } from './support/wav.ts';

/** What the B2BUA will send with every offer and answer: rtpengine owns every address in the SDP. */
const MEDIA: NgSdpOptions = { replace: ['origin', 'session-connection'], ICE: 'remove' };

const OPUS_ONLY =
  'm=audio {port} RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n';

/** A 20 ms PCMA payload that says which phone and which packet it is. */
const marked = (phone: number) => (i: number) => Buffer.alloc(160, (phone << 6) | (i & 0x3f));

const skip = rtpengineSkipReason();

describe('rtpengine over NG, with real RTP', { skip }, () => {
  let engine: Rtpengine;
  let ng: NgClient;
  const phones: RtpPhone[] = [];
  const phone = async (address: string) => {
    const p = await createRtpPhone(address);
    phones.push(p);
    return p;
  };

  /** A call between two new phones through offer/answer; the ports each must send to. */
  async function call(offerOptions: NgSdpOptions = MEDIA, answerOptions: NgSdpOptions = MEDIA) {
    const a = await phone('127.0.0.2');
    const b = await phone('127.0.0.3');
    const ids = {
      'call-id': `test-${randomUUID()}`,
      'from-tag': `a-${randomUUID()}`,
      'to-tag': `b-${randomUUID()}`,
    };
    const offered = await ng.offer({
      'call-id': ids['call-id'],
      'from-tag': ids['from-tag'],
      sdp: a.sdp(),
      ...offerOptions,
    });
    const answered = await ng.answer({ ...ids, sdp: b.sdp(), ...answerOptions });
    return {
      a,
      b,
      ids,
      offered,
      answered,
      /** Where B sends: the port in the SDP B was given (the offer's rewrite). */
      toA: firstAudioStream(offered.sdp)!.port,
      /** Where A sends: the port in the SDP A was given (the answer's rewrite). */
      toB: firstAudioStream(answered.sdp)!.port,
    };
  }

  before(async () => {
    engine = await startRtpengine();
    ng = engine.client();
  });

  after(async () => {
    await ng?.close();
    for (const p of phones) await p.close();
    await engine?.stop();
  });

  test('ping answers pong, from a daemon that runs as nobody when the tests run as root', async () => {
    await ng.ping();
    if (process.getuid?.() === 0) {
      const status = fs.readFileSync(`/proc/${engine.pid}/status`, 'utf8');
      assert.match(status, /^Name:\s+rtpengine$/m, 'the PID is the daemon itself (setpriv execs it)');
      assert.match(status, /^Uid:\s+65534\s/m, 'nobody');
    }
  });

  test("offer and answer rewrite o=, c= and m= to rtpengine's address and its own ports, keeping G.711", async () => {
    const { a, b, offered, answered } = await call();
    for (const [reply, original] of [
      [offered.sdp, a],
      [answered.sdp, b],
    ] as const) {
      const audio = firstAudioStream(reply)!;
      assert.equal(audio.address, '127.0.0.1', `c= is rtpengine's interface:\n${reply}`);
      assert.match(reply, /^o=- \d+ \d+ IN IP4 127\.0\.0\.1\r$/m, 'o= replaced (replace: origin)');
      assert.doesNotMatch(
        reply,
        new RegExp(original.address.replaceAll('.', '\\.')),
        "no trace of the phone's address",
      );
      assert.ok(
        audio.port >= engine.portMin && audio.port <= engine.portMax && audio.port !== original.port,
        `m= port ${audio.port} is one of rtpengine's (${engine.portMin}–${engine.portMax})`,
      );
      assert.equal(audio.protocol, 'RTP/AVP');
      assert.deepEqual(g711Codecs(reply), ['PCMA', 'PCMU']);
      assert.deepEqual(
        audio.formats.map((f) => f.codec),
        ['PCMA', 'PCMU', 'telephone-event'],
      );
    }
    assert.notEqual(firstAudioStream(offered.sdp)!.port, firstAudioStream(answered.sdp)!.port);
  });

  test('`transport-protocol` (the NG name, with a hyphen) rewrites the m= protocol', async () => {
    const { offered, answered } = await call({ ...MEDIA, 'transport-protocol': 'RTP/AVPF' });
    assert.equal(firstAudioStream(offered.sdp)!.protocol, 'RTP/AVPF');
    assert.equal(firstAudioStream(answered.sdp)!.protocol, 'RTP/AVP', 'the offerer keeps what it offered');
  });

  test('RTP from each phone reaches the other through rtpengine: payloads and sequence numbers; query counts it; delete ends it', async () => {
    const { a, b, ids, toA, toB } = await call();
    const [sentByA, sentByB] = await Promise.all([a.send(toB, 50, marked(1)), b.send(toA, 50, marked(2))]);
    await a.waitFor(50, "B's 50 packets at A");
    await b.waitFor(50, "A's 50 packets at B");

    for (const [sent, at, from] of [
      [sentByA, b, toB],
      [sentByB, a, toA],
    ] as const) {
      assert.deepEqual(
        at.received.map((p) => p.seq),
        sent.map((p) => p.seq),
        'every packet, in order, its sequence number unchanged (no transcoding: plain relay)',
      );
      for (const [i, p] of at.received.entries()) {
        assert.equal(p.pt, 8);
        assert.ok(p.payload.equals(sent[i].payload), `packet ${i}'s 160 bytes arrive as sent`);
        assert.deepEqual(p.from, { address: '127.0.0.1', port: from === toB ? toA : toB });
      }
    }
    const q = await ng.query({ 'call-id': ids['call-id'] });
    assert.equal(q.result, 'ok');
    assert.deepEqual(Object.keys(q.tags ?? {}).sort(), [ids['from-tag'], ids['to-tag']].sort());
    assert.equal(q.totals?.RTP.packets, 100, 'rtpengine counted both directions');
    assert.equal(q.totals?.RTP.bytes, 100 * 172);
    assert.equal(q.totals?.RTP.errors, 0);

    const deleted = await ng.delete({ 'call-id': ids['call-id'], 'from-tag': ids['from-tag'] });
    assert.equal(deleted.result, 'ok');
    assert.equal(deleted.totals?.RTP.packets, 100, "delete's reply carries the call's last stats");
    await assert.rejects(
      ng.query({ 'call-id': ids['call-id'] }),
      (e: unknown) => e instanceof NgRejectedError && /unknown call-id/i.test(e.reason),
    );
    // The ports are gone: a packet sent after the delete is relayed to nobody.
    const before = b.received.length;
    await a.send(toB, 3, marked(1));
    await sleep(200);
    assert.equal(b.received.length, before);
  });

  test('an offer with only opus: rtpengine passes it through, so the B2BUA itself answers 488', async () => {
    // What rtpengine 10.5 does with an opus-only offer, recorded:
    // - without codec options: the offer goes on unchanged (opus only, rtpengine's ports);
    // - with `codec: { strip: ['all'], offer: ['PCMA', 'PCMU'] }` (keep only G.711): rtpengine logs
    //   "List of codecs empty. Restoring original list of codecs" and still offers opus only,
    //   with `result: ok` and no warning — it never refuses a codec by itself;
    // - with `codec: { transcode: ['PCMA'] }` it adds PCMA and would transcode opus ⇄ PCMA.
    // Dzvin's policy (issue #15, G.711 only at first): the B2BUA checks the caller's SDP with
    // g711Codecs() and answers 488 Not Acceptable Here when no PCMA/PCMU remains, instead of
    // transcoding, and deletes whatever it had offered to rtpengine.
    const a = await phone('127.0.0.2');
    const sdp = a.sdp(OPUS_ONLY);
    assert.deepEqual(g711Codecs(sdp), [], 'the policy check alone would already answer 488');
    const plain = await ng.offer({ 'call-id': `opus-${randomUUID()}`, 'from-tag': 'a', sdp, ...MEDIA });
    const keepG711 = await ng.offer({
      'call-id': `opus-${randomUUID()}`,
      'from-tag': 'a',
      sdp,
      ...MEDIA,
      codec: { strip: ['all'], offer: ['PCMA', 'PCMU'] },
    });
    for (const reply of [plain, keepG711]) {
      assert.equal(reply.result, 'ok');
      assert.equal(reply.warning, undefined);
      assert.deepEqual(
        firstAudioStream(reply.sdp)!.formats.map((f) => f.codec),
        ['opus'],
        `opus only, passed through:\n${reply.sdp}`,
      );
      assert.deepEqual(g711Codecs(reply.sdp), [], '→ 488');
    }
    const transcoding = await ng.offer({
      'call-id': `opus-${randomUUID()}`,
      'from-tag': 'a',
      sdp,
      ...MEDIA,
      codec: { transcode: ['PCMA'] },
    });
    assert.deepEqual(
      firstAudioStream(transcoding.sdp)!.formats.map((f) => f.codec),
      ['opus', 'PCMA'],
      'the road not taken (yet): transcoding',
    );
  });

  test('play media sends a WAV file as PCMA to the participant it names', async () => {
    const { a, b, ids, toA, toB } = await call();
    // Both phones must have sent something for rtpengine to have learned them (and it starts the
    // player once media flows).
    await Promise.all([a.send(toB, 3, marked(1)), b.send(toA, 3, marked(2))]);
    await Promise.all([a.waitFor(3, 'B at A'), b.waitFor(3, 'A at B')]);
    const file = path.join(engine.dir, 'greeting-440.wav');
    fs.writeFileSync(file, toneWav(440, 1));
    fs.chmodSync(file, 0o644); // rtpengine runs as nobody
    const before = { a: a.received.length, b: b.received.length };
    const played = await ng.playMedia({ 'call-id': ids['call-id'], 'from-tag': ids['from-tag'], file });
    assert.equal(played.result, 'ok');
    assert.ok(
      typeof played.duration === 'number' && Math.abs(played.duration - 1000) <= 40,
      `duration ${played.duration}`,
    );
    await until(() => a.received.length - before.a >= 40, 'the greeting at A', 5000);
    const greeting = a.received.slice(before.a);
    assert.ok(
      greeting.every((p) => p.pt === 8 && p.payload.length === 160),
      '20 ms PCMA packets',
    );
    const samples = decodeG711('PCMA', Buffer.concat(greeting.slice(5, 40).map((p) => p.payload)));
    const hz = zeroCrossingHz(samples, 8000);
    assert.ok(Math.abs(hz - 440) <= 22, `A hears the file's 440 Hz tone (measured ${hz.toFixed(1)} Hz)`);
    assert.ok(rms(samples) > 0.2, `at about the file's level (rms ${rms(samples).toFixed(3)})`);
    assert.equal(b.received.length, before.b, 'B is not played to');
    const stopped = await ng.stopMedia({ 'call-id': ids['call-id'], 'from-tag': ids['from-tag'] });
    assert.equal(stopped.result, 'ok');
    await ng.delete({ 'call-id': ids['call-id'], 'from-tag': ids['from-tag'] });
  });

  test("subscribe request/answer forks a phone's RTP to a third socket (the recorder's feed)", async () => {
    const { a, b, ids, toB } = await call();
    const recorder = await phone('127.0.0.4');
    const sub = await ng.subscribeRequest({
      'call-id': ids['call-id'],
      'from-tag': ids['from-tag'],
      ...MEDIA,
    });
    assert.equal(sub.result, 'ok');
    assert.equal(typeof sub['to-tag'], 'string', "rtpengine names the subscription's tag");
    const offer = firstAudioStream(sub.sdp)!;
    assert.equal(offer.direction, 'sendonly', `a send-only offer:\n${sub.sdp}`);
    assert.deepEqual(g711Codecs(sub.sdp), ['PCMA', 'PCMU']);
    const answer = recorder.sdp().replace('a=sendrecv', 'a=recvonly');
    const answered = await ng.subscribeAnswer({
      'call-id': ids['call-id'],
      'to-tag': sub['to-tag'],
      sdp: answer,
    });
    assert.equal(answered.result, 'ok');

    const sent = await a.send(toB, 20, marked(1));
    await b.waitFor(20, 'A at B');
    await recorder.waitFor(20, 'A at the recorder');
    assert.deepEqual(
      recorder.received.map((p) => p.payload.toString('hex')),
      sent.map((p) => p.payload.toString('hex')),
      "the recorder gets A's packets as B does",
    );
    assert.equal(recorder.received[0].from.port, offer.port, 'from the port of the subscription offer');

    await ng.unsubscribe({ 'call-id': ids['call-id'], 'to-tag': sub['to-tag'] });
    await ng.delete({ 'call-id': ids['call-id'], 'from-tag': ids['from-tag'] });
  });

  test("G.711 through rtpengine stays G.711: a tone encoded at A decodes at B (the recorder's decode)", async () => {
    const { a, b, toB } = await call();
    const tone = new Int16Array(160 * 25).map((_, i) =>
      Math.round(10_000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)),
    );
    await a.send(toB, 25, (i) => encodeG711('PCMA', tone.subarray(160 * i, 160 * (i + 1))));
    await b.waitFor(25, 'the tone at B');
    const heard = decodeG711('PCMA', Buffer.concat(b.received.map((p) => p.payload)));
    assert.ok(Math.abs(zeroCrossingHz(heard, 8000) - 1000) <= 50);
  });

  test('an answer or a delete for a call-id rtpengine does not know is an NgRejectedError', async () => {
    const a = await phone('127.0.0.3');
    await assert.rejects(
      ng.answer({ 'call-id': 'no-such-call', 'from-tag': 'x', 'to-tag': 'y', sdp: a.sdp(), ...MEDIA }),
      (e: unknown) =>
        e instanceof NgRejectedError && e.command === 'answer' && e.reason === 'Unknown call-id',
    );
    await assert.rejects(
      ng.delete({ 'call-id': 'no-such-call', 'from-tag': 'x' }),
      (e: unknown) =>
        e instanceof NgRejectedError && e.command === 'delete' && /Call-ID not found/.test(e.reason),
    );
    // rtpengine's own default (no `fatal` flag): ok with a warning; the client asks for `fatal`.
    const lenient = await ng.delete({ 'call-id': 'no-such-call', 'from-tag': 'x', flags: [] });
    assert.equal(lenient.result, 'ok');
    assert.match(lenient.warning ?? '', /Call-ID not found/);
  });

  test('with rtpengine not listening, a request fails with NgTimeoutError within the bound', async () => {
    // A port nobody listens on, and a daemon that was stopped (by its PID): both are silence.
    const second = await startRtpengine({ ports: 10 });
    const pid = second.pid;
    await second.stop();
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the daemon is gone');
    for (const port of [second.ngPort, await freeUdpPort()]) {
      const client = createNgClient({ port, timeoutMs: 500, retransmitMs: 100 });
      const started = Date.now();
      await assert.rejects(client.ping(), (e: unknown) => e instanceof NgTimeoutError && e.attempts === 3);
      const took = Date.now() - started;
      assert.ok(took >= 490 && took < 1500, `failed after ${took} ms`);
      await client.close();
    }
  });
});
