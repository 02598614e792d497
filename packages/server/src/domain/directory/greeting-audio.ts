import { DomainError } from '../errors.ts';

/** An IVR greeting's longest play (2 min at 8 kHz, 16-bit: under 2 MB). */
export const MAX_GREETING_SECONDS = 120;
const RATE = 8000;
const HOW = 'send an 8 kHz mono 16-bit PCM WAV (e.g. `sox in.mp3 -r 8000 -c 1 -b 16 greeting.wav`)';

/**
 * The samples of an uploaded greeting (RIFF/WAVE, PCM 16-bit mono 8 kHz: what phones hear, so
 * nothing is resampled on a call), as little-endian 16-bit PCM. Chunks other than `fmt ` and
 * `data` (LIST, fact…) are skipped; anything else is a clear refusal naming what was sent.
 */
export function greetingPcm(wav: Buffer): Buffer {
  const refuse = (why: string) => new DomainError('UNSUPPORTED_MEDIA', `Greeting audio: ${why}; ${HOW}`);
  if (wav.length < 12 || wav.toString('latin1', 0, 4) !== 'RIFF' || wav.toString('latin1', 8, 12) !== 'WAVE')
    throw refuse('not a WAV file');
  let format: { tag: number; channels: number; rate: number; bits: number } | null = null;
  for (let at = 12; at + 8 <= wav.length; ) {
    const id = wav.toString('latin1', at, at + 4);
    const size = wav.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > wav.length) throw refuse('a truncated fmt chunk');
      format = {
        tag: wav.readUInt16LE(body),
        channels: wav.readUInt16LE(body + 2),
        rate: wav.readUInt32LE(body + 4),
        bits: wav.readUInt16LE(body + 14),
      };
      // WAVE_FORMAT_EXTENSIBLE: the real tag is the sub-format's first two bytes.
      if (format.tag === 0xfffe && size >= 40 && body + 26 <= wav.length)
        format.tag = wav.readUInt16LE(body + 24);
    } else if (id === 'data') {
      if (!format) throw refuse('no fmt chunk before the audio');
      if (format.tag !== 1 || format.bits !== 16) throw refuse(`format ${format.tag}, ${format.bits}-bit`);
      if (format.channels !== 1) throw refuse(`${format.channels} channels`);
      if (format.rate !== RATE) throw refuse(`${format.rate} Hz`);
      // A streamed WAV may say 0 or more than it has: take what is there, whole samples.
      const end = Math.min(wav.length, size === 0 || size === 0xffffffff ? wav.length : body + size);
      const pcm = wav.subarray(body, body + ((end - body) & ~1));
      if (pcm.length < RATE / 5) throw refuse('less than 0.1 s of audio');
      if (pcm.length > MAX_GREETING_SECONDS * RATE * 2)
        throw refuse(`${(pcm.length / (RATE * 2)).toFixed(1)} s, longer than ${MAX_GREETING_SECONDS} s`);
      return Buffer.from(pcm);
    }
    at = body + size + (size & 1);
  }
  throw refuse('no audio (data chunk)');
}
