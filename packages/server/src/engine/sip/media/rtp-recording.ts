import type { Recorder } from '../../../domain/calls/call-model.ts';
import { decodeG711, type G711Codec } from './g711.ts';
import { parseRtp } from './rtp.ts';

/** The static payload types of G.711 (RFC 3551); others (telephone-event, comfort noise) are not recorded. */
export const G711_PAYLOAD_TYPES: Readonly<Record<number, G711Codec>> = { 0: 'PCMU', 8: 'PCMA' };
/** G.711's RTP clock: 8 kHz, 8 timestamp units per millisecond. */
const UNITS_PER_MS = 8;
/**
 * How far a packet's place by RTP timestamp may drift from its arrival before the stream is
 * anchored again at its arrival: a phone whose clock runs slow or fast, a timestamp jump, a
 * phone that restarted its stream. Well below the recorder's hold of about a second (audio
 * placed further back than that is dropped), well above ordinary jitter.
 */
export const MAX_SKEW_MS = 500;
/**
 * How late a packet may arrive after its place before the stream is anchored again: longer than
 * MAX_SKEW_MS, because lateness is what a stalled event loop (or a busy machine) does to every
 * packet at once — a burst that keeps its places is seamless audio, re-anchoring it would leave a
 * hole. As long as the recorder holds unwritten audio (about a second); later than that it is
 * dropped there anyway.
 */
export const MAX_LATE_MS = 1000;

/** Places one RTP stream's packets on the recorder's clock. */
export interface RtpTimeline {
  /** The time (ms, the recorder's clock) of a packet's first sample. */
  place(ssrc: number, timestamp: number, arrivalMs: number): number;
}

/**
 * Packets are placed by RTP timestamp relative to the stream's first packet (anchored at that
 * packet's arrival): jitter and reordering do not move audio, a lost packet leaves its 20 ms
 * silent. Timestamps wrap at 2^32; the distance from the previous packet is taken as signed 32
 * bits, so a late packet lands before its successor. A new SSRC, a place more than `maxSkewMs`
 * ahead of the arrival, or more than `maxLateMs` behind it, anchors the stream again.
 */
export function createRtpTimeline(maxSkewMs = MAX_SKEW_MS, maxLateMs = MAX_LATE_MS): RtpTimeline {
  let anchor: { ssrc: number; atMs: number; lastTs: number; units: number } | null = null;
  return {
    place(ssrc, timestamp, arrivalMs) {
      if (anchor && anchor.ssrc === ssrc) {
        const units = anchor.units + ((timestamp - anchor.lastTs) | 0);
        const atMs = anchor.atMs + units / UNITS_PER_MS;
        if (atMs - arrivalMs <= maxSkewMs && arrivalMs - atMs <= maxLateMs) {
          anchor.lastTs = timestamp;
          anchor.units = units;
          return atMs;
        }
      }
      anchor = { ssrc, atMs: arrivalMs, lastTs: timestamp, units: 0 };
      return arrivalMs;
    },
  };
}

/** One phone's part in a call's recording. */
export interface CallAudioTap {
  /**
   * A datagram the phone sent: G.711 audio is decoded and fed as the employee's side (tx), placed
   * by its RTP timestamp. Answers whether it was recordable audio.
   */
  heard(datagram: Buffer): boolean;
  /** `pcm` that was encoded and sent to the phone as the other party, its first sample at `atMs`: fed as rx. */
  said(pcm: Int16Array, atMs: number): void;
  /**
   * A datagram the other party's phone sent (two real phones in one call, media-joint.ts):
   * decoded and fed as rx, placed by its own RTP timestamps.
   */
  heardOther(datagram: Buffer): boolean;
}

export interface CallAudioTapOptions {
  /** The call's uuid (its recording's). */
  uuid: string;
  recorder: Pick<Recorder, 'feed'>;
  /** The recorder's clock. */
  now: () => number;
  /**
   * The recorder copies what it is fed before `feed` returns (the media worker's batching does):
   * every packet is then decoded into one scratch array instead of an array of its own.
   */
  copies?: boolean;
}

/**
 * What a real phone's call records (issue 15): tx = the phone's RTP decoded, rx = the audio Dzvin
 * sent it as the other party; the recorder mixes the two. Decoding a 20 ms frame is 160 table
 * look-ups and `feed` only queues it (the recorder batches writes): nothing here waits.
 *
 * @example
 * const tap = createCallAudioTap({ uuid, recorder, now: () => clock.now() });
 * socket.on('message', (datagram) => tap.heard(datagram));
 * tap.said(frame, sentAtMs);
 */
export function createCallAudioTap(opts: CallAudioTapOptions): CallAudioTap {
  let scratch = opts.copies ? new Int16Array(512) : null;
  const track = (side: 'rx' | 'tx') => {
    const timeline = createRtpTimeline();
    return (datagram: Buffer) => {
      const p = parseRtp(datagram);
      const codec = p ? G711_PAYLOAD_TYPES[p.payloadType] : undefined;
      if (!p || !codec || p.payload.length === 0) return false;
      const atMs = timeline.place(p.ssrc, p.timestamp, opts.now());
      if (scratch && scratch.length < p.payload.length) scratch = new Int16Array(p.payload.length);
      opts.recorder.feed(opts.uuid, side, decodeG711(codec, p.payload, scratch ?? undefined), atMs);
      return true;
    };
  };
  return {
    heard: track('tx'),
    heardOther: track('rx'),
    said(pcm, atMs) {
      opts.recorder.feed(opts.uuid, 'rx', pcm, atMs);
    },
  };
}
