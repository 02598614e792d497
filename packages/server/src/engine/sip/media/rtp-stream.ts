// What Dzvin sends one phone is one RTP stream, whoever speaks in it: the simulated party's voice
// or an IVR prompt (rtp-sender.ts), then — after a transfer, a consultation, a cancel — another
// phone's packets relayed (media-joint.ts), then a tone again. Each source numbers its packets
// its own way; a phone's jitter buffer that sees the sequence number jump back drops everything
// after as "too late" (baresip/libre: ETIMEDOUT) and the employee hears silence. So, as
// rtpengine does for the calls it bridges, every packet to a phone is rewritten onto the phone's
// own stream: one SSRC, a sequence that goes on by one, a timestamp that goes on by the time that
// passed, and the marker bit where a new source begins (RFC 3550 §5.1: a talkspurt).

/** A source within a stream: a sender of Dzvin's, or a phone's SSRC as relayed. */
export type SourceKey = string | number;

export interface RtpStreamOut {
  /**
   * Writes the stream's sequence number, timestamp and SSRC into `packet` (an RTP datagram whose
   * header carries the source's own), setting the marker on a source's first packet.
   */
  rewrite(packet: Buffer, source: SourceKey): void;
}

const SAMPLE_RATE = 8000;

export function createRtpStreamOut(): RtpStreamOut {
  const ssrc = Math.floor(Math.random() * 2 ** 32) >>> 0;
  let source: SourceKey | null = null;
  let seqOffset = 0;
  let tsOffset = 0;
  // The last packet sent: its numbers on the stream, and when (ms).
  let lastSeq = Math.floor(Math.random() * 65536);
  let lastTs = Math.floor(Math.random() * 2 ** 32) >>> 0;
  let lastAt: number | null = null;
  return {
    rewrite(packet, from) {
      if (packet.length < 12) return;
      const seq = packet.readUInt16BE(2);
      const ts = packet.readUInt32BE(4);
      const now = performance.now();
      if (from !== source) {
        // A new source: its first packet follows the last one sent, as far ahead in media time
        // as the wall clock went (at least one 20 ms frame).
        source = from;
        const elapsed = lastAt === null ? 20 : Math.max(20, now - lastAt);
        seqOffset = (lastSeq + 1 - seq) & 0xffff;
        tsOffset = (lastTs + Math.round((elapsed * SAMPLE_RATE) / 1000) - ts) >>> 0;
        packet[1] |= 0x80;
      }
      const outSeq = (seq + seqOffset) & 0xffff;
      const outTs = (ts + tsOffset) >>> 0;
      packet.writeUInt16BE(outSeq, 2);
      packet.writeUInt32BE(outTs, 4);
      packet.writeUInt32BE(ssrc, 8);
      // Within a source the order is the source's (a reordered packet stays behind the newest).
      if (((outSeq - lastSeq) & 0xffff) < 0x8000) {
        lastSeq = outSeq;
        lastTs = outTs;
      }
      lastAt = now;
    },
  };
}
