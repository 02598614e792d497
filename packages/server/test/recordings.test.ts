import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { createManualClock } from '../src/domain/clock.ts';
import {
  createFileRecorder,
  type FileRecorder,
  STALE_PART_MS,
} from '../src/engine/recording/file-recorder.ts';
import { registerErrorHandling } from '../src/http/errors.ts';
import type { App } from '../src/http/route-kit.ts';
import { anyoneWithTheUuid, parseRange, recordingRoutes } from '../src/http/routes/recordings.ts';
import { dominantOf, goertzel, parseWav, rms, zeroCrossingHz } from './support/wav.ts';

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-rec-'));
  tmpDirs.push(d);
  return d;
}
after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const UUID = '47a968893984475b8c20e29dec144ce3';
const DASHED = '47a96889-3984-475b-8c20-e29dec144ce3';

function recorderIn(dir: string, errors: unknown[] = []) {
  const clock = createManualClock();
  const recorder = createFileRecorder({ dir, clock, timers: clock, onError: (e) => errors.push(e) });
  return { clock, recorder, errors };
}

/** Records one call of `ms` milliseconds of clock time and returns the recorder. */
async function recordCall(dir: string, uuid: string, ms: number) {
  const { clock, recorder } = recorderIn(dir);
  await clock.advance(137); // calls start at arbitrary times, not on a second boundary
  recorder.start(uuid, clock.now());
  await clock.advance(ms);
  await recorder.stop(uuid, clock.now());
  return recorder;
}

const read = (recorder: FileRecorder, uuid: string, track: 'mixed' | 'rx' | 'tx') => {
  const p = recorder.path(uuid, track);
  assert.ok(p, `${track} track exists`);
  return parseWav(fs.readFileSync(p));
};

describe('file recorder', () => {
  test('.part files nobody wrote to for 15 minutes (a killed process) are swept; fresh ones and finished recordings stay', async () => {
    const dir = tmpDir();
    const stale = path.join(dir, 'killed-mid-call.wav.part');
    const fresh = path.join(dir, 'in-progress-elsewhere-rx.wav.part');
    const done = path.join(dir, 'finished.wav');
    for (const f of [stale, fresh, done]) fs.writeFileSync(f, 'RIFF');
    const longAgo = (Date.now() - STALE_PART_MS - 60_000) / 1000;
    fs.utimesSync(stale, longAgo, longAgo);
    fs.utimesSync(done, longAgo, longAgo);
    const recorder = createFileRecorder({ dir, timers: createManualClock(0) });
    assert.equal(await recorder.sweep(), 1);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['finished.wav', 'in-progress-elsewhere-rx.wav.part']);
    await recorder.close();
  });

  test('a 12.345 s call leaves three finished 8 kHz 16-bit mono WAV files of that length', async () => {
    const dir = tmpDir();
    const recorder = await recordCall(dir, UUID, 12_345);
    assert.deepEqual(fs.readdirSync(dir).sort(), [`${UUID}-rx.wav`, `${UUID}-tx.wav`, `${UUID}.wav`]);
    for (const track of ['mixed', 'rx', 'tx'] as const) {
      const file = recorder.path(UUID, track)!;
      assert.equal(path.isAbsolute(file), true);
      const wav = parseWav(fs.readFileSync(file)); // also checks RIFF size = file size − 8
      assert.equal(wav.sampleRate, 8000);
      assert.equal(wav.channels, 1);
      assert.equal(wav.bitsPerSample, 16);
      assert.equal(wav.dataOffset, 44);
      assert.equal(wav.dataBytes, fs.statSync(file).size - 44);
      assert.ok(Math.abs(wav.durationSec - 12.345) <= 0.01, `${track}: ${wav.durationSec} s`);
    }
  });

  test('rx is the external party at 440 Hz, tx the employee at 1000 Hz, mixed carries both; none is silent', async () => {
    const recorder = await recordCall(tmpDir(), UUID, 12_345);
    const rx = read(recorder, UUID, 'rx');
    const tx = read(recorder, UUID, 'tx');
    const mixed = read(recorder, UUID, 'mixed');
    for (const [name, w] of [
      ['rx', rx],
      ['tx', tx],
      ['mixed', mixed],
    ] as const) {
      assert.ok(rms(w.samples) > 0.05, `${name} is not silent (rms ${rms(w.samples)})`);
    }
    assert.ok(Math.abs(zeroCrossingHz(rx.samples, 8000) - 440) < 20, `rx ≈ 440 Hz`);
    assert.ok(Math.abs(zeroCrossingHz(tx.samples, 8000) - 1000) < 40, `tx ≈ 1000 Hz`);
    const at = (w: typeof rx, f: number) => goertzel(w.samples, 8000, f);
    assert.ok(at(rx, 440) > 10 * at(rx, 1000), 'rx: 440 Hz, no 1000 Hz');
    assert.ok(at(tx, 1000) > 10 * at(tx, 440), 'tx: 1000 Hz, no 440 Hz');
    assert.ok(at(mixed, 440) > 0.05 && at(mixed, 1000) > 0.05, 'mixed: both sides');
    assert.ok(at(mixed, 440) > 0.3 * at(rx, 440) && at(mixed, 1000) > 0.3 * at(tx, 1000));
    // The sides are not one signal: rx and tx samples differ almost everywhere they are loud.
    assert.notDeepEqual(rx.samples.subarray(0, 8000), tx.samples.subarray(0, 8000));
  });

  test('every second of every track carries sound (no silent stretches, both sides talk)', async () => {
    const recorder = await recordCall(tmpDir(), UUID, 9_000);
    for (const track of ['rx', 'tx'] as const) {
      const w = read(recorder, UUID, track);
      for (let s = 0; s + 8000 <= w.samples.length; s += 8000) {
        assert.ok(rms(w.samples.subarray(s, s + 8000)) > 0.02, `${track} second ${s / 8000} is audible`);
      }
    }
  });

  test('audio is streamed to .part files while the call runs and path() shows nothing until stop', async () => {
    const dir = tmpDir();
    const { clock, recorder } = recorderIn(dir);
    recorder.start(UUID, clock.now());
    await clock.advance(5_000);
    assert.equal(recorder.active(), 1);
    for (const track of ['mixed', 'rx', 'tx'] as const) assert.equal(recorder.path(UUID, track), null);
    const parts = fs.readdirSync(dir).sort();
    assert.deepEqual(parts, [`${UUID}-rx.wav.part`, `${UUID}-tx.wav.part`, `${UUID}.wav.part`]);
    // Five seconds are on disk already, not held for hangup.
    for (const p of parts) assert.equal(fs.statSync(path.join(dir, p)).size, 44 + 5 * 8000 * 2);
    await clock.advance(2_500);
    await recorder.stop(UUID, clock.now());
    assert.equal(recorder.active(), 0);
    assert.equal(clock.pending(), 0, 'no flush left scheduled');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.part')),
      [],
    );
    assert.equal(read(recorder, UUID, 'mixed').durationSec, 7.5);
  });

  test('a stop time before the last flush cuts the recording to the call', async () => {
    const { clock, recorder } = recorderIn(tmpDir());
    const t0 = clock.now();
    recorder.start(UUID, t0);
    await clock.advance(3_000);
    await recorder.stop(UUID, t0 + 2_250);
    assert.equal(read(recorder, UUID, 'rx').durationSec, 2.25);
  });

  test('stop of an unknown uuid resolves; a second stop and a second start change nothing', async () => {
    const { clock, recorder, errors } = recorderIn(tmpDir());
    await recorder.stop('0123456789abcdef0123456789abcdef', clock.now());
    recorder.start(UUID, clock.now());
    recorder.start(UUID, clock.now() + 500);
    await clock.advance(2_000);
    const first = recorder.stop(UUID, clock.now());
    const second = recorder.stop(UUID, clock.now() + 10_000);
    await Promise.all([first, second]);
    await recorder.stop(UUID, clock.now());
    assert.equal(read(recorder, UUID, 'tx').durationSec, 2);
    assert.deepEqual(errors, []);
  });

  test('a zero-length call gives valid, empty files', async () => {
    const { clock, recorder } = recorderIn(tmpDir());
    recorder.start(UUID, clock.now());
    await recorder.stop(UUID, clock.now());
    assert.equal(read(recorder, UUID, 'mixed').durationSec, 0);
  });

  test('a disk failure is reported to onError; the call ends normally and nothing is served', async () => {
    const dir = tmpDir();
    const { clock, recorder, errors } = recorderIn(dir);
    fs.rmSync(dir, { recursive: true });
    recorder.start(UUID, clock.now());
    await clock.advance(3_000);
    await recorder.stop(UUID, clock.now());
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as NodeJS.ErrnoException).code, 'ENOENT');
    assert.equal(recorder.path(UUID, 'mixed'), null);
    assert.equal(recorder.active(), 0);
    assert.equal(clock.pending(), 0);
  });

  test('uuids that are not plain names are refused, never turned into paths', async () => {
    const { clock, recorder, errors } = recorderIn(tmpDir());
    recorder.start('../escape', clock.now());
    assert.equal(errors.length, 1);
    assert.equal(recorder.active(), 0);
    assert.equal(recorder.path('../escape', 'mixed'), null);
  });

  test('many calls at once: each file has its own length; close() finalizes the calls in progress', async () => {
    const { clock, recorder, errors } = recorderIn(tmpDir());
    const uuids = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(32, '0'));
    for (const [i, u] of uuids.entries()) {
      recorder.start(u, clock.now());
      if (i % 2) await clock.advance(10);
    }
    await clock.advance(3_000);
    await recorder.close();
    assert.equal(recorder.active(), 0);
    for (const [i, u] of uuids.entries()) {
      const expected = (4_000 - Math.floor(i / 2) * 10) / 1000; // started floor(i/2) × 10 ms in, ended at 4 s
      assert.equal(read(recorder, u, 'mixed').durationSec.toFixed(3), expected.toFixed(3));
    }
    assert.deepEqual(errors, []);
  });

  /** `n` samples of a sine at `hz` (amplitude `amp` of full scale) from sample `from` of the call on. */
  const tone = (hz: number, from: number, n: number, amp = 0.4) =>
    Int16Array.from({ length: n }, (_, i) =>
      Math.round(amp * 32767 * Math.sin((2 * Math.PI * hz * (from + i)) / 8000)),
    );
  /** 20 ms of G.711 decoded: what an RTP source delivers per packet. */
  const FRAME = 160;

  test('PCM fed through the Recorder in 20 ms frames: rx and tx keep their tones, mixed is their sum at half gain', async () => {
    const dir = tmpDir();
    const clock = createManualClock();
    const errors: unknown[] = [];
    // No source of its own: only what is fed, as a SIP engine's RTP will be.
    const recorder = createFileRecorder({
      dir,
      clock,
      timers: clock,
      source: null,
      onError: (e) => errors.push(e),
    });
    await clock.advance(137);
    const t0 = clock.now();
    recorder.start(UUID, t0);
    const frames = 125; // 2.5 s
    const lag = 3; // tx arrives three frames (60 ms) behind rx: jitter between the two sides
    const txFrame = (k: number) => {
      const pcm = tone(1400, k * FRAME, FRAME);
      return Buffer.from(pcm.buffer); // a Buffer of little-endian samples works as well as an Int16Array
    };
    for (let k = 0; k < frames; k++) {
      recorder.feed(UUID, 'rx', tone(600, k * FRAME, FRAME), t0 + k * 20);
      if (k >= lag) recorder.feed(UUID, 'tx', txFrame(k - lag), t0 + (k - lag) * 20);
      await clock.advance(20);
      if (k === 100) {
        // 2 s in: more than a second is on disk already, in the .part files.
        await recorder.settled(UUID);
        for (const name of [`${UUID}.wav.part`, `${UUID}-rx.wav.part`, `${UUID}-tx.wav.part`])
          assert.ok(
            fs.statSync(path.join(dir, name)).size >= 44 + 8000 * 2,
            `${name} is written while the call runs`,
          );
      }
    }
    for (let k = frames - lag; k < frames; k++) recorder.feed(UUID, 'tx', txFrame(k), t0 + k * 20);
    recorder.feed('ffffffffffffffffffffffffffffffff', 'rx', tone(600, 0, FRAME), t0); // not recording: ignored
    await recorder.stop(UUID, t0 + frames * 20);

    const w = {
      mixed: read(recorder, UUID, 'mixed'),
      rx: read(recorder, UUID, 'rx'),
      tx: read(recorder, UUID, 'tx'),
    };
    for (const [track, wav] of Object.entries(w)) {
      assert.equal(wav.sampleRate, 8000, track);
      assert.equal(wav.channels, 1, track);
      assert.equal(wav.bitsPerSample, 16, track);
      assert.equal(wav.dataOffset, 44, track);
      assert.equal(wav.durationSec, 2.5, track);
    }
    const candidates = [440, 600, 1000, 1400];
    assert.equal(dominantOf(w.rx.samples, 8000, candidates), 600);
    assert.equal(dominantOf(w.tx.samples, 8000, candidates), 1400);
    const at = (s: Int16Array, f: number) => goertzel(s, 8000, f);
    assert.ok(Math.abs(at(w.rx.samples, 600) - 0.4) < 0.01, `rx at 600 Hz: ${at(w.rx.samples, 600)}`);
    assert.ok(
      at(w.rx.samples, 1400) < 0.01 && at(w.tx.samples, 600) < 0.01,
      'each side holds only its own tone',
    );
    assert.ok(
      Math.abs(at(w.mixed.samples, 600) - 0.2) < 0.01,
      `mixed at 600 Hz: ${at(w.mixed.samples, 600)}`,
    );
    assert.ok(
      Math.abs(at(w.mixed.samples, 1400) - 0.2) < 0.01,
      `mixed at 1400 Hz: ${at(w.mixed.samples, 1400)}`,
    );
    // Sample for sample: the sides are what was fed, and mixed is (rx + tx) / 2.
    assert.deepEqual(w.rx.samples, tone(600, 0, frames * FRAME));
    assert.deepEqual(w.tx.samples, tone(1400, 0, frames * FRAME));
    for (let i = 0; i < w.mixed.samples.length; i++) {
      if (w.mixed.samples[i] !== Math.trunc((w.rx.samples[i] + w.tx.samples[i]) / 2))
        assert.fail(`mixed sample ${i}`);
    }
    assert.deepEqual(errors, []);
    assert.equal(clock.pending(), 0);
  });

  test('fed audio is placed by its time: frames out of order, a lost frame and a side gone quiet leave silence, not a shorter call', async () => {
    const clock = createManualClock();
    const recorder = createFileRecorder({ dir: tmpDir(), clock, timers: clock, source: null });
    const t0 = clock.now();
    recorder.start(UUID, t0);
    // rx: one second of frames, 10 and 11 swapped, 20 lost; tx: half a second, then nothing.
    const order = [...Array(50).keys()].filter((k) => k !== 20);
    [order[10], order[11]] = [order[11], order[10]];
    for (const k of order) recorder.feed(UUID, 'rx', tone(600, k * FRAME, FRAME), t0 + k * 20);
    for (let k = 0; k < 25; k++) recorder.feed(UUID, 'tx', tone(1400, k * FRAME, FRAME), t0 + k * 20);
    await clock.advance(3_000);
    // The tick wrote everything older than a second though tx stopped: a late frame is dropped.
    recorder.feed(UUID, 'rx', tone(200, 10 * FRAME, FRAME), t0 + 10 * 20);
    await recorder.stop(UUID, clock.now());

    const rx = read(recorder, UUID, 'rx').samples;
    const tx = read(recorder, UUID, 'tx').samples;
    const mixed = read(recorder, UUID, 'mixed').samples;
    assert.equal(rx.length, 3 * 8000);
    const expectedRx = tone(600, 0, 3 * 8000);
    expectedRx.fill(0, 20 * FRAME, 21 * FRAME); // the lost frame
    expectedRx.fill(0, 50 * FRAME); // after the last frame
    assert.deepEqual(rx, expectedRx);
    const expectedTx = tone(1400, 0, 3 * 8000);
    expectedTx.fill(0, 25 * FRAME);
    assert.deepEqual(tx, expectedTx);
    for (let i = 0; i < mixed.length; i++) {
      if (mixed[i] !== Math.trunc((expectedRx[i] + expectedTx[i]) / 2)) assert.fail(`mixed sample ${i}`);
    }
  });

  test("a call started with source 'fed' records only what is fed (a real phone's RTP), never the synthesized voices; feeding a synthesized call changes nothing", async () => {
    const { clock, recorder, errors } = recorderIn(tmpDir());
    const SYNTH = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    const t0 = clock.now();
    recorder.start(UUID, t0, { source: 'fed' });
    recorder.start(SYNTH, t0);
    for (let k = 0; k < 100; k++) {
      for (const uuid of [UUID, SYNTH]) {
        recorder.feed(uuid, 'rx', tone(600, k * FRAME, FRAME), t0 + k * 20);
        recorder.feed(uuid, 'tx', tone(1400, k * FRAME, FRAME), t0 + k * 20);
      }
      await clock.advance(20);
    }
    await Promise.all([recorder.stop(UUID, clock.now()), recorder.stop(SYNTH, clock.now())]);
    assert.deepEqual(read(recorder, UUID, 'rx').samples, tone(600, 0, 100 * FRAME));
    assert.deepEqual(read(recorder, UUID, 'tx').samples, tone(1400, 0, 100 * FRAME));
    const candidates = [440, 600, 1000, 1400];
    assert.equal(dominantOf(read(recorder, SYNTH, 'rx').samples, 8000, candidates), 440);
    assert.equal(dominantOf(read(recorder, SYNTH, 'tx').samples, 8000, candidates), 1000);
    assert.ok(goertzel(read(recorder, SYNTH, 'rx').samples, 8000, 600) < 0.01, 'the fed tone stayed out');
    assert.deepEqual(errors, []);
    assert.equal(clock.pending(), 0);
  });

  test('a long call does not grow the heap: 20 minutes of audio go to disk second by second', async () => {
    const dir = tmpDir();
    const { clock, recorder } = recorderIn(dir);
    recorder.start(UUID, clock.now());
    await clock.advance(60_000);
    const before = process.memoryUsage().heapUsed;
    await clock.advance(19 * 60_000);
    const grown = process.memoryUsage().heapUsed - before;
    await recorder.stop(UUID, clock.now());
    // Holding the audio would be 3 × 18 MB; a few MB of garbage is fine.
    assert.ok(grown < 16 * 1024 * 1024, `heap grew by ${(grown / 1048576).toFixed(1)} MB`);
    assert.equal(fs.statSync(recorder.path(UUID, 'rx')!).size, 44 + 1200 * 16000);
  });
});

describe('GET /rest/public/calls/{id}/audio', () => {
  const IN_PROGRESS = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  let app: App;
  let base: string;
  let recorder: FileRecorder;
  let clock: ReturnType<typeof createManualClock>;
  let bytes: Record<'mixed' | 'rx' | 'tx', Buffer>;

  before(async () => {
    const dir = tmpDir();
    clock = createManualClock();
    recorder = createFileRecorder({ dir, clock, timers: clock });
    recorder.start(UUID, clock.now());
    await clock.advance(3_210);
    await recorder.stop(UUID, clock.now());
    recorder.start(IN_PROGRESS, clock.now());
    await clock.advance(2_000);
    bytes = {
      mixed: fs.readFileSync(recorder.path(UUID, 'mixed')!),
      rx: fs.readFileSync(recorder.path(UUID, 'rx')!),
      tx: fs.readFileSync(recorder.path(UUID, 'tx')!),
    };
    app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
    registerErrorHandling(app);
    // The byte-serving part; who may fetch (the account setting) is tested over the full server.
    recordingRoutes(app, { recorder, access: anyoneWithTheUuid });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await recorder.close();
    await app.close();
  });

  const get = async (id: string, headers: Record<string, string> = {}, method = 'GET') => {
    const r = await fetch(`${base}/rest/public/calls/${id}/audio`, { method, headers });
    return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
  };

  test('serves each track whole without a session: audio/wav, length, ranges advertised, cacheable', async () => {
    for (const [id, track] of [
      [UUID, 'mixed'],
      [`${UUID}-rx`, 'rx'],
      [`${UUID}-tx`, 'tx'],
    ] as const) {
      const r = await get(id);
      assert.equal(r.status, 200, id);
      assert.equal(r.headers.get('content-type'), 'audio/wav');
      assert.equal(r.headers.get('accept-ranges'), 'bytes');
      assert.equal(r.headers.get('content-length'), String(bytes[track].length));
      assert.equal(r.headers.get('cache-control'), 'private, max-age=3600');
      assert.ok(r.headers.get('etag'));
      assert.ok(r.headers.get('last-modified'));
      assert.ok(r.body.equals(bytes[track]), `${id} body is the file`);
      assert.ok(Math.abs(parseWav(r.body).durationSec - 3.21) < 0.01);
    }
    const rx = parseWav((await get(`${UUID}-rx`)).body).samples;
    assert.ok(goertzel(rx, 8000, 440) > 10 * goertzel(rx, 8000, 1000));
  });

  test('the dashed spelling of the uuid names the same recording', async () => {
    const r = await get(`${DASHED}-tx`);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(bytes.tx));
  });

  test('byte ranges: a-b, a-, -n answer 206 with the exact bytes and Content-Range', async () => {
    const size = bytes.mixed.length;
    const cases: [string, number, number][] = [
      ['bytes=0-43', 0, 43],
      ['bytes=1000-1999', 1000, 1999],
      ['bytes=50000-', 50000, size - 1],
      ['bytes=-500', size - 500, size - 1],
      [`bytes=${size - 10}-${size + 1000}`, size - 10, size - 1],
      [`bytes=-${size + 5}`, 0, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const r = await get(UUID, { range });
      assert.equal(r.status, 206, range);
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${end}/${size}`, range);
      assert.equal(r.headers.get('content-length'), String(end - start + 1), range);
      assert.equal(r.headers.get('content-type'), 'audio/wav');
      assert.ok(r.body.equals(bytes.mixed.subarray(start, end + 1)), range);
    }
  });

  test('an unsatisfiable range is 416 in plain text with Content-Range: bytes */size', async () => {
    const size = bytes.rx.length;
    for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0', 'bytes=10-5']) {
      const r = await get(`${UUID}-rx`, { range });
      assert.equal(r.status, 416, range);
      assert.equal(r.headers.get('content-range'), `bytes */${size}`);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(r.body.toString(), /Range not satisfiable/);
    }
  });

  test('several ranges, other units and garbage are ignored: the whole file', async () => {
    for (const range of ['bytes=0-1,5-9', 'items=0-5', 'bytes=abc', 'bytes=-']) {
      const r = await get(UUID, { range });
      assert.equal(r.status, 200, range);
      assert.ok(r.body.equals(bytes.mixed), range);
    }
  });

  test('HEAD answers the headers of GET with no body, ranges too', async () => {
    const full = await get(UUID, {}, 'HEAD');
    assert.equal(full.status, 200);
    assert.equal(full.headers.get('content-length'), String(bytes.mixed.length));
    assert.equal(full.headers.get('content-type'), 'audio/wav');
    assert.equal(full.body.length, 0);
    const part = await get(UUID, { range: 'bytes=0-99' }, 'HEAD');
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-length'), '100');
    assert.equal(part.headers.get('content-range'), `bytes 0-99/${bytes.mixed.length}`);
    assert.equal((await get('ffffffffffffffffffffffffffffffff', {}, 'HEAD')).status, 404);
  });

  test('If-None-Match with the ETag is 304; If-Range with another validator sends it all', async () => {
    const etag = (await get(UUID, {}, 'HEAD')).headers.get('etag')!;
    assert.equal((await get(UUID, { 'if-none-match': etag })).status, 304);
    assert.equal((await get(UUID, { range: 'bytes=0-9', 'if-range': etag })).status, 206);
    const stale = await get(UUID, { range: 'bytes=0-9', 'if-range': '"stale"' });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, bytes.mixed.length);
  });

  test('404 in plain text for an unknown uuid, a malformed id, and a call still in progress', async () => {
    for (const id of [
      'ffffffffffffffffffffffffffffffff',
      'ffffffff-ffff-ffff-ffff-ffffffffffff-rx',
      `${UUID}-xx`,
      `${UUID}0`,
      UUID.slice(1),
      'abc',
      '..%2F..%2Fetc%2Fpasswd',
      IN_PROGRESS,
      `${IN_PROGRESS}-rx`,
    ]) {
      const r = await get(id);
      assert.equal(r.status, 404, id);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(r.body.toString(), /not found/i);
    }
  });

  test('a recording appears once its call has ended', async () => {
    await recorder.stop(IN_PROGRESS, clock.now());
    const r = await get(`${IN_PROGRESS}-rx`);
    assert.equal(r.status, 200);
    assert.equal(parseWav(r.body).durationSec, 2);
  });
});

test('parseRange follows RFC 9110 for one range', () => {
  assert.equal(parseRange(undefined, 100), null);
  assert.deepEqual(parseRange('bytes=0-0', 100), { start: 0, end: 0 });
  assert.deepEqual(parseRange('bytes=99-', 100), { start: 99, end: 99 });
  assert.deepEqual(parseRange('bytes=-1', 100), { start: 99, end: 99 });
  assert.deepEqual(parseRange('BYTES = 5 - 9', 100), { start: 5, end: 9 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,3-4', 100), null);
});
