/**
 * The simulated voices of a call, computed once per process and shared by every recording.
 *
 * rx (what the employee hears: the external party) is a 440 Hz tone, tx (what the employee says)
 * a 1000 Hz tone; each has a syllable-like envelope (4 Hz for rx, 3 Hz for tx) under a slow phrase
 * envelope, in antiphase between the two sides, so the call sounds like turn-taking and neither
 * side is ever silent for more than a fraction of a second. Tests tell the sides apart by
 * frequency (issue 3: "rx and tx differ as designed").
 *
 * Every component repeats within LOOP_SECONDS, so a call's audio is this loop played from the
 * start: writing a second of audio is copying views of these buffers, with no per-sample work
 * (1,000 calls in progress must stay cheap).
 */

export const SAMPLE_RATE = 8000;
export const BYTES_PER_SAMPLE = 2;
/** Samples per clock millisecond (8 kHz: exactly 8, so sample time is exact in ms). */
export const SAMPLES_PER_MS = SAMPLE_RATE / 1000;

export const RX_HZ = 440;
export const TX_HZ = 1000;
const RX_SYLLABLE_HZ = 4;
const TX_SYLLABLE_HZ = 3;
/** One phrase (a turn of each side) every 4 s. */
const PHRASE_HZ = 0.25;
const LOOP_SECONDS = 4;
export const LOOP_SAMPLES = SAMPLE_RATE * LOOP_SECONDS;
const PEAK = 0.5 * 32767;

export type Voice = 'mixed' | 'rx' | 'tx';

/** Little-endian 16-bit PCM, LOOP_SAMPLES long. Treat as read-only: every call shares them. */
export interface VoiceLoops {
  mixed: Buffer;
  rx: Buffer;
  tx: Buffer;
}

function build(): VoiceLoops {
  const rx = Buffer.alloc(LOOP_SAMPLES * BYTES_PER_SAMPLE);
  const tx = Buffer.alloc(LOOP_SAMPLES * BYTES_PER_SAMPLE);
  const mixed = Buffer.alloc(LOOP_SAMPLES * BYTES_PER_SAMPLE);
  const tau = 2 * Math.PI;
  for (let i = 0; i < LOOP_SAMPLES; i++) {
    const t = i / SAMPLE_RATE;
    const phrase = Math.cos(tau * PHRASE_HZ * t);
    const rxEnv = (0.65 + 0.35 * phrase) * 0.5 * (1 - Math.cos(tau * RX_SYLLABLE_HZ * t));
    const txEnv = (0.65 - 0.35 * phrase) * 0.5 * (1 - Math.cos(tau * TX_SYLLABLE_HZ * t + Math.PI / 3));
    const r = Math.round(PEAK * rxEnv * Math.sin(tau * RX_HZ * t));
    const x = Math.round(PEAK * txEnv * Math.sin(tau * TX_HZ * t));
    rx.writeInt16LE(r, i * 2);
    tx.writeInt16LE(x, i * 2);
    mixed.writeInt16LE(Math.max(-32768, Math.min(32767, Math.trunc((r + x) / 2))), i * 2);
  }
  return { mixed, rx, tx };
}

let loops: VoiceLoops | undefined;

/** The shared loops (built on first use: about 200 KB for the process). */
export function voiceLoops(): VoiceLoops {
  loops ??= build();
  return loops;
}

/**
 * Views (no copies) of `loop` covering samples [from, to) of a call, the loop repeating from
 * sample 0 at the start of the call.
 */
export function loopSlices(loop: Buffer, from: number, to: number): Buffer[] {
  const out: Buffer[] = [];
  let pos = from;
  while (pos < to) {
    const off = pos % LOOP_SAMPLES;
    const n = Math.min(LOOP_SAMPLES - off, to - pos);
    out.push(loop.subarray(off * BYTES_PER_SAMPLE, (off + n) * BYTES_PER_SAMPLE));
    pos += n;
  }
  return out;
}
