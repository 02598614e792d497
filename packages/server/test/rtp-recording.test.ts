// A real phone's audio in its call's recording (issue 15): RTP read, placed by timestamp, decoded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createManualClock } from '../src/domain/clock.ts';
import { createFileRecorder } from '../src/engine/recording/file-recorder.ts';
import { decodeG711, encodeG711 } from '../src/engine/sip/media/g711.ts';
import { parseRtp, rtpHeader } from '../src/engine/sip/media/rtp.ts';
import {
  createCallAudioTap,
  createRtpTimeline,
  MAX_LATE_MS,
  MAX_SKEW_MS,
} from '../src/engine/sip/media/rtp-recording.ts';
import { parseWav } from './support/wav.ts';

const packet = (pt: number, seq: number, ts: number, ssrc: number, payload: Buffer) =>
  Buffer.concat([rtpHeader(pt, seq, ts, ssrc), payload]);

describe('RTP packets', () => {
  test('a header written is read back; the payload is what follows it', () => {
    const p = parseRtp(packet(8, 65_535, 0xffff_fff0, 0xdead_beef, Buffer.from([1, 2, 3])));
    assert.deepEqual(p && { ...p, payload: [...p.payload] }, {
      payloadType: 8,
      marker: false,
      seq: 65_535,
      timestamp: 0xffff_fff0,
      ssrc: 0xdead_beef,
      payload: [1, 2, 3],
    });
  });

  test('CSRCs, a header extension and padding are skipped', () => {
    const csrc = Buffer.alloc(8);
    const ext = Buffer.from([0xbe, 0xde, 0, 1, 9, 9, 9, 9]);
    const head = rtpHeader(0, 1, 160, 7);
    head[0] = 0x80 | 0x20 | 0x10 | 2; // padding, extension, 2 CSRCs
    const p = parseRtp(Buffer.concat([head, csrc, ext, Buffer.from([5, 6]), Buffer.from([0, 0, 3])]));
    assert.deepEqual(p && [...p.payload], [5, 6]);
  });

  test('what is not RTP is null, never an exception', () => {
    const padded = rtpHeader(8, 1, 0, 1);
    padded[0] |= 0x20;
    for (const bad of [
      Buffer.alloc(0),
      Buffer.alloc(11),
      Buffer.from('INVITE sip:x SIP/2.0\r\n'), // version 1
      Buffer.concat([Buffer.from([0x8f]), Buffer.alloc(11)]), // 15 CSRCs announced, none there
      Buffer.concat([Buffer.from([0x90]), Buffer.alloc(11)]), // an extension announced, none there
      Buffer.concat([padded, Buffer.from([1, 2, 200])]), // more padding than the packet holds
    ])
      assert.equal(parseRtp(bad), null, bad.toString('hex'));
  });
});

describe('an RTP stream on the recorder clock', () => {
  test('packets are placed by timestamp from the first one: jitter does not move them, order does not matter', () => {
    const t = createRtpTimeline();
    assert.equal(t.place(1, 1000, 5000), 5000);
    assert.equal(t.place(1, 1000 + 160 * 2, 5070), 5040); // arrived 30 ms late
    assert.equal(t.place(1, 1000 + 160, 5071), 5020); // arrived after its successor
    assert.equal(t.place(1, 1000 + 160 * 10, 5190), 5200); // 7 lost: their time stays free
  });

  test('the 32-bit timestamp wraps without a jump', () => {
    const t = createRtpTimeline();
    t.place(1, 0xffff_ff00, 0);
    assert.equal(t.place(1, 0x60, 50), 44); // 0x100 + 0x60 = 352 units = 44 ms after the first
    assert.equal(t.place(1, 0xffff_ffa0, 60), 20); // a late one from before the wrap
  });

  test('a new SSRC, or a place too far from the arrival, anchors the stream again at the arrival', () => {
    const t = createRtpTimeline();
    t.place(1, 0, 0);
    assert.equal(t.place(2, 123_456, 40), 40);
    assert.equal(t.place(2, 123_456 + 160, 60), 60);
    // The phone restarted its timestamps (or its clock drifted): re-anchored, not a second away.
    assert.equal(t.place(2, 999, 80 + MAX_SKEW_MS + 1), 80 + MAX_SKEW_MS + 1);
    assert.equal(t.place(2, 999 + 160, 80 + MAX_SKEW_MS + 21), 80 + MAX_SKEW_MS + 21);
    // A place ahead of its arrival by more than MAX_SKEW_MS (a timestamp jump forward): anchored again.
    assert.equal(
      t.place(2, 999 + 160 + 8 * (MAX_SKEW_MS + 100), 80 + MAX_SKEW_MS + 41),
      80 + MAX_SKEW_MS + 41,
    );
  });

  test('a burst after a stall keeps its places (late by up to MAX_LATE_MS); later than that is anchored again', () => {
    const t = createRtpTimeline();
    assert.equal(t.place(7, 0, 1000), 1000);
    // The event loop stalled 800 ms: the next 40 packets arrive at once, each where it belongs.
    for (let k = 1; k <= 40; k++) assert.equal(t.place(7, 160 * k, 1820), 1000 + 20 * k);
    // A packet placed more than MAX_LATE_MS before its arrival (a slow clock, a jump back): re-anchored.
    const late = 1000 + 20 * 41 + MAX_LATE_MS + 1;
    assert.equal(t.place(7, 160 * 41, late), late);
  });
});

describe("a phone's part in its call's recording", () => {
  const UUID = 'c0ffee00c0ffee00c0ffee00c0ffee00';
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  /** A recorder writing only what is fed (as for a call with a real phone), and the tap of its call. */
  function recording() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-rtp-rec-'));
    dirs.push(dir);
    const clock = createManualClock();
    const recorder = createFileRecorder({ dir, clock, timers: clock });
    const t0 = clock.now();
    recorder.start(UUID, t0, { source: 'fed' });
    const tap = createCallAudioTap({ uuid: UUID, recorder, now: () => clock.now() });
    /** The tracks of the call ended `ms` after its start. */
    const tracks = async (ms: number) => {
      await recorder.stop(UUID, t0 + ms);
      const read = (t: 'mixed' | 'rx' | 'tx') => parseWav(fs.readFileSync(recorder.path(UUID, t)!)).samples;
      return { mixed: read('mixed'), rx: read('rx'), tx: read('tx') };
    };
    return { clock, tap, tracks };
  }
  const frame = (k: number) =>
    Int16Array.from({ length: 160 }, (_, i) =>
      Math.round(8000 * Math.sin((2 * Math.PI * 1000 * (k * 160 + i)) / 8000)),
    );

  test("the phone's G.711 (A-law or μ-law, by payload type) is decoded into tx, placed by timestamp: late, reordered and lost packets", async () => {
    const { clock, tap, tracks } = recording();
    // Frames 0..9 from timestamp 5000; 3 and 4 swapped and late, 6 lost; A-law then μ-law.
    for (const k of [0, 1, 2, 4, 3, 5, 7, 8, 9]) {
      const codec = k < 5 ? 'PCMA' : 'PCMU';
      assert.ok(
        tap.heard(packet(codec === 'PCMA' ? 8 : 0, k, 5000 + 160 * k, 9, encodeG711(codec, frame(k)))),
      );
      await clock.advance(k === 2 ? 45 : 20);
    }
    const { tx, rx, mixed } = await tracks(240);
    assert.equal(tx.length, 240 * 8);
    assert.ok(
      tx.subarray(1600).every((v) => v === 0),
      'after the last packet: silence',
    );
    for (let k = 0; k < 10; k++) {
      const codec = k < 5 ? 'PCMA' : 'PCMU';
      const want = k === 6 ? new Int16Array(160) : decodeG711(codec, encodeG711(codec, frame(k)));
      assert.deepEqual(tx.subarray(k * 160, k * 160 + 160), want, `frame ${k}`);
    }
    assert.ok(
      rx.every((v) => v === 0),
      'nothing said: rx is silent',
    );
    assert.deepEqual(
      mixed.subarray(0, 160),
      tx.subarray(0, 160).map((v) => Math.trunc(v / 2)),
    );
  });

  test('telephone-events, comfort noise and garbage are not audio: nothing is recorded', async () => {
    const { tap, tracks } = recording();
    assert.equal(tap.heard(packet(101, 1, 0, 9, Buffer.from([1, 0, 0, 160]))), false);
    assert.equal(tap.heard(packet(13, 2, 0, 9, Buffer.from([40]))), false);
    assert.equal(tap.heard(packet(8, 3, 0, 9, Buffer.alloc(0))), false);
    assert.equal(tap.heard(Buffer.from('hello')), false);
    const { tx } = await tracks(100);
    assert.ok(tx.every((v) => v === 0));
  });

  test('what was sent to the phone is the rx side, as it was before encoding, at the time it was sent', async () => {
    const { clock, tap, tracks } = recording();
    const pcm = new Int16Array(160).fill(1234);
    tap.said(pcm, clock.now() + 40);
    const { rx } = await tracks(100);
    assert.deepEqual(rx.subarray(320, 480), pcm);
    assert.ok(rx.subarray(0, 320).every((v) => v === 0) && rx.subarray(480).every((v) => v === 0));
  });
});
