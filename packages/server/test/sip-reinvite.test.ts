// The answer to a phone's re-INVITE (engine/sip/reinvite.ts): hold and resume keep the media path
// and answer the offer's direction (RFC 3264 §6.1, §8.4). Over real SIP: sip-vanish.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answerReoffer, isHoldOffer } from '../src/engine/sip/reinvite.ts';

const offer = (direction: string | null, address = '192.0.2.7') =>
  [
    'v=0',
    'o=phone 9 10 IN IP4 192.0.2.7',
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    'm=audio 4000 RTP/AVP 8 0',
    ...(direction ? [`a=${direction}`] : []),
    '',
  ].join('\r\n');

const ours = [
  'v=0',
  'o=- 1234 1 IN IP4 127.0.0.1',
  's=dzvin',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 30010 RTP/AVP 8 0 101',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv',
  '',
].join('\r\n');

describe("a phone's re-INVITE: hold, resume", () => {
  test('sendonly, inactive and c=0.0.0.0 are hold; sendrecv, recvonly and no direction are not', () => {
    assert.equal(isHoldOffer(offer('sendonly')), true);
    assert.equal(isHoldOffer(offer('inactive')), true);
    assert.equal(isHoldOffer(offer(null, '0.0.0.0')), true);
    assert.equal(isHoldOffer(offer('sendrecv')), false);
    assert.equal(isHoldOffer(offer('recvonly')), false);
    assert.equal(isHoldOffer(offer(null)), false);
    assert.equal(isHoldOffer('garbage'), false);
  });

  test('the answer is our SDP with its version bumped and the direction answering the offer', () => {
    const directions = (sdp: string) => sdp.split('\r\n').filter((l) => /^a=(send|recv|inactive)/.test(l));
    for (const [offered, answered] of [
      ['sendonly', 'recvonly'],
      ['inactive', 'inactive'],
      ['recvonly', 'sendonly'],
      ['sendrecv', 'sendrecv'],
    ]) {
      const a = answerReoffer(offer(offered), ours, 7);
      assert.deepEqual(directions(a), [`a=${answered}`], offered);
      assert.match(a, /^o=- 1234 7 IN IP4 127\.0\.0\.1$/m);
      assert.match(a, /^m=audio 30010 RTP\/AVP 8 0 101$/m, 'the same media path');
      assert.ok(a.endsWith('\r\n'));
    }
    // No offer (the phone asks for ours): sendrecv.
    assert.deepEqual(directions(answerReoffer('', ours, 8)), ['a=sendrecv']);
  });
});
