// RTP (RFC 3550) as the SIP driver needs it: the fixed header of what it sends, and the header
// fields and payload of what a phone sends through rtpengine.

/** The fields of an RTP packet the driver reads. `payload` is a view into the datagram. */
export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  seq: number;
  /** The media clock of the sender (8 kHz for G.711): 32 bits, wraps. */
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

const FIXED_HEADER = 12;

/**
 * Reads an RTP datagram: version 2, CSRCs, a header extension and padding skipped. Anything else
 * (too short, another version, lengths that do not add up) is null: a datagram from the network
 * never throws.
 */
export function parseRtp(buf: Buffer): RtpPacket | null {
  if (buf.length < FIXED_HEADER || buf[0] >> 6 !== 2) return null;
  const padding = (buf[0] & 0x20) !== 0;
  const extension = (buf[0] & 0x10) !== 0;
  let offset = FIXED_HEADER + (buf[0] & 0x0f) * 4;
  if (extension) {
    if (buf.length < offset + 4) return null;
    offset += 4 + buf.readUInt16BE(offset + 2) * 4;
  }
  let end = buf.length;
  if (padding) end -= buf[buf.length - 1];
  if (end < offset) return null;
  return {
    payloadType: buf[1] & 0x7f,
    marker: (buf[1] & 0x80) !== 0,
    seq: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payload: buf.subarray(offset, end),
  };
}

/** A 12-byte RTP header (version 2, no padding, extension or CSRCs). */
export function rtpHeader(payloadType: number, seq: number, timestamp: number, ssrc: number): Buffer {
  const header = Buffer.alloc(FIXED_HEADER);
  header[0] = 0x80;
  header[1] = payloadType & 0x7f;
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE(timestamp >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return header;
}
