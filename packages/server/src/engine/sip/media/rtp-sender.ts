import type dgram from 'node:dgram';
import type { Remote } from '../transport.ts';
import { encodeG711, type G711Codec } from './g711.ts';
import { rtpHeader } from './rtp.ts';
import type { RtpStreamOut } from './rtp-stream.ts';

/** One RTP frame: 20 ms, 160 samples at 8 kHz. */
export const FRAME_MS = 20;
export const FRAME_SAMPLES = 160;
/** After a stall of the event loop, at most this many late frames are sent at once (the rest are skipped). */
const MAX_CATCH_UP_FRAMES = 5;
const PAYLOAD_TYPE: Record<G711Codec, number> = { PCMA: 8, PCMU: 0 };
let senders = 0;

export interface RtpSender {
  /** Frames sent so far. */
  sent(): number;
  stop(): void;
}

/**
 * A G.711 stream Dzvin speaks to a party (a simulated voice, an IVR prompt, ringback): 20 ms
 * frames paced by the time elapsed since the first one (not by counting timer ticks, which run
 * late and would let the stream fall behind). Frame k is the audio of [start + 20k, start + 20k
 * + 20) ms, `frame(k)` its samples (a fresh buffer each time: a recorder may keep it); `said`
 * hears each frame with the wall-clock time it stands for. A long stall of the event loop is
 * skipped (silence at the far end), not sent as a burst. The frames go out on `stream`, the
 * phone's one stream (rtp-stream.ts), continuing whatever it was sent before.
 */
export function startRtpSender(opts: {
  socket: dgram.Socket;
  to: Remote;
  codec: G711Codec;
  frame(k: number): Int16Array;
  said?(samples: Int16Array, k: number): void;
  stream: RtpStreamOut;
  /** Sends a frame to `to` instead of `socket.send` (a connected socket: media-worker.ts). */
  send?(packet: Buffer): void;
}): RtpSender {
  const source = `sender:${++senders}`;
  const seq0 = Math.floor(Math.random() * 65535);
  const ts0 = Math.floor(Math.random() * 2 ** 31);
  const ssrc = Math.floor(Math.random() * 2 ** 32);
  const startedAt = performance.now();
  let next = 0;
  let count = 0;
  let stopped = false;
  const sendFrame = (k: number) => {
    const samples = opts.frame(k);
    const header = rtpHeader(PAYLOAD_TYPE[opts.codec], seq0 + k, ts0 + k * FRAME_SAMPLES, ssrc);
    count++;
    const packet = Buffer.concat([header, encodeG711(opts.codec, samples)]);
    opts.stream.rewrite(packet, source);
    if (opts.send) opts.send(packet);
    else opts.socket.send(packet, opts.to.port, opts.to.address);
    opts.said?.(samples, k);
  };
  const tick = () => {
    if (stopped) return;
    const due = Math.floor((performance.now() - startedAt) / FRAME_MS) + 1;
    if (due - next > MAX_CATCH_UP_FRAMES) next = due - MAX_CATCH_UP_FRAMES;
    for (; next < due; next++) sendFrame(next);
  };
  tick();
  const timer = setInterval(tick, FRAME_MS);
  timer.unref();
  return {
    sent: () => count,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** A steady sine of `hz` (the simulated party's voice): frame k of it. */
export function toneFrame(hz: number, amplitude = 8000): (k: number) => Int16Array {
  return (k) => {
    const samples = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++)
      samples[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * (k * FRAME_SAMPLES + i)) / 8000));
    return samples;
  };
}

/**
 * A tone switched on and off (`onMs`, then `offMs` of silence, repeated): an IVR's prompt, a
 * ringback (Ukraine and most of Europe: 425 Hz, 1 s on, 4 s off).
 */
export function cadenceFrame(
  hz: number,
  onMs: number,
  offMs: number,
  amplitude = 8000,
): (k: number) => Int16Array {
  const tone = toneFrame(hz, amplitude);
  const period = onMs + offMs;
  return (k) => ((k * FRAME_MS) % period < onMs ? tone(k) : new Int16Array(FRAME_SAMPLES));
}
