// The main thread's side of the media worker (media-worker.ts): Dzvin's RTP sockets live in a
// worker thread, and the SIP driver holds handles to them. Everything here is a small message
// per call event (open a socket, say where its phone is, join two phones, play, record, listen
// for digits); nothing here runs per packet. What comes back: the socket's port, digits, the
// packet counts (every STATS_MS) and the recording's audio, fed to the recorder here.

import type { Recorder } from '../../../domain/calls/call-model.ts';
import { type Clock, systemClock } from '../../../domain/clock.ts';
import { spawnWorker } from '../spawn-worker.ts';
import type { Remote } from '../transport.ts';
import type { G711Codec } from './g711.ts';
import { type FromWorker, MEDIA_WORKER, type ToWorker } from './media-worker.ts';
import type { Voice } from './voice.ts';

/** A UDP socket of Dzvin's on 127.0.0.1, owned by the media worker. */
export interface RtpPort {
  readonly id: number;
  /** Its port (what Dzvin's SDP towards rtpengine says). */
  readonly port: number;
  /** Datagrams it received and frames Dzvin played on it, as of the worker's last report. */
  readonly received: number;
  readonly sent: number;
}

/** One phone's end of a call's media, as the SIP driver sees it: its socket and the law it is sent. */
export interface MediaEnd {
  port: RtpPort;
  codec: G711Codec;
}

/** A relay between two phones (media-joint.ts in the worker). */
export interface MediaRelay {
  /** Packets relayed a→b and b→a, and frames re-encoded between the laws (as of the last report). */
  stats(): { aToB: number; bToA: number; transcoded: number };
  stop(): void;
}

export interface MediaHost {
  /** A new socket (the worker binds it; rejects when it cannot). */
  open(): Promise<RtpPort>;
  /** Closes the socket: whatever plays or relays on it stops. */
  close(port: RtpPort): void;
  /** Where rtpengine takes RTP for the socket's phone, and the law the phone is sent. */
  peer(port: RtpPort, to: Remote, codec: G711Codec): void;
  /** Dzvin plays `voice` to the phone (one stream with whatever it was sent before); null stops. */
  speak(port: RtpPort, voice: Voice | null): void;
  /**
   * The phone is part of recording `uuid` (null: none); while `taping`, its RTP is fed as tx and
   * what it is sent (played or relayed) as rx, on the recorder's clock.
   */
  tap(port: RtpPort, uuid: string | null, taping: boolean): void;
  /** The phone's RFC 4733 keys (payload type `payloadType`) are reported to `onDigit` while `on`. */
  dtmf(port: RtpPort, payloadType: number, on: boolean, onDigit: (digit: string) => void): void;
  /** The two phones hear each other (relayed, renumbered onto each one's stream, transcoded). */
  join(a: RtpPort, b: RtpPort): MediaRelay;
  /** Stops the worker (every socket closes). */
  shutdown(): Promise<void>;
}

export interface MediaHostOptions {
  /** Where recorded calls' audio goes; absent: nothing is recorded. */
  recorder?: Pick<Recorder, 'feed'>;
  /** The recorder's clock (the worker places audio on it). Default: the system clock. */
  clock?: Clock;
  onError?: (err: unknown) => void;
}

interface PortState {
  id: number;
  port: number;
  received: number;
  sent: number;
}

/**
 * Starts the media worker.
 *
 * @example
 * const media = startMediaHost({ recorder, clock });
 * const port = await media.open();            // its port goes into the SDP for rtpengine
 * media.peer(port, rtpengineSide, 'PCMA');    // from rtpengine's answer
 * media.speak(port, SIMULATED_VOICE);
 * const relay = media.join(port, otherPort);  // two phones hear each other
 */
export function startMediaHost(opts: MediaHostOptions = {}): MediaHost {
  const onError = opts.onError ?? (() => {});
  const clock = opts.clock ?? systemClock;
  const worker = spawnWorker(import.meta.url, 'media-worker', MEDIA_WORKER);
  worker.unref();
  let nextId = 1;
  let stopped = false;
  const opening = new Map<number, { resolve: (p: RtpPort) => void; reject: (e: Error) => void }>();
  const ports = new Map<number, PortState>();
  const digits = new Map<number, (digit: string) => void>();
  const relays = new Map<number, { aToB: number; bToA: number; transcoded: number }>();

  // What one piece of work asks of the worker (a SIP message handled: open, peer, tap, join…) goes
  // as one message: a postMessage costs a copy and a wake-up of the worker each (~0.5 ms of the
  // main thread per call). Order is kept (one queue), and the batch leaves on the next tick,
  // before any datagram that work sends (dgram sends after a tick of its own; over TCP, an
  // answer from the network takes far longer than a tick): RTP the worker gets in answer to it
  // finds the socket as asked.
  let queue: ToWorker[] = [];
  const flush = () => {
    const batch = queue;
    queue = [];
    if (!stopped && batch.length) worker.postMessage(batch);
  };
  const send = (m: ToWorker) => {
    if (stopped) return;
    if (!queue.length) process.nextTick(flush);
    queue.push(m);
  };

  worker.on('message', (m: FromWorker) => {
    switch (m.ev) {
      case 'opened': {
        const state: PortState = { id: m.id, port: m.port, received: 0, sent: 0 };
        ports.set(m.id, state);
        opening.get(m.id)?.resolve(state);
        opening.delete(m.id);
        return;
      }
      case 'open-failed':
        opening.get(m.id)?.reject(new Error(`RTP socket: ${m.message}`));
        opening.delete(m.id);
        return;
      case 'digit':
        digits.get(m.id)?.(m.digit);
        return;
      case 'stats':
        for (let i = 0; i + 2 < m.ports.length; i += 3) {
          const p = ports.get(m.ports[i]);
          if (!p) continue;
          p.received = m.ports[i + 1];
          p.sent = m.ports[i + 2];
        }
        for (let i = 0; i + 3 < m.joints.length; i += 4) {
          const r = relays.get(m.joints[i]);
          if (!r) continue;
          r.aToB = m.joints[i + 1];
          r.bToA = m.joints[i + 2];
          r.transcoded = m.joints[i + 3];
        }
        return;
      case 'audio':
        if (opts.recorder) for (const a of m.items) opts.recorder.feed(a.uuid, a.side, a.pcm, a.atMs);
        return;
      case 'error':
        onError(new Error(`media worker: ${m.message}`));
        return;
    }
  });
  worker.on('error', (err) => onError(err));
  worker.on('exit', (code) => {
    if (!stopped) onError(new Error(`media worker exited (code ${code}): calls have no media until restart`));
    stopped = true;
    for (const o of opening.values()) o.reject(new Error('media worker stopped'));
    opening.clear();
  });

  return {
    open() {
      if (stopped) return Promise.reject(new Error('media worker stopped'));
      const id = nextId++;
      return new Promise<RtpPort>((resolve, reject) => {
        opening.set(id, { resolve, reject });
        send({ op: 'open', id });
      });
    },
    close(port) {
      ports.delete(port.id);
      digits.delete(port.id);
      send({ op: 'close', id: port.id });
    },
    peer(port, to, codec) {
      send({ op: 'peer', id: port.id, to: { address: to.address, port: to.port }, codec });
    },
    speak(port, voice) {
      send({ op: 'speak', id: port.id, voice });
    },
    tap(port, uuid, taping) {
      send({ op: 'tap', id: port.id, uuid, taping, clockOffset: clock.now() - Date.now() });
    },
    dtmf(port, payloadType, on, onDigit) {
      digits.set(port.id, onDigit);
      send({ op: 'dtmf', id: port.id, payloadType, on });
    },
    join(a, b) {
      const joint = nextId++;
      const counts = { aToB: 0, bToA: 0, transcoded: 0 };
      relays.set(joint, counts);
      send({ op: 'join', joint, a: a.id, b: b.id });
      let done = false;
      return {
        stats: () => ({ ...counts }),
        stop() {
          if (done) return;
          done = true;
          send({ op: 'unjoin', joint });
          // The worker's last counts still arrive; then the relay is forgotten.
          setTimeout(() => relays.delete(joint), 1000).unref();
        },
      };
    },
    async shutdown() {
      if (stopped) return;
      flush();
      worker.postMessage({ op: 'shutdown' });
      stopped = true;
      await worker.terminate();
    },
  };
}
