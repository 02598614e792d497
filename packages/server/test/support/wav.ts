import { finishedWavHeader } from '../../src/engine/recording/wav-header.ts';
// A strict WAV reader and a little signal analysis, so recording tests check real audio instead of
// trusting the writer: header fields, sizes against the file, duration, loudness and pitch.

export interface Wav {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** 16-bit PCM samples (interleaved when channels > 1). */
  samples: Int16Array;
  durationSec: number;
  /** Where the data chunk's bytes start, and how many there are. */
  dataOffset: number;
  dataBytes: number;
  /** The RIFF chunk size field (file size − 8 when the file is consistent). */
  riffSize: number;
}

/**
 * Parses a RIFF/WAVE file of 16-bit PCM. Throws on anything malformed: bad magic, a non-PCM
 * format, a RIFF size that disagrees with the buffer, a data chunk running past the end, an
 * odd-sized sample block.
 */
export function parseWav(buf: Buffer): Wav {
  const fail = (why: string): never => {
    throw new Error(`invalid WAV: ${why}`);
  };
  if (buf.length < 12) fail(`${buf.length} bytes is too short`);
  if (buf.toString('ascii', 0, 4) !== 'RIFF') fail('no RIFF magic');
  if (buf.toString('ascii', 8, 12) !== 'WAVE') fail('no WAVE form type');
  const riffSize = buf.readUInt32LE(4);
  if (riffSize !== buf.length - 8)
    fail(`RIFF size ${riffSize} but the file has ${buf.length - 8} bytes after it`);

  let fmt: {
    format: number;
    channels: number;
    sampleRate: number;
    byteRate: number;
    blockAlign: number;
    bits: number;
  } | null = null;
  let data: { offset: number; size: number } | null = null;
  for (let pos = 12; pos + 8 <= buf.length; ) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (body + size > buf.length) fail(`chunk '${id}' of ${size} bytes runs past the end of the file`);
    if (id === 'fmt ') {
      if (size < 16) fail(`fmt chunk of ${size} bytes`);
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        byteRate: buf.readUInt32LE(body + 8),
        blockAlign: buf.readUInt16LE(body + 12),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      data = { offset: body, size };
    }
    pos = body + size + (size % 2); // chunks are word-aligned
  }
  if (!fmt) return fail('no fmt chunk');
  if (!data) return fail('no data chunk');
  if (fmt.format !== 1) fail(`format ${fmt.format} is not PCM`);
  if (fmt.bits !== 16) fail(`${fmt.bits} bits per sample (only 16 is supported here)`);
  if (fmt.channels < 1) fail('no channels');
  if (fmt.blockAlign !== fmt.channels * 2) fail(`block align ${fmt.blockAlign}`);
  if (fmt.byteRate !== fmt.sampleRate * fmt.blockAlign) fail(`byte rate ${fmt.byteRate}`);
  if (data.size % fmt.blockAlign !== 0) fail(`data size ${data.size} is not whole sample frames`);

  const samples = new Int16Array(data.size / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = buf.readInt16LE(data.offset + i * 2);
  return {
    sampleRate: fmt.sampleRate,
    channels: fmt.channels,
    bitsPerSample: fmt.bits,
    samples,
    durationSec: samples.length / fmt.channels / fmt.sampleRate,
    dataOffset: data.offset,
    dataBytes: data.size,
    riffSize,
  };
}

/** Root mean square, as a fraction of full scale (0 = silence, ~0.707 = a full-scale sine). */
export function rms(samples: Int16Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length) / 32768;
}

/**
 * Amplitude (fraction of full scale) of the `freq` component, by the Goertzel algorithm: a
 * full-scale sine at `freq` gives ≈ 1, a signal without that frequency ≈ 0.
 */
export function goertzel(samples: Int16Array, sampleRate: number, freq: number): number {
  const n = samples.length;
  if (n === 0) return 0;
  const coeff = 2 * Math.cos((2 * Math.PI * freq) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const s0 = samples[i] / 32768 + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return (2 * Math.sqrt(Math.max(0, power))) / n;
}

/** The dominant frequency estimated from the zero-crossing rate (good for one clear tone). */
export function zeroCrossingHz(samples: Int16Array, sampleRate: number): number {
  let crossings = 0;
  let prev = 0;
  for (const s of samples) {
    if (s === 0) continue;
    if (prev !== 0 && Math.sign(s) !== Math.sign(prev)) crossings++;
    prev = s;
  }
  return crossings / 2 / (samples.length / sampleRate);
}

/** The candidate frequency with the most energy (Goertzel). */
export function dominantOf(samples: Int16Array, sampleRate: number, candidates: number[]): number {
  let best = candidates[0];
  let bestAmp = -1;
  for (const f of candidates) {
    const a = goertzel(samples, sampleRate, f);
    if (a > bestAmp) {
      best = f;
      bestAmp = a;
    }
  }
  return best;
}

/** `seconds` of a sine at `hz` as an 8 kHz 16-bit mono WAV file, with the recorder's own header. */
export function toneWav(hz: number, seconds: number, amplitude = 12_000): Buffer {
  const n = Math.round(8000 * seconds);
  const data = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++)
    data.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / 8000)), 2 * i);
  return Buffer.concat([finishedWavHeader(data.length), data]);
}

/** The frequency (5 Hz steps, 200–2000 Hz, 8 kHz audio) with the most energy: what a recorded tone measures. */
export function peakHz(samples: Int16Array): number {
  let best = 0;
  let bestAmp = -1;
  for (let f = 200; f <= 2000; f += 5) {
    const a = goertzel(samples, 8000, f);
    if (a > bestAmp) [best, bestAmp] = [f, a];
  }
  return best;
}
