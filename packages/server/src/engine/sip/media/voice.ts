// What Dzvin says to a party — the simulated party's voice, an IVR's prompt or recorded greeting,
// ringback — as data rather than a function: the media worker (media-worker.ts) plays it, and a
// function cannot cross to a worker thread. `voiceFrames` turns it into the frames rtp-sender.ts
// sends.
import { cadenceFrame, FRAME_SAMPLES, toneFrame } from './rtp-sender.ts';

/** A sound Dzvin can play, frame by frame. */
export type Audio =
  /** A steady sine (the simulated party's voice). */
  | { kind: 'tone'; hz: number }
  /** A tone switched on and off (an IVR's prompt, ringback). */
  | { kind: 'cadence'; hz: number; onMs: number; offMs: number }
  /** Recorded 8 kHz samples (an IVR's greeting): played, `gapMs` of silence, played again. */
  | { kind: 'samples'; samples: Int16Array; gapMs: number };

/** One part of a voice: `audio` for `frames` frames (absent: until stopped), from its own frame 0. */
export interface VoicePart {
  audio: Audio;
  frames?: number;
}

/** Parts played one after another: an IVR's prompt for its timeout, then ringback. */
export type Voice = readonly VoicePart[];

/** The simulated party's voice, as a phone hears it: 400 Hz. */
export const SIMULATED_VOICE: Voice = [{ audio: { kind: 'tone', hz: 400 } }];
/** An IVR's prompt as a caller hears it (Dzvin has no text-to-speech): 660 Hz, ½ s on, ½ s off. */
export const IVR_PROMPT_HZ = 660;
export const IVR_PROMPT: Audio = { kind: 'cadence', hz: IVR_PROMPT_HZ, onMs: 500, offMs: 500 };
/** In-band ringback while an answered caller (after an IVR) waits for a phone: 425 Hz, 1 s on, 4 s off. */
export const RINGBACK: Audio = { kind: 'cadence', hz: 425, onMs: 1000, offMs: 4000 };

/** A recorded greeting as frames: played, `gapMs` of silence, played again. */
export function greetingFrames(samples: Int16Array, gapMs = 1000): (k: number) => Int16Array {
  const period = samples.length + gapMs * 8;
  return (k) => {
    const frame = new Int16Array(FRAME_SAMPLES);
    for (let i = 0, at = (k * FRAME_SAMPLES) % period; i < FRAME_SAMPLES; i++, at = (at + 1) % period)
      if (at < samples.length) frame[i] = samples[at];
    return frame;
  };
}

function audioFrames(a: Audio): (k: number) => Int16Array {
  if (a.kind === 'tone') return toneFrame(a.hz);
  if (a.kind === 'cadence') return cadenceFrame(a.hz, a.onMs, a.offMs);
  return greetingFrames(a.samples, a.gapMs);
}

/** Frame k of a voice (a fresh buffer each time); silence past its last part's frames. */
export function voiceFrames(voice: Voice): (k: number) => Int16Array {
  const parts = voice.map((p) => ({ frames: p.frames, frame: audioFrames(p.audio) }));
  return (k) => {
    let at = k;
    for (const p of parts) {
      if (p.frames === undefined || at < p.frames) return p.frame(at);
      at -= p.frames;
    }
    return new Int16Array(FRAME_SAMPLES);
  };
}
