import { BYTES_PER_SAMPLE, SAMPLE_RATE } from './pcm.ts';

/** Size of the canonical RIFF/WAVE PCM header; sample data starts here. */
export const WAV_HEADER_BYTES = 44;
/** The RIFF size field is 32 bits: the most sample bytes one file can hold. */
export const MAX_DATA_BYTES = 0xffff_ffff - (WAV_HEADER_BYTES - 8);

/**
 * A 44-byte PCM header (8 kHz, 16-bit, mono: spec #15 "audio/wav (PCM …)"). While a recording is
 * written the sizes are placeholders (0); `sizeFields` gives what fills them in when it is finalized.
 */
export function wavHeader(): Buffer {
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(0, 4); // RIFF size: placeholder
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(SAMPLE_RATE, 24);
  h.writeUInt32LE(SAMPLE_RATE * BYTES_PER_SAMPLE, 28); // byte rate
  h.writeUInt16LE(BYTES_PER_SAMPLE, 32); // block align
  h.writeUInt16LE(BYTES_PER_SAMPLE * 8, 34); // bits per sample
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(0, 40); // data size: placeholder
  return h;
}

/** The header of a finished file holding `dataBytes` of samples (its sizes filled in). */
export function finishedWavHeader(dataBytes: number): Buffer {
  const h = wavHeader();
  for (const [offset, value] of sizeFields(dataBytes)) value.copy(h, offset);
  return h;
}

/** The two size fields of a finished file: [offset, 4-byte value] pairs (RIFF at 4, data at 40). */
export function sizeFields(dataBytes: number): [number, Buffer][] {
  const riff = Buffer.alloc(4);
  riff.writeUInt32LE(dataBytes + WAV_HEADER_BYTES - 8);
  const data = Buffer.alloc(4);
  data.writeUInt32LE(dataBytes);
  return [
    [4, riff],
    [40, data],
  ];
}
