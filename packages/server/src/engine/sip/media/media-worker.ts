// The media worker (issue 16, bench:sip): a worker thread that owns Dzvin's RTP sockets and does
// everything per packet — the relay between two phones (media-joint.ts), the rewriting onto each
// phone's one stream (rtp-stream.ts), the tones and prompts Dzvin plays (rtp-sender.ts, voice.ts),
// the recording's capture (rtp-recording.ts: decoding, placing by timestamp) and DTMF (dtmf.ts).
// On the main event loop that work made the kernel drop RTP whenever signalling, SQL or the HTTP
// API held the loop, and made them wait behind 20,000 packets a second. The main thread
// (media-host.ts) sends small control messages and gets back only what it acts on: digits,
// packet counts (the media watch, tests) every STATS_MS, and the recording's audio in batches.
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import type { RecordingSide } from '../../../domain/calls/call-model.ts';
import type { Remote } from '../transport.ts';
import { createDtmfReader } from './dtmf.ts';
import type { G711Codec } from './g711.ts';
import { joinMedia, type MediaEnd, type MediaJoint } from './media-joint.ts';
import { parseRtp } from './rtp.ts';
import { type CallAudioTap, createCallAudioTap } from './rtp-recording.ts';
import { FRAME_MS, type RtpSender, startRtpSender } from './rtp-sender.ts';
import { createRtpStreamOut } from './rtp-stream.ts';
import { type Voice, voiceFrames } from './voice.ts';

/** What the main thread asks of the worker. Ids are the main thread's. */
export type ToWorker =
  /** Bind a UDP socket on 127.0.0.1 (the OS picks the port): `opened` answers. */
  | { op: 'open'; id: number }
  | { op: 'close'; id: number }
  /** Where rtpengine takes RTP for this socket's phone, and the G.711 law it is sent. */
  | { op: 'peer'; id: number; to: Remote; codec: G711Codec }
  /** Dzvin plays `voice` to the phone (null: stops playing). */
  | { op: 'speak'; id: number; voice: Voice | null }
  /**
   * The socket's phone is in the recording `uuid` (null: none): while `taping`, its RTP is tx,
   * and what it is sent (played or relayed) rx. `clockOffset`: the recorder's clock minus Date.now().
   */
  | { op: 'tap'; id: number; uuid: string | null; taping: boolean; clockOffset: number }
  /** Report the phone's RFC 4733 digits (payload type `payloadType`) while `on`. */
  | { op: 'dtmf'; id: number; payloadType: number; on: boolean }
  /** Relay between two sockets' phones (`joint`: the main thread's id of the relay). */
  | { op: 'join'; joint: number; a: number; b: number }
  | { op: 'unjoin'; joint: number };

/** Audio for the recorder: `pcm` of a call's side from `atMs` (contiguous frames merged). */
export interface FedAudio {
  uuid: string;
  side: RecordingSide;
  pcm: Int16Array;
  atMs: number;
}

/** A run of one call side's contiguous frames, in `buf[0, len)`, from `atMs` to `endMs`. */
interface Run {
  uuid: string;
  side: RecordingSide;
  atMs: number;
  endMs: number;
  buf: Int16Array;
  len: number;
}
/** A run's buffer: AUDIO_MS of audio and some to spare (grown for a longer run). */
const RUN_SAMPLES = 1024;
/** Run buffers kept for reuse: enough for a thousand calls' two sides. */
const MAX_SPARE = 2048;

/** What the worker reports. */
export type FromWorker =
  | { ev: 'opened'; id: number; port: number }
  | { ev: 'open-failed'; id: number; message: string }
  | { ev: 'digit'; id: number; digit: string }
  /**
   * Counts that changed: `ports` as [id, received, sent]…, `joints` as [joint, aToB, bToA,
   * transcoded]…
   */
  | { ev: 'stats'; ports: Float64Array; joints: Float64Array }
  | { ev: 'audio'; items: FedAudio[] }
  | { ev: 'error'; message: string };

/** How often counts are reported (the media watch ticks every 200 ms at the least). */
export const STATS_MS = 100;
/** How often the recording's audio goes to the main thread (the recorder holds a second). */
export const AUDIO_MS = 50;

/**
 * dgram resolves the address of every datagram it sends (a tick each, even for an IP literal);
 * rtpengine's side is always one: answered at once, 20,000 times a second.
 */
const literalLookup = ((host: string, options: unknown, callback: (...args: unknown[]) => void) => {
  if (net.isIPv4(host)) return callback(null, host, 4);
  return dns.lookup(host, options as dns.LookupOptions, callback as never);
}) as unknown as dgram.SocketOptions['lookup'];

interface Port {
  id: number;
  socket: dgram.Socket;
  /** The phone's end for a joint and the sender (`to` null until `peer`). */
  end: Omit<MediaEnd, 'to'> & { to: Remote | null; send(packet: Buffer): void };
  /** The socket is connected to `to` (set once `connect` has completed), or connecting. */
  connected: boolean;
  connecting: boolean;
  sender: RtpSender | null;
  tap: { uuid: string; audio: CallAudioTap } | null;
  taping: boolean;
  clockOffset: number;
  dtmf: { payloadType: number; on: boolean; reader: ReturnType<typeof createDtmfReader> } | null;
  received: number;
  sent: number;
}

/** The worker's state and message handling; `post` reaches the main thread. */
export function createMediaCore(post: (m: FromWorker, transfer?: ArrayBuffer[]) => void) {
  const ports = new Map<number, Port>();
  const joints = new Map<number, { joint: MediaJoint; last: string }>();
  const changed = new Set<Port>();
  /**
   * Audio not yet posted, by uuid then side: the newest run of contiguous frames each, copied
   * into a buffer of the run's own (taken from `spare`, given back once posted), so a packet
   * costs no allocation here and the tap can decode every packet into one scratch array.
   */
  const runs = new Map<string, Partial<Record<RecordingSide, Run>>>();
  const spare: Int16Array[] = [];
  let ended: { run: Run; item: FedAudio }[] = [];

  const error = (err: unknown) =>
    post({ ev: 'error', message: err instanceof Error ? err.message : String(err) });

  function endRun(run: Run) {
    ended.push({
      run,
      item: { uuid: run.uuid, side: run.side, pcm: run.buf.subarray(0, run.len), atMs: run.atMs },
    });
  }

  /** The recorder's `feed`, in the worker: frames that follow each other are merged (copied). */
  const recorder = {
    feed(uuid: string, side: RecordingSide, pcm: Int16Array, atMs: number) {
      let sides = runs.get(uuid);
      if (!sides) {
        sides = {};
        runs.set(uuid, sides);
      }
      let run = sides[side];
      if (!run || Math.abs(run.endMs - atMs) >= 0.5) {
        if (run) endRun(run);
        run = { uuid, side, atMs, endMs: atMs, buf: spare.pop() ?? new Int16Array(RUN_SAMPLES), len: 0 };
        sides[side] = run;
      }
      if (run.len + pcm.length > run.buf.length) {
        const bigger = new Int16Array(Math.max(2 * run.buf.length, run.len + pcm.length));
        bigger.set(run.buf.subarray(0, run.len));
        run.buf = bigger;
      }
      run.buf.set(pcm, run.len);
      run.len += pcm.length;
      run.endMs = atMs + pcm.length / 8;
    },
  };

  function flushAudio() {
    for (const sides of runs.values()) {
      if (sides.rx) endRun(sides.rx);
      if (sides.tx) endRun(sides.tx);
    }
    runs.clear();
    if (!ended.length) return;
    const out = ended;
    ended = [];
    // All of them in one buffer, moved: one buffer per item (a thousand a second per hundred
    // calls) made the main thread's garbage collector run far more often.
    let total = 0;
    for (const e of out) total += e.item.pcm.length;
    const all = new Int16Array(total);
    let at = 0;
    const items: FedAudio[] = [];
    for (const { run, item } of out) {
      all.set(item.pcm, at);
      item.pcm = all.subarray(at, at + item.pcm.length);
      at += item.pcm.length;
      items.push(item);
      if (run.buf.length === RUN_SAMPLES && spare.length < MAX_SPARE) spare.push(run.buf);
    }
    post({ ev: 'audio', items }, [all.buffer]);
  }

  function flushStats() {
    const p: number[] = [];
    for (const port of changed) p.push(port.id, port.received, port.sent);
    changed.clear();
    const j: number[] = [];
    for (const [id, entry] of joints) {
      const s = entry.joint.stats();
      const key = `${s.aToB},${s.bToA},${s.transcoded}`;
      if (key === entry.last) continue;
      entry.last = key;
      j.push(id, s.aToB, s.bToA, s.transcoded);
    }
    if (!p.length && !j.length) return;
    const ports = Float64Array.from(p);
    const js = Float64Array.from(j);
    post({ ev: 'stats', ports, joints: js }, [ports.buffer, js.buffer]);
  }

  function open(id: number) {
    const socket = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
    const port: Port = {
      id,
      socket,
      end: {
        socket,
        to: null,
        codec: 'PCMA',
        out: createRtpStreamOut(),
        send(packet) {
          // While connecting, dgram takes no datagram at all: the frame is lost, as on the network.
          // No callback: dgram then reports nothing (a lost datagram is lost), where a callback,
          // even one that does nothing, costs a process.nextTick per packet.
          if (port.connected) socket.send(packet);
          else if (port.end.to && !port.connecting)
            socket.send(packet, port.end.to.port, port.end.to.address);
        },
      },
      connected: false,
      connecting: false,
      sender: null,
      tap: null,
      taping: false,
      clockOffset: 0,
      dtmf: null,
      received: 0,
      sent: 0,
    };
    let bound = false;
    socket.on('error', (err) => {
      if (!bound) post({ ev: 'open-failed', id, message: err.message });
      // A connected socket hears the ICMP "port unreachable" of an rtpengine port already
      // released (its call deleted a moment before ours closed): the end of a call, not an error.
      else if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') error(err);
    });
    socket.on('message', (datagram: Buffer) => {
      port.received++;
      changed.add(port);
      if (port.taping && port.tap) port.tap.audio.heard(datagram);
      if (port.dtmf?.on) {
        const packet = parseRtp(datagram);
        if (packet) port.dtmf.reader.read(packet);
      }
    });
    socket.bind(0, '127.0.0.1', () => {
      bound = true;
      ports.set(id, port);
      post({ ev: 'opened', id, port: socket.address().port });
    });
  }

  /**
   * Connects the socket to rtpengine's side of the phone: a connected UDP socket sends without a
   * route and address look-up per datagram (about 40% less CPU per send here), and takes datagrams
   * only from there — rtpengine sends the phone's RTP from the port it takes RTP on.
   */
  function connect(p: Port, to: Remote) {
    if (p.connecting) return; // its callback connects again to the newest peer
    if (p.connected) {
      p.connected = false;
      p.socket.disconnect();
    }
    p.connecting = true;
    p.socket.connect(to.port, to.address, () => {
      p.connecting = false;
      if (!ports.has(p.id)) return;
      if (p.end.to === to) p.connected = true;
      else if (p.end.to) {
        // The peer changed while this one was connecting.
        p.socket.disconnect();
        connect(p, p.end.to);
      }
    });
  }

  function speak(p: Port, voice: Voice | null) {
    p.sender?.stop();
    p.sender = null;
    const to = p.end.to;
    if (!voice || !to) return;
    const recordedAt = Date.now() + p.clockOffset;
    p.sender = startRtpSender({
      socket: p.socket,
      to,
      codec: p.end.codec,
      stream: p.end.out,
      send: p.end.send,
      frame: voiceFrames(voice),
      said: (samples, k) => {
        p.sent++;
        changed.add(p);
        if (p.taping && p.tap) p.tap.audio.said(samples, recordedAt + k * FRAME_MS);
      },
    });
  }

  function close(p: Port) {
    ports.delete(p.id);
    changed.delete(p);
    p.sender?.stop();
    p.sender = null;
    p.tap = null;
    try {
      p.socket.close();
    } catch {}
  }

  function handle(m: ToWorker) {
    if (m.op === 'open') return open(m.id);
    if (m.op === 'unjoin') {
      const entry = joints.get(m.joint);
      if (!entry) return;
      joints.delete(m.joint);
      entry.joint.stop();
      const s = entry.joint.stats();
      const js = Float64Array.of(m.joint, s.aToB, s.bToA, s.transcoded);
      post({ ev: 'stats', ports: new Float64Array(0), joints: js }, [js.buffer]);
      return;
    }
    if (m.op === 'join') {
      const a = ports.get(m.a);
      const b = ports.get(m.b);
      if (!a || !b || !a.end.to || !b.end.to) return;
      const joint = joinMedia(a.end as MediaEnd, b.end as MediaEnd, {
        // What one phone says is what the other hears: the rx of the other's recording.
        onRelay: (from, datagram) => {
          const to = from === 'a' ? b : a;
          if (to.taping && to.tap) to.tap.audio.heardOther(datagram);
        },
      });
      joints.set(m.joint, { joint, last: '' });
      return;
    }
    const p = ports.get(m.id);
    if (!p) return;
    switch (m.op) {
      case 'close':
        return close(p);
      case 'peer':
        p.end.codec = m.codec;
        if (p.end.to?.address === m.to.address && p.end.to.port === m.to.port) return;
        p.end.to = m.to;
        return connect(p, m.to);
      case 'speak':
        return speak(p, m.voice);
      case 'tap':
        p.clockOffset = m.clockOffset;
        if (m.uuid === null) p.tap = null;
        else if (p.tap?.uuid !== m.uuid) {
          const offset = m.clockOffset;
          p.tap = {
            uuid: m.uuid,
            // The worker's feed copies (runs above): the tap decodes into one scratch array.
            audio: createCallAudioTap({
              uuid: m.uuid,
              recorder,
              now: () => Date.now() + offset,
              copies: true,
            }),
          };
        }
        p.taping = m.taping;
        return;
      case 'dtmf':
        if (!p.dtmf || p.dtmf.payloadType !== m.payloadType)
          p.dtmf = {
            payloadType: m.payloadType,
            on: m.on,
            reader: createDtmfReader(m.payloadType, (digit) => post({ ev: 'digit', id: p.id, digit })),
          };
        p.dtmf.on = m.on;
        return;
    }
  }

  const statsTimer = setInterval(flushStats, STATS_MS);
  const audioTimer = setInterval(flushAudio, AUDIO_MS);
  statsTimer.unref();
  audioTimer.unref();
  return {
    handle(m: ToWorker) {
      try {
        handle(m);
      } catch (err) {
        error(err);
      }
    },
    close() {
      clearInterval(statsTimer);
      clearInterval(audioTimer);
      for (const entry of joints.values()) entry.joint.stop();
      joints.clear();
      for (const p of [...ports.values()]) close(p);
    },
  };
}

/** Marks the worker media-host.ts starts (workerData), so importing this file elsewhere runs nothing. */
export const MEDIA_WORKER = 'dzvin-media-worker';

if (parentPort && workerData === MEDIA_WORKER) {
  const port = parentPort;
  const core = createMediaCore((m, transfer) => port.postMessage(m, transfer ?? []));
  // The main thread sends its messages in batches (media-host.ts), `shutdown` on its own.
  port.on('message', (m: ToWorker[] | { op: 'shutdown' }) => {
    if (!Array.isArray(m)) {
      core.close();
      port.close();
      return;
    }
    for (const one of m) core.handle(one);
  });
}
