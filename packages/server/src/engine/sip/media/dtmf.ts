import type { RtpPacket } from './rtp.ts';

/** RFC 4733 §3.2: events 0–9 are the digits, 10 `*`, 11 `#`, 12–15 A–D. */
const EVENTS = '0123456789*#ABCD';

/**
 * Reads a caller's DTMF as RFC 4733 telephone-events (the payload type the caller's SDP maps to
 * `telephone-event/8000`). One key press is many packets with the same RTP timestamp (updates,
 * then the end packet three times, §2.5.1.4); it is one digit, reported on its first packet —
 * an IVR reacts while the key is still down, as callers expect. Anything that is not a
 * telephone-event of a known key is ignored; a datagram from the network never throws.
 */
export function createDtmfReader(payloadType: number, onDigit: (digit: string) => void) {
  /** The timestamp of the last event reported, per source: a new press has a new timestamp. */
  const last = new Map<number, number>();
  return {
    read(p: RtpPacket): boolean {
      if (p.payloadType !== payloadType || p.payload.length < 4) return false;
      const event = p.payload[0];
      if (event >= EVENTS.length) return true;
      if (last.get(p.ssrc) === p.timestamp) return true;
      last.set(p.ssrc, p.timestamp);
      onDigit(EVENTS[event]);
      return true;
    },
  };
}

/** The payload type an SDP maps to `telephone-event/8000`, if any (Dzvin offers one audio stream). */
export function telephoneEventPt(sdp: string): number | null {
  const m = /^a=rtpmap:(\d+) telephone-event\/8000\b/im.exec(sdp);
  return m ? Number(m[1]) : null;
}
