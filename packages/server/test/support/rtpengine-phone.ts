// A minimal RTP "phone" for rtpengine tests: one UDP socket on a loopback address, an SDP that
// describes it, paced 20 ms G.711 packets out, and every RTP packet that comes in, parsed.
import dgram from 'node:dgram';
import { sleep, until } from './wait.ts';

export interface RtpHeader {
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  marker?: boolean;
}

export interface RtpPacket extends RtpHeader {
  payload: Buffer;
  /** Where it came from. */
  from: { address: string; port: number };
}

/** An RTP packet: the 12-byte RFC 3550 header (no CSRCs, no extension) and the payload. */
export function rtpPacket(h: RtpHeader, payload: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head[0] = 0x80; // version 2
  head[1] = (h.marker ? 0x80 : 0) | (h.pt & 0x7f);
  head.writeUInt16BE(h.seq & 0xffff, 2);
  head.writeUInt32BE(h.ts >>> 0, 4);
  head.writeUInt32BE(h.ssrc >>> 0, 8);
  return Buffer.concat([head, payload]);
}

/** Parses an RTP packet (skipping CSRCs and a header extension); undefined if it is not one. */
export function parseRtp(buf: Buffer): Omit<RtpPacket, 'from'> | undefined {
  if (buf.length < 12 || buf[0] >> 6 !== 2) return undefined;
  const pt = buf[1] & 0x7f;
  if (pt >= 72 && pt <= 76) return undefined; // RTCP (SR/RR/SDES/BYE/APP) on a muxed port
  let offset = 12 + 4 * (buf[0] & 0x0f);
  if (buf[0] & 0x10) {
    if (buf.length < offset + 4) return undefined;
    offset += 4 + 4 * buf.readUInt16BE(offset + 2);
  }
  let end = buf.length;
  if (buf[0] & 0x20) end -= buf[buf.length - 1]; // padding
  if (offset > end) return undefined;
  return {
    pt,
    marker: (buf[1] & 0x80) !== 0,
    seq: buf.readUInt16BE(2),
    ts: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payload: Buffer.from(buf.subarray(offset, end)),
  };
}

export interface RtpPhone {
  address: string;
  port: number;
  /** RTP packets received so far, in arrival order. */
  received: RtpPacket[];
  /** An SDP offering this phone's address and port with these codecs (default PCMA, PCMU, DTMF). */
  sdp(formats?: string): string;
  /** Sends `count` packets 20 ms apart to `port` on 127.0.0.1; resolves with what was sent. */
  send(
    port: number,
    count: number,
    payload: (i: number) => Buffer,
    h?: Partial<RtpHeader>,
  ): Promise<{ seq: number; payload: Buffer }[]>;
  /** Waits until at least `n` packets have arrived. */
  waitFor(n: number, what: string, ms?: number): Promise<void>;
  close(): Promise<void>;
}

const G711_FORMATS =
  'm=audio {port} RTP/AVP 8 0 101\r\n' +
  'a=rtpmap:8 PCMA/8000\r\n' +
  'a=rtpmap:0 PCMU/8000\r\n' +
  'a=rtpmap:101 telephone-event/8000\r\n' +
  'a=fmtp:101 0-15\r\n';

/** A phone on `address` (any 127.x.y.z works on Linux loopback), on a free port. */
export async function createRtpPhone(address: string): Promise<RtpPhone> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => resolve());
  });
  const port = socket.address().port;
  const received: RtpPacket[] = [];
  socket.on('message', (buf, rinfo) => {
    const p = parseRtp(buf);
    if (p) received.push({ ...p, from: { address: rinfo.address, port: rinfo.port } });
  });
  let session = 0;
  return {
    address,
    port,
    received,
    sdp(formats = G711_FORMATS) {
      session++;
      return [
        'v=0',
        `o=- ${port} ${session} IN IP4 ${address}`,
        's=-',
        `c=IN IP4 ${address}`,
        't=0 0',
        `${formats.replace('{port}', String(port)).trimEnd()}`,
        'a=ptime:20',
        'a=sendrecv',
        '',
      ].join('\r\n');
    },
    async send(to, count, payload, h = {}) {
      const ssrc = h.ssrc ?? (Math.random() * 2 ** 32) >>> 0;
      const seq0 = h.seq ?? Math.floor(Math.random() * 30_000);
      const ts0 = h.ts ?? Math.floor(Math.random() * 2 ** 31);
      const sent: { seq: number; payload: Buffer }[] = [];
      const start = Date.now();
      for (let i = 0; i < count; i++) {
        const seq = (seq0 + i) & 0xffff;
        const body = payload(i);
        const packet = rtpPacket({ pt: h.pt ?? 8, seq, ts: ts0 + 160 * i, ssrc, marker: i === 0 }, body);
        await new Promise<void>((resolve, reject) =>
          socket.send(packet, to, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
        );
        sent.push({ seq, payload: body });
        // Paced on the wall clock (20 ms per packet), so a slow tick does not bunch them up.
        const due = start + 20 * (i + 1) - Date.now();
        if (due > 0) await sleep(due);
      }
      return sent;
    },
    waitFor: (n, what, ms = 3000) => until(() => received.length >= n, what, ms).then(() => undefined),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
