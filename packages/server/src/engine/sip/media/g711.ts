// G.711 A-law (PCMA) and μ-law (PCMU) ⇄ 16-bit linear PCM, per sample (ITU-T G.711, in the
// segment/quantisation form of the classic public-domain reference). Dzvin speaks only G.711 at
// first (issue #15): this is what turns rtpengine's forked RTP into the recorder's 8 kHz PCM, and
// synthesized audio into RTP for a simulated party.

const ALAW_SEGMENT_ENDS = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
const ULAW_SEGMENT_ENDS = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const ULAW_BIAS = 0x84;
const ULAW_CLIP = 8159;

function segment(value: number, ends: number[]): number {
  for (let s = 0; s < ends.length; s++) if (value <= ends[s]) return s;
  return ends.length;
}

/** One 16-bit sample to an A-law byte. */
export function linearToAlaw(sample: number): number {
  let v = sample >> 3;
  let mask: number;
  if (v >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    v = -v - 1;
  }
  const seg = segment(v, ALAW_SEGMENT_ENDS);
  if (seg >= 8) return 0x7f ^ mask;
  const quant = seg < 2 ? (v >> 1) & 0x0f : (v >> seg) & 0x0f;
  return ((seg << 4) | quant) ^ mask;
}

/** One A-law byte to a 16-bit sample. */
export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

/** One 16-bit sample to a μ-law byte. */
export function linearToUlaw(sample: number): number {
  let v = sample >> 2;
  let mask: number;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  } else mask = 0xff;
  if (v > ULAW_CLIP) v = ULAW_CLIP;
  v += ULAW_BIAS >> 2;
  const seg = segment(v, ULAW_SEGMENT_ENDS);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask;
}

/** One μ-law byte to a 16-bit sample. */
export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
  return u & 0x80 ? ULAW_BIAS - t : t - ULAW_BIAS;
}

export type G711Codec = 'PCMA' | 'PCMU';

/** Every byte of each law decoded once: decoding is a table look-up per sample. */
const DECODED: Record<G711Codec, Int16Array> = {
  PCMA: Int16Array.from({ length: 256 }, (_, b) => alawToLinear(b)),
  PCMU: Int16Array.from({ length: 256 }, (_, b) => ulawToLinear(b)),
};

/**
 * A G.711 payload (one byte per sample) as 16-bit samples: into `into` when given (at least
 * as long as the payload; the samples are its first `payload.length`), else a new array.
 */
export function decodeG711(codec: G711Codec, payload: Uint8Array, into?: Int16Array): Int16Array {
  const table = DECODED[codec];
  const out = into ? into.subarray(0, payload.length) : new Int16Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = table[payload[i]];
  return out;
}

/** 16-bit samples as a G.711 payload. */
export function encodeG711(codec: G711Codec, samples: Int16Array): Buffer {
  const encode = codec === 'PCMA' ? linearToAlaw : linearToUlaw;
  const out = Buffer.alloc(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = encode(samples[i]);
  return out;
}
