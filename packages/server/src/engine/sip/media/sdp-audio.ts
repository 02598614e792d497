// Just enough SDP reading for media decisions: where a party's audio goes (connection address and
// port of the first audio stream) and which codecs it offers. The B2BUA's codec policy (issue #15:
// G.711 only at first) rests on `g711Codecs`: an offer with neither PCMA nor PCMU is answered
// 488 Not Acceptable Here, because rtpengine does not refuse it by itself (it passes such an offer
// through unchanged, see rtpengine.test.ts).
import type { G711Codec } from './g711.ts';

export interface AudioFormat {
  /** RTP payload type. */
  pt: number;
  /** Encoding name from a=rtpmap (or the static RFC 3551 name), as written: `PCMA`, `opus`… */
  codec?: string;
  clockRate?: number;
}

export interface AudioStream {
  /** The media-level c= address, else the session-level one. */
  address?: string;
  port: number;
  protocol: string;
  formats: AudioFormat[];
  /** sendrecv / sendonly / recvonly / inactive, when the SDP says. */
  direction?: string;
}

/** Payload types with names fixed by RFC 3551 (used without a=rtpmap). */
const STATIC: Record<number, [string, number]> = { 0: ['PCMU', 8000], 8: ['PCMA', 8000], 9: ['G722', 8000] };

/** The first m=audio stream of an SDP, or undefined when it has none (or it is unreadable). */
export function firstAudioStream(sdp: string): AudioStream | undefined {
  const lines = sdp.split(/\r?\n/);
  let sessionAddress: string | undefined;
  let stream: AudioStream | undefined;
  let sessionDirection: string | undefined;
  for (const line of lines) {
    if (line.startsWith('m=')) {
      if (stream) break; // the first audio stream is complete
      const m = /^m=audio (\d+)(?:\/\d+)? (\S+)((?: \d+)*)\s*$/.exec(line);
      if (!m) continue;
      stream = {
        port: Number(m[1]),
        protocol: m[2],
        formats: m[3]
          .trim()
          .split(' ')
          .filter(Boolean)
          .map((pt) => {
            const known = STATIC[Number(pt)];
            return known ? { pt: Number(pt), codec: known[0], clockRate: known[1] } : { pt: Number(pt) };
          }),
      };
      continue;
    }
    const c = /^c=IN IP[46] (\S+)/.exec(line);
    if (c) {
      if (stream) stream.address = c[1].split('/')[0];
      else sessionAddress = c[1].split('/')[0];
      continue;
    }
    const dir = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.exec(line);
    if (dir) {
      if (stream) stream.direction = dir[1];
      else sessionDirection = dir[1];
      continue;
    }
    const rtpmap = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(line);
    if (rtpmap && stream) {
      const f = stream.formats.find((x) => x.pt === Number(rtpmap[1]));
      if (f) {
        f.codec = rtpmap[2];
        f.clockRate = Number(rtpmap[3]);
      }
    }
  }
  if (!stream) return undefined;
  stream.address ??= sessionAddress;
  stream.direction ??= sessionDirection;
  return stream;
}

/** The G.711 codecs an SDP's audio offers, in its order of preference (empty: answer 488). */
export function g711Codecs(sdp: string): G711Codec[] {
  const out: G711Codec[] = [];
  for (const f of firstAudioStream(sdp)?.formats ?? []) {
    const name = f.codec?.toUpperCase();
    if ((name === 'PCMA' || name === 'PCMU') && f.clockRate === 8000 && !out.includes(name)) out.push(name);
  }
  return out;
}
