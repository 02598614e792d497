// The media helpers beside the NG client: G.711 sample conversion (what turns rtpengine's RTP into
// the recorder's PCM) and the SDP reading behind the codec policy (no PCMA/PCMU → 488).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  alawToLinear,
  decodeG711,
  encodeG711,
  linearToAlaw,
  linearToUlaw,
  ulawToLinear,
} from '../src/engine/sip/media/g711.ts';
import { firstAudioStream, g711Codecs } from '../src/engine/sip/media/sdp-audio.ts';

describe('G.711', () => {
  test('known code words decode to their reference values', () => {
    // A-law: 0xD5/0x55 are the smallest positive/negative steps, 0xAA/0x2A the largest.
    assert.equal(alawToLinear(0xd5), 8);
    assert.equal(alawToLinear(0x55), -8);
    assert.equal(alawToLinear(0xaa), 32256);
    assert.equal(alawToLinear(0x2a), -32256);
    // μ-law: 0xFF/0x7F are zero, 0x80/0x00 the extremes.
    assert.equal(ulawToLinear(0xff), 0);
    assert.equal(ulawToLinear(0x7f), 0);
    assert.equal(ulawToLinear(0x80), 32124);
    assert.equal(ulawToLinear(0x00), -32124);
    assert.equal(linearToAlaw(0), 0xd5);
    assert.equal(linearToUlaw(0), 0xff);
    assert.equal(linearToAlaw(32767), 0xaa);
    assert.equal(linearToAlaw(-32768), 0x2a);
    assert.equal(linearToUlaw(32767), 0x80);
    assert.equal(linearToUlaw(-32768), 0x00);
  });

  test('every code word survives decode then encode (both laws)', () => {
    for (let b = 0; b < 256; b++) {
      assert.equal(linearToAlaw(alawToLinear(b)), b, `A-law 0x${b.toString(16)}`);
      // μ-law has two zeros (0x7F, 0xFF): both encode back as 0xFF.
      assert.equal(linearToUlaw(ulawToLinear(b)), b === 0x7f ? 0xff : b, `μ-law 0x${b.toString(16)}`);
    }
  });

  test('a sample comes back within G.711’s quantisation step (about 1/16 of its size)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -32768, max: 32767 }), (s) => {
        for (const [enc, dec] of [
          [linearToAlaw, alawToLinear],
          [linearToUlaw, ulawToLinear],
        ] as const) {
          const err = Math.abs(dec(enc(s)) - s);
          assert.ok(err <= Math.max(16, Math.abs(s) / 16 + 8), `${s} → ${dec(enc(s))}`);
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('payloads convert sample by sample', () => {
    const samples = Int16Array.from([0, 1000, -1000, 32767, -32768]);
    const a = encodeG711('PCMA', samples);
    assert.equal(a.length, 5);
    assert.deepEqual(
      [...decodeG711('PCMA', a)],
      [...samples].map((s) => alawToLinear(linearToAlaw(s))),
    );
    assert.deepEqual(
      [...decodeG711('PCMU', encodeG711('PCMU', samples))],
      [...samples].map((s) => ulawToLinear(linearToUlaw(s))),
    );
  });
});

const sdp = (...lines: string[]) => `${lines.join('\r\n')}\r\n`;

describe('SDP audio', () => {
  test('the first audio stream: address (session or media level), port, protocol, codecs, direction', () => {
    const s = sdp(
      'v=0',
      'o=- 1 1 IN IP4 10.0.0.1',
      's=-',
      'c=IN IP4 10.0.0.1',
      't=0 0',
      'a=sendonly',
      'm=audio 4000 RTP/AVP 0 8 101',
      'a=rtpmap:101 telephone-event/8000',
      'm=audio 5000 RTP/AVP 9',
      'c=IN IP4 10.0.0.9',
    );
    assert.deepEqual(firstAudioStream(s), {
      address: '10.0.0.1',
      port: 4000,
      protocol: 'RTP/AVP',
      direction: 'sendonly',
      formats: [
        { pt: 0, codec: 'PCMU', clockRate: 8000 },
        { pt: 8, codec: 'PCMA', clockRate: 8000 },
        { pt: 101, codec: 'telephone-event', clockRate: 8000 },
      ],
    });
    const mediaLevel = sdp(
      'v=0',
      'c=IN IP4 10.0.0.1',
      'm=audio 4000 RTP/AVP 8',
      'c=IN IP4 10.0.0.2',
      'a=recvonly',
    );
    assert.equal(firstAudioStream(mediaLevel)?.address, '10.0.0.2');
    assert.equal(firstAudioStream(mediaLevel)?.direction, 'recvonly');
    assert.equal(firstAudioStream(sdp('v=0', 'm=video 4000 RTP/AVP 96')), undefined);
    assert.equal(firstAudioStream('not an SDP at all'), undefined);
  });

  test('g711Codecs lists PCMA/PCMU in offer order, by rtpmap name or static type; none means 488', () => {
    assert.deepEqual(g711Codecs(sdp('m=audio 1 RTP/AVP 8 0')), ['PCMA', 'PCMU']);
    assert.deepEqual(g711Codecs(sdp('m=audio 1 RTP/AVP 0 8')), ['PCMU', 'PCMA']);
    assert.deepEqual(g711Codecs(sdp('m=audio 1 RTP/AVP 96', 'a=rtpmap:96 pcma/8000')), ['PCMA']);
    assert.deepEqual(g711Codecs(sdp('m=audio 1 RTP/AVP 111', 'a=rtpmap:111 opus/48000/2')), []);
    assert.deepEqual(
      g711Codecs(sdp('m=audio 1 RTP/AVP 96', 'a=rtpmap:96 PCMA/16000')),
      [],
      'not 8 kHz: not G.711',
    );
    assert.deepEqual(g711Codecs(sdp('m=video 1 RTP/AVP 0')), []);
  });
});
