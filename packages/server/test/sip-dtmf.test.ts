// The pieces under a carrier's call that read what the network sends: RFC 4733 telephone-events
// (one digit per key press, however many packets carry it) and Kamailio's X-Dzvin-Source / the
// DID of a request URI (trunk-caller.ts). Real datagrams built as a phone sends them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createDtmfReader, telephoneEventPt } from '../src/engine/sip/media/dtmf.ts';
import { parseRtp, rtpHeader } from '../src/engine/sip/media/rtp.ts';
import { didNumber, sourceAddress } from '../src/engine/sip/trunk-caller.ts';

/** An RFC 4733 packet: event, end bit, volume 10, duration. */
function event(pt: number, ts: number, seq: number, key: number, end: boolean, duration: number) {
  const payload = Buffer.from([key, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);
  return parseRtp(Buffer.concat([rtpHeader(pt, seq, ts, 0x1234), payload]))!;
}

describe('RFC 4733 digits', () => {
  test('a key press is one digit: updates and the thrice-sent end packet share its timestamp', () => {
    const digits: string[] = [];
    const r = createDtmfReader(101, (d) => digits.push(d));
    let seq = 1;
    for (const [ts, key] of [
      [8000, 2],
      [16000, 11],
      [24000, 10],
      [32000, 2],
    ]) {
      for (let d = 160; d <= 800; d += 160) assert.ok(r.read(event(101, ts, seq++, key, false, d)));
      for (let i = 0; i < 3; i++) assert.ok(r.read(event(101, ts, seq++, key, true, 960)));
    }
    assert.deepEqual(digits, ['2', '#', '*', '2']);
  });
  test('audio, another payload type, a short payload or an unknown event is no digit', () => {
    const digits: string[] = [];
    const r = createDtmfReader(101, (d) => digits.push(d));
    assert.equal(r.read(parseRtp(Buffer.concat([rtpHeader(8, 1, 160, 1), Buffer.alloc(160, 0xd5)]))!), false);
    assert.equal(r.read(event(96, 1000, 2, 1, false, 160)), false);
    assert.equal(r.read(parseRtp(Buffer.concat([rtpHeader(101, 3, 2000, 1), Buffer.from([1, 0])]))!), false);
    assert.equal(r.read(event(101, 3000, 4, 16, false, 160)), true, 'consumed, not audio');
    assert.deepEqual(digits, []);
  });
  test("the payload type comes from the caller's SDP", () => {
    const sdp =
      'v=0\r\nm=audio 4000 RTP/AVP 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n';
    assert.equal(telephoneEventPt(sdp), 96);
    assert.equal(telephoneEventPt('v=0\r\nm=audio 4000 RTP/AVP 8\r\n'), null);
  });
});

describe("a carrier's INVITE: where it came from and which number it dialled", () => {
  test('X-Dzvin-Source as Kamailio writes it (IPv4, IPv6), anything else none', () => {
    assert.equal(sourceAddress('udp:203.0.113.7:5060'), '203.0.113.7');
    assert.equal(sourceAddress('tcp:2001:DB8::10:5061'), '2001:db8::10');
    assert.equal(sourceAddress('udp:[::1]:5060'), '::1');
    for (const bad of [undefined, '', 'udp:carrier.example:5060', '203.0.113.7', 'udp:999.1.1.1:5060'])
      assert.equal(sourceAddress(bad), null, String(bad));
  });
  test('a DID in the forms carriers send becomes E.164; anything else is no number', () => {
    assert.equal(didNumber('+380441112233'), '+380441112233');
    assert.equal(didNumber('380441112233'), '+380441112233');
    assert.equal(didNumber('00380441112233'), '+380441112233');
    assert.equal(didNumber('+38 (044) 111-22-33'), '+380441112233');
    for (const bad of [undefined, '', 'dzvin', '12345', '+3804411122334455'])
      assert.equal(didNumber(bad), null, String(bad));
  });
});
