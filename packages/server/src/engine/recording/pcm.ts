import os from 'node:os';

/**
 * The one audio format of recordings: 8 kHz, 16-bit signed, mono PCM (spec #15 "audio/wav (PCM
 * …)"; G.711 decodes to exactly this). Every track is stored in it and every audio source feeds
 * it.
 */
export const SAMPLE_RATE = 8000;
export const BYTES_PER_SAMPLE = 2;
/** Samples per clock millisecond (8 kHz: exactly 8, so a 20 ms RTP frame is 160 samples). */
export const SAMPLES_PER_MS = SAMPLE_RATE / 1000;

const LITTLE_ENDIAN = os.endianness() === 'LE';

/**
 * `pcm` as samples. A Buffer holds little-endian samples (the WAV byte order); on a little-endian
 * machine an even-aligned Buffer is viewed, not copied.
 */
export function asSamples(pcm: Int16Array | Buffer): Int16Array {
  if (pcm instanceof Int16Array) return pcm;
  const n = Math.floor(pcm.length / BYTES_PER_SAMPLE);
  if (LITTLE_ENDIAN && pcm.byteOffset % BYTES_PER_SAMPLE === 0)
    return new Int16Array(pcm.buffer, pcm.byteOffset, n);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = pcm.readInt16LE(i * BYTES_PER_SAMPLE);
  return out;
}

/** Samples as the little-endian bytes of a WAV file (a view on little-endian machines). */
export function asBytes(samples: Int16Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const out = Buffer.alloc(samples.length * BYTES_PER_SAMPLE);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i], i * BYTES_PER_SAMPLE);
  return out;
}
