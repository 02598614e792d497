// What Dzvin sends a phone is one RTP stream whoever speaks (engine/sip/media/rtp-stream.ts): a
// tone of Dzvin's, then another phone relayed through a media joint, then a tone again — as in an
// attended transfer that is cancelled. Real UDP sockets on loopback; the "phone" reads the raw
// datagrams and checks what a jitter buffer relies on.
import assert from 'node:assert/strict';
import type dgram from 'node:dgram';
import { after, test } from 'node:test';
import { openRtpSocket } from '../src/engine/sip/media/local-media.ts';
import { joinMedia } from '../src/engine/sip/media/media-joint.ts';
import { parseRtp, type RtpPacket, rtpHeader } from '../src/engine/sip/media/rtp.ts';
import { startRtpSender, toneFrame } from '../src/engine/sip/media/rtp-sender.ts';
import { createRtpStreamOut } from '../src/engine/sip/media/rtp-stream.ts';
import { sleep, until } from './support/wait.ts';

const sockets: dgram.Socket[] = [];
after(() => {
  for (const s of sockets) s.close();
});
async function socket() {
  const s = await openRtpSocket();
  sockets.push(s);
  return s;
}
const portOf = (s: dgram.Socket) => ({ address: '127.0.0.1', port: s.address().port });

test('a phone hears one stream: tone, then another phone relayed (its own numbering far behind), then a tone again — one SSRC, the sequence going on by one, the timestamp never back, a marker where the speaker changed', async () => {
  // The phone (what rtpengine would forward to it) and Dzvin's end towards it.
  const phone = await socket();
  const dzvinToPhone = await socket();
  // The other phone's end: its RTP arrives at Dzvin's socket for it, from `other`.
  const other = await socket();
  const dzvinToOther = await socket();
  const got: RtpPacket[] = [];
  phone.on('message', (d) => {
    const p = parseRtp(Buffer.from(d));
    if (p) got.push(p);
  });
  const out = createRtpStreamOut();
  const end = { socket: dzvinToPhone, to: portOf(phone), codec: 'PCMA' as const, out };
  const otherEnd = {
    socket: dzvinToOther,
    to: portOf(other),
    codec: 'PCMA' as const,
    out: createRtpStreamOut(),
  };

  let sender = startRtpSender({ ...end, stream: out, frame: toneFrame(400) });
  await until(() => got.length >= 10, 'ten frames of the tone');
  sender.stop();
  await sleep(60);
  const toneFrames = got.length;

  // The other phone speaks with numbers of its own, behind the tone's; then a new SSRC of its
  // own mid-way (it restarted its stream) and a PCMU packet to transcode.
  const joint = joinMedia(end, otherEnd);
  const fromOther = (seq: number, ts: number, ssrc: number, pt = 8) =>
    new Promise<void>((resolve) =>
      other.send(
        Buffer.concat([rtpHeader(pt, seq, ts, ssrc), Buffer.alloc(160, 0xd5)]),
        portOf(dzvinToOther).port,
        '127.0.0.1',
        () => resolve(),
      ),
    );
  for (let i = 0; i < 5; i++) {
    await fromOther(3 + i, 1000 + i * 160, 0xabcdef);
    await sleep(20);
  }
  await fromOther(60000, 7, 0x1234, 0);
  await sleep(20);
  await fromOther(60001, 167, 0x1234, 0);
  await until(() => got.length >= toneFrames + 7, 'the relayed packets');
  joint.stop();
  await sleep(40);

  sender = startRtpSender({ ...end, stream: out, frame: toneFrame(400) });
  const relayed = got.length;
  await until(() => got.length >= relayed + 5, 'the tone again');
  sender.stop();

  assert.equal(new Set(got.map((p) => p.ssrc)).size, 1, 'one SSRC throughout');
  for (let i = 1; i < got.length; i++) {
    assert.equal(got[i].seq, (got[i - 1].seq + 1) & 0xffff, `packet ${i}: the sequence goes on by one`);
    const step = (got[i].timestamp - got[i - 1].timestamp) >>> 0;
    assert.ok(step > 0 && step < 8000, `packet ${i}: the timestamp moves on (${step})`);
  }
  const markers = got.flatMap((p, i) => (p.marker ? [i] : []));
  assert.deepEqual(markers, [0, toneFrames, toneFrames + 5, relayed], 'a marker where each source begins');
  assert.equal(got[toneFrames + 5].payloadType, 8, "a PCMU packet is re-encoded in the phone's law");
});
