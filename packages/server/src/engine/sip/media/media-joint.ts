// Two real phones in one call (issue 15): each is anchored by rtpengine towards a socket of
// Dzvin's (local-media.ts); the joint relays what one phone sends to the other, so they hear each
// other. The media still passes through rtpengine on both sides (NAT, the phones' addresses,
// later recording forks); Dzvin adds one loopback hop, 50 packets a second each way per call.
// It runs in the media worker (media-worker.ts), off the main event loop.
import type dgram from 'node:dgram';
import type { Remote } from '../transport.ts';
import { decodeG711, encodeG711, type G711Codec } from './g711.ts';
import { parseRtp, rtpHeader } from './rtp.ts';
import { G711_PAYLOAD_TYPES } from './rtp-recording.ts';
import type { RtpStreamOut } from './rtp-stream.ts';

const PAYLOAD_TYPE: Record<G711Codec, number> = { PCMA: 8, PCMU: 0 };

/** One phone's end of a call's media, as Dzvin holds it. */
export interface MediaEnd {
  /** Dzvin's socket rtpengine relays this phone's RTP to. */
  socket: dgram.Socket;
  /** Where rtpengine takes RTP for this phone (its SDP towards Dzvin). */
  to: Remote;
  /** The G.711 law this phone was answered with (what it is sent). */
  codec: G711Codec;
  /** The phone's one stream: what is relayed to it continues what it was sent before. */
  out: RtpStreamOut;
  /**
   * Sends a datagram to `to` (the media worker's sockets are connected to it: cheaper per
   * packet); absent: `socket.send` to `to`. May throw when the socket was closed.
   */
  send?(packet: Buffer): void;
}

export interface MediaJoint {
  /** Packets relayed a→b and b→a, and G.711 frames re-encoded between the two laws. */
  stats(): { aToB: number; bToA: number; transcoded: number };
  /** Stops relaying (either phone's leg ended); the sockets stay their owners'. */
  stop(): void;
}

export interface JoinOptions {
  /** Each relayed datagram, after it was sent on: the recording's view of the other phone. */
  onRelay?(from: 'a' | 'b', datagram: Buffer): void;
}

/**
 * Relays RTP between two phones' ends. A G.711 packet in the law the receiving phone was answered
 * with is passed on as it is but for its header's numbers, which go onto the receiver's stream
 * (`MediaEnd.out`: before this joint it may have heard a tone of Dzvin's, or another phone); in
 * the other law it is re-encoded (a table look-up per sample) with the receiver's payload type.
 * RFC 4733 events and comfort noise pass (renumbered the same way); a datagram that is not RTP is
 * dropped.
 */
export function joinMedia(a: MediaEnd, b: MediaEnd, opts: JoinOptions = {}): MediaJoint {
  let aToB = 0;
  let bToA = 0;
  let transcoded = 0;
  let stopped = false;
  const relay = (from: 'a' | 'b', target: MediaEnd, datagram: Buffer) => {
    if (stopped) return;
    const p = parseRtp(datagram);
    if (!p) return;
    let out: Buffer | null = null;
    const law = G711_PAYLOAD_TYPES[p.payloadType];
    if (law && law !== target.codec) {
      const header = rtpHeader(PAYLOAD_TYPE[target.codec], p.seq, p.timestamp, p.ssrc);
      if (p.marker) header[1] |= 0x80;
      out = Buffer.concat([header, encodeG711(target.codec, decodeG711(law, p.payload))]);
      transcoded++;
    } else out = Buffer.from(datagram);
    // The source: this side's SSRC, as a number above any SSRC (2^32 + …, 2^33 + …) so that no
    // string is made per packet; senders' keys are strings (rtp-sender.ts).
    target.out.rewrite(out, (from === 'a' ? 0x1_0000_0000 : 0x2_0000_0000) + p.ssrc);
    try {
      // The other leg may have ended a moment ago (its socket closed): the packet is dropped.
      if (target.send) target.send(out);
      else target.socket.send(out, target.to.port, target.to.address); // no callback: no tick per packet
    } catch {
      return;
    }
    if (from === 'a') aToB++;
    else bToA++;
    opts.onRelay?.(from, datagram);
  };
  const fromA = (d: Buffer) => relay('a', b, d);
  const fromB = (d: Buffer) => relay('b', a, d);
  a.socket.on('message', fromA);
  b.socket.on('message', fromB);
  return {
    stats: () => ({ aToB, bToA, transcoded }),
    stop() {
      if (stopped) return;
      stopped = true;
      a.socket.off('message', fromA);
      b.socket.off('message', fromB);
    },
  };
}
