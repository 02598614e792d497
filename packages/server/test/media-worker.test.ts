// The media worker (engine/sip/media/media-worker.ts, media-host.ts): Dzvin's RTP sockets live in
// a worker thread, so what Dzvin plays and relays keeps its pace while the main event loop is
// busy (signalling, SQL, the HTTP API). Real UDP sockets on loopback; the "phones" are sockets of
// this test's own thread.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, test } from 'node:test';
import { alawToLinear } from '../src/engine/sip/media/g711.ts';
import { type MediaHost, startMediaHost } from '../src/engine/sip/media/media-host.ts';
import { parseRtp, type RtpPacket, rtpHeader } from '../src/engine/sip/media/rtp.ts';
import { SIMULATED_VOICE } from '../src/engine/sip/media/voice.ts';
import { sleep, until } from './support/wait.ts';

const sockets: dgram.Socket[] = [];
const hosts: MediaHost[] = [];
after(async () => {
  for (const s of sockets) s.close();
  for (const h of hosts) await h.shutdown();
});

async function phone() {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  sockets.push(s);
  const got: { p: RtpPacket; raw: Buffer }[] = [];
  s.on('message', (d) => {
    const p = parseRtp(Buffer.from(d));
    if (p) got.push({ p, raw: Buffer.from(d) });
  });
  return { s, got, to: { address: '127.0.0.1', port: s.address().port } };
}

function host(feed?: (uuid: string, side: string, pcm: Int16Array, atMs: number) => void) {
  const h = startMediaHost({
    recorder: feed ? { feed: (u, side, pcm, at) => feed(u, side, pcm as Int16Array, at) } : undefined,
    onError: (err) => assert.fail(String(err)),
  });
  hosts.push(h);
  return h;
}

/** Keeps this thread busy, as a burst of signalling and SQL would. */
function block(ms: number) {
  const until = performance.now() + ms;
  while (performance.now() < until) {}
}

test('the tone Dzvin plays keeps its pace while the main thread is blocked for 600 ms: every frame, the sequence without a gap, the recording fed contiguous audio', async () => {
  const fed: { uuid: string; side: string; samples: number; atMs: number }[] = [];
  const media = host((uuid, side, pcm, atMs) => fed.push({ uuid, side, samples: pcm.length, atMs }));
  const port = await media.open();
  const p = await phone();
  media.peer(port, p.to, 'PCMA');
  media.tap(port, 'call-1', true);
  media.speak(port, SIMULATED_VOICE);
  await until(() => p.got.length >= 5, 'the first frames');
  const before = p.got.length;
  block(600);
  await sleep(100);
  media.speak(port, null);
  await sleep(60);
  // 700 ms at 50 frames a second, less what was in flight when it stopped.
  assert.ok(p.got.length - before >= 30, `frames during and after the block: ${p.got.length - before}`);
  const seqs = p.got.map((g) => g.p.seq);
  for (let i = 1; i < seqs.length; i++)
    assert.equal(
      (seqs[i] - seqs[i - 1]) & 0xffff,
      1,
      `no frame skipped at ${i}: ${seqs.slice(i - 2, i + 2)}`,
    );
  assert.ok(port.sent >= p.got.length - 2, `the worker's count of frames played: ${port.sent}`);
  // What was played is the recording's rx (the phone sent nothing: no tx), in runs of frames.
  await until(() => fed.reduce((n, f) => n + f.samples, 0) >= (p.got.length - 2) * 160, 'the rx fed');
  assert.ok(fed.every((f) => f.uuid === 'call-1' && f.side === 'rx'));
  assert.ok(
    fed.length < p.got.length / 2,
    `merged into runs: ${fed.length} feeds for ${p.got.length} frames`,
  );
  const sorted = [...fed].sort((a, b) => a.atMs - b.atMs);
  for (let i = 1; i < sorted.length; i++)
    assert.ok(
      Math.abs(sorted[i].atMs - (sorted[i - 1].atMs + sorted[i - 1].samples / 8)) < 1,
      `contiguous on the recorder clock at ${i}`,
    );
});

test('two phones joined through the worker hear each other, renumbered onto one stream each; the counts come back; a closed socket relays nothing', async () => {
  const media = host();
  const [portA, portB] = [await media.open(), await media.open()];
  const [a, b] = [await phone(), await phone()];
  media.peer(portA, a.to, 'PCMA');
  media.peer(portB, b.to, 'PCMU');
  const relay = media.join(portA, portB);
  const send = (from: dgram.Socket, to: number, seq: number, pt: number) =>
    new Promise<void>((resolve) =>
      from.send(
        Buffer.concat([rtpHeader(pt, seq, seq * 160, 0x1111), Buffer.alloc(160, 0xd5)]),
        to,
        '127.0.0.1',
        () => resolve(),
      ),
    );
  for (let i = 0; i < 10; i++) {
    await send(a.s, portA.port, 100 + i, 8);
    await send(b.s, portB.port, 5000 + i, 0);
    await sleep(5);
  }
  await until(() => a.got.length >= 10 && b.got.length >= 10, 'ten packets each way');
  // B was answered with PCMU: A's PCMA is re-encoded for it; A gets B's PCMU as PCMA.
  assert.ok(b.got.every((g) => g.p.payloadType === 0));
  assert.ok(a.got.every((g) => g.p.payloadType === 8));
  assert.notEqual(b.got[0].p.ssrc, 0x1111, "B's stream has its own SSRC");
  await until(() => relay.stats().aToB >= 10 && relay.stats().bToA >= 10, 'the relay counts');
  assert.equal(relay.stats().transcoded, 20);
  await until(() => portA.received >= 10 && portB.received >= 10, 'the sockets counts');
  media.close(portB);
  await sleep(50);
  const heard = b.got.length;
  await send(a.s, portA.port, 200, 8);
  await sleep(100);
  assert.equal(b.got.length, heard, 'nothing reaches a closed leg');
  relay.stop();
});

test("a phone's RFC 4733 key is one digit, reported only while asked for", async () => {
  const media = host();
  const port = await media.open();
  const p = await phone();
  const digits: string[] = [];
  const key = (event: number, ts: number) =>
    new Promise<void>((resolve) =>
      p.s.send(
        Buffer.concat([rtpHeader(101, ts, ts, 0x2222), Buffer.from([event, 0x0a, 0, 160])]),
        port.port,
        '127.0.0.1',
        () => resolve(),
      ),
    );
  await key(5, 1000);
  await sleep(50);
  media.dtmf(port, 101, true, (d) => digits.push(d));
  for (let i = 0; i < 3; i++) await key(11, 2000);
  await key(1, 3000);
  await until(() => digits.length >= 2, 'two digits');
  media.dtmf(port, 101, false, (d) => digits.push(d));
  await sleep(30);
  await key(7, 4000);
  await sleep(100);
  assert.deepEqual(digits, ['#', '1']);
});

test("what a tapped phone sends is fed as its side (tx), decoded sample for sample, each packet's own audio in its place", async () => {
  const fed: { side: string; pcm: Int16Array; atMs: number }[] = [];
  const media = host((_uuid, side, pcm, atMs) => fed.push({ side, pcm: pcm.slice(), atMs }));
  const port = await media.open();
  const p = await phone();
  media.peer(port, p.to, 'PCMA');
  media.tap(port, 'call-tx', true);
  // Ten 20 ms packets, each with its own A-law bytes (k, k+1, …): one decoded array reused for
  // every packet, or frames merged without being copied, would show as repeated audio.
  const payload = (k: number) => Buffer.from(Array.from({ length: 160 }, (_, i) => (k * 16 + i) & 0xff));
  for (let k = 0; k < 10; k++) {
    await new Promise<void>((resolve) =>
      p.s.send(
        Buffer.concat([rtpHeader(8, 300 + k, k * 160, 0x3333), payload(k)]),
        port.port,
        '127.0.0.1',
        () => resolve(),
      ),
    );
    await sleep(20);
  }
  await until(
    () => fed.filter((f) => f.side === 'tx').reduce((n, f) => n + f.pcm.length, 0) >= 1600,
    'the tx fed',
  );
  const tx = fed.filter((f) => f.side === 'tx').sort((a, b) => a.atMs - b.atMs);
  const got = new Int16Array(1600);
  let at = 0;
  for (const f of tx) {
    got.set(f.pcm.subarray(0, Math.min(f.pcm.length, 1600 - at)), at);
    at += f.pcm.length;
  }
  const want = new Int16Array(1600);
  for (let k = 0; k < 10; k++) for (let i = 0; i < 160; i++) want[k * 160 + i] = alawToLinear(payload(k)[i]);
  assert.deepEqual(Array.from(got), Array.from(want));
  media.close(port);
});

test('a Dzvin started from the sources with a V8 option the workers refuse (--max-old-space-size) still starts its media worker', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const root = new URL('../../../', import.meta.url);
  const hostUrl = new URL('../src/engine/sip/media/media-host.ts', import.meta.url).href;
  const script = `
    const { startMediaHost } = await import(${JSON.stringify(hostUrl)});
    const h = startMediaHost({ onError: (e) => { console.error(e); process.exit(3); } });
    const port = await h.open();
    await h.shutdown();
    console.log('opened UDP port', port.port > 0);`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--max-old-space-size=512', '--import', './scripts/source.mjs', '--input-type=module', '-e', script],
    { cwd: root, timeout: 60_000 },
  );
  assert.match(stdout, /^opened UDP port true$/m);
});
