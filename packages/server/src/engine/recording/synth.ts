import type { RecordingSide } from '../../domain/calls/call-model.ts';
import type { Cancel, Clock, Timers } from '../../domain/clock.ts';
import type { AudioSink, AudioSource } from './audio-source.ts';
import { BYTES_PER_SAMPLE, SAMPLE_RATE, SAMPLES_PER_MS } from './pcm.ts';

/**
 * The simulated voices of a call, computed once per process and shared by every recording, and
 * the audio source that feeds them to the recorder.
 *
 * rx (what the employee hears: the external party) is a 440 Hz tone, tx (what the employee says)
 * a 1000 Hz tone; each has a syllable-like envelope (4 Hz for rx, 3 Hz for tx) under a slow phrase
 * envelope, in antiphase between the two sides, so the call sounds like turn-taking and neither
 * side is ever silent for more than a fraction of a second. Tests tell the sides apart by
 * frequency (issue 3: "rx and tx differ as designed"). The mixed track is not synthesized: the
 * recorder mixes it from what is fed, as it will for real calls.
 *
 * Every component repeats within LOOP_SECONDS, so a call's audio is this loop played from the
 * start: feeding a second of audio is handing over views of these buffers (1,000 calls in
 * progress must stay cheap).
 */

export const RX_HZ = 440;
export const TX_HZ = 1000;
const RX_SYLLABLE_HZ = 4;
const TX_SYLLABLE_HZ = 3;
/** One phrase (a turn of each side) every 4 s. */
const PHRASE_HZ = 0.25;
const LOOP_SECONDS = 4;
export const LOOP_SAMPLES = SAMPLE_RATE * LOOP_SECONDS;
const PEAK = 0.5 * 32767;

/** Little-endian 16-bit PCM, LOOP_SAMPLES long, per side. Treat as read-only: every call shares them. */
export type VoiceLoops = Record<RecordingSide, Buffer>;

function build(): VoiceLoops {
  const rx = Buffer.alloc(LOOP_SAMPLES * BYTES_PER_SAMPLE);
  const tx = Buffer.alloc(LOOP_SAMPLES * BYTES_PER_SAMPLE);
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
  }
  return { rx, tx };
}

let loops: VoiceLoops | undefined;

/** The shared loops (built on first use: about 128 KB for the process). */
export function voiceLoops(): VoiceLoops {
  loops ??= build();
  return loops;
}

/**
 * Views (no copies) of `loop` covering samples [from, to) of a call, the loop repeating from
 * sample 0 at the start of the call: `[first sample, view]` pairs.
 */
export function loopSlices(loop: Buffer, from: number, to: number): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let pos = from;
  while (pos < to) {
    const off = pos % LOOP_SAMPLES;
    const n = Math.min(LOOP_SAMPLES - off, to - pos);
    out.push([pos, loop.subarray(off * BYTES_PER_SAMPLE, (off + n) * BYTES_PER_SAMPLE)]);
    pos += n;
  }
  return out;
}

/** How often the synthesized source feeds a call: a second of audio per side and tick. */
const FEED_MS = 1000;
const SIDES: readonly RecordingSide[] = ['rx', 'tx'];

export interface SynthSourceOptions {
  timers: Timers;
  clock: Clock;
}

/**
 * The simulator's audio source: every second of clock time it feeds each side of every call
 * recording the voice loops' audio of the elapsed interval (views, no copies) through the same
 * `feed` path an RTP source uses, and waits until that is written before the next tick; `stop`
 * feeds the rest up to the hangup.
 *
 * @example
 * const recorder = createFileRecorder({ dir, timers, clock, source: createSynthSource({ timers, clock }) });
 */
export function createSynthSource(opts: SynthSourceOptions): AudioSource {
  const loops = voiceLoops();
  const calls = new Map<string, { startMs: number; fed: number; sink: AudioSink; cancel: Cancel | null }>();

  function feedUpTo(uuid: string, atMs: number) {
    const c = calls.get(uuid);
    if (!c) return;
    const upTo = Math.max(c.fed, Math.floor((atMs - c.startMs) * SAMPLES_PER_MS));
    for (const side of SIDES) {
      for (const [pos, pcm] of loopSlices(loops[side], c.fed, upTo))
        c.sink.feed(uuid, side, pcm, c.startMs + pos / SAMPLES_PER_MS);
    }
    c.fed = upTo;
  }

  return {
    start(uuid, atMs, sink) {
      if (calls.has(uuid)) return;
      const c = { startMs: atMs, fed: 0, sink, cancel: null as Cancel | null };
      calls.set(uuid, c);
      const tick = () => {
        c.cancel = opts.timers.after(FEED_MS, tick);
        feedUpTo(uuid, opts.clock.now());
        return sink.settled(uuid);
      };
      c.cancel = opts.timers.after(FEED_MS, tick);
    },
    stop(uuid, atMs) {
      const c = calls.get(uuid);
      if (!c) return;
      c.cancel?.();
      feedUpTo(uuid, atMs);
      calls.delete(uuid);
    },
  };
}
