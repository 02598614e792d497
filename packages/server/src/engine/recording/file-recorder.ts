import type { Recorder, RecordingSide } from '../../domain/calls/call-model.ts';
import { type Cancel, type Clock, systemClock, type Timers } from '../../domain/clock.ts';
import type { AudioSink, AudioSource } from './audio-source.ts';
import { asBytes, asSamples, BYTES_PER_SAMPLE, SAMPLE_RATE, SAMPLES_PER_MS } from './pcm.ts';
import { createSynthSource } from './synth.ts';
import { createTrackStore, MAX_TRACK_SAMPLES, type TrackStore, type TrackWriter } from './track-store.ts';

export { STALE_PART_MS } from './track-store.ts';

export interface FileRecorderOptions {
  /** Where finished recordings live (created if missing). */
  dir: string;
  /** Schedules the once-a-second flush of every call in progress (and the synthesized source). */
  timers: Timers;
  /** Gives the flush its sample time. Default: the system clock. */
  clock?: Clock;
  /** A recording that failed (disk full, directory gone…). The call goes on without it. */
  onError?: (err: unknown, uuid: string) => void;
  /**
   * Where the audio comes from, started and stopped with each recording that does not say
   * `source: 'fed'`. Default: the synthesized voices (synth.ts). null: only what is fed from
   * outside through `feed` (a SIP engine's RTP), silence otherwise.
   */
  source?: AudioSource | null;
}

/** The Recorder port on WAV files, plus what the composition root needs at shutdown. */
export interface FileRecorder extends Recorder, AudioSink {
  /** Finalizes every recording in progress at the clock's current time (graceful shutdown). */
  close(): Promise<void>;
  /** Number of recordings in progress. */
  active(): number;
  /**
   * Removes `.part` files nobody has written to for `STALE_PART_MS` (left by a process that was
   * killed mid-call). The server runs it at start and hourly; answers how many it removed.
   */
  sweep(): Promise<number>;
}

/** Flush period: one second of audio (16 KB per track) per call and tick. */
const FLUSH_MS = 1000;
/**
 * Once both sides have this much audio ahead of the files, it is written without waiting for the
 * tick: a fifth of a second, so that a real phone's audio (fed every 50 ms) is held briefly and
 * dies young — held for a second, the audio of a few hundred calls outlived the young generation
 * and the main thread's old-generation collections stalled it (the writes themselves cost the
 * main thread one message per turn: track-store.ts).
 */
const FLUSH_SAMPLES = 200 * SAMPLES_PER_MS;
/**
 * How long a side's audio may lag the clock (network jitter, a side that sends nothing while
 * muted): time older than this is written with silence where a side sent nothing, and audio
 * arriving for it later is dropped.
 */
const HOLD_MS = 1000;
/** At most a minute of audio per write (a stalled clock catches up in bounded pieces). */
const MAX_SAMPLES_PER_WRITE = 60 * 1000 * SAMPLES_PER_MS;
/** One second of silence, shared: gaps are views of it. */
const SILENCE = Buffer.alloc(SAMPLE_RATE * BYTES_PER_SAMPLE);

/** Fed audio not yet written: `samples` from sample `pos` of the recording. */
interface Chunk {
  pos: number;
  samples: Int16Array;
}
/** A piece of one side within a write: `samples` at offset `at` of it. */
interface Segment {
  at: number;
  samples: Int16Array;
}

interface Recording {
  startMs: number;
  /** The recorder's own source writes this call (what others feed for it is dropped). */
  own: boolean;
  writer: TrackWriter;
  /** Per side, sorted by position, none ending at or before `writer.length`. */
  pending: Record<RecordingSide, Chunk[]>;
  /** Per side, the sample after the last one fed. */
  end: Record<RecordingSide, number>;
  cancel: Cancel | null;
  stopping: Promise<void> | null;
}

/**
 * Takes [from, to) of one side out of `pending`: the segments fed for it (where chunks overlap,
 * the one that starts first wins), and leaves what lies past `to`.
 */
function take(pending: Chunk[], from: number, to: number): Segment[] {
  const out: Segment[] = [];
  let cursor = from;
  let kept = 0;
  for (const c of pending) {
    const cEnd = c.pos + c.samples.length;
    if (c.pos < to) {
      const s = Math.max(c.pos, cursor);
      const e = Math.min(cEnd, to);
      if (s < e) {
        out.push({ at: s - from, samples: c.samples.subarray(s - c.pos, e - c.pos) });
        cursor = e;
      }
      if (cEnd <= to) continue;
      c.samples = c.samples.subarray(to - c.pos);
      c.pos = to;
    }
    pending[kept++] = c;
  }
  pending.length = kept;
  return out;
}

function silence(out: Buffer[], samples: number) {
  for (let left = samples; left > 0; left -= SAMPLE_RATE)
    out.push(SILENCE.subarray(0, Math.min(left, SAMPLE_RATE) * BYTES_PER_SAMPLE));
}

/** One side's bytes for a write of `n` samples: its segments, silence in the gaps. */
function sideBytes(segments: Segment[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const s of segments) {
    silence(out, s.at - at);
    out.push(asBytes(s.samples));
    at = s.at + s.samples.length;
  }
  silence(out, n - at);
  return out;
}

/** Scratch space of `mix`, one per side (synchronous use only; grown for a long catch-up). */
const scratch: Record<RecordingSide, Int16Array> = {
  rx: new Int16Array(SAMPLE_RATE),
  tx: new Int16Array(SAMPLE_RATE),
};

/** The output of `mix` (synchronous use only, like `scratch`). */
let mixed = new Int16Array(SAMPLE_RATE);

/** A side's `n` samples in one array: its only segment if that covers them all, else a copy with silent gaps. */
function contiguous(side: RecordingSide, segments: Segment[], n: number): Int16Array {
  if (segments.length === 1 && segments[0].at === 0 && segments[0].samples.length === n)
    return segments[0].samples;
  if (scratch[side].length < n) scratch[side] = new Int16Array(n);
  const out = scratch[side].subarray(0, n);
  out.fill(0);
  for (const s of segments) out.set(s.samples, s.at);
  return out;
}

/**
 * The mixed track: the sum of the two sides at half gain, truncated toward zero, so it never
 * clips (what the recordings have always carried).
 */
function mix(rxSegments: Segment[], txSegments: Segment[], n: number): Int16Array {
  const rx = contiguous('rx', rxSegments, n);
  const tx = contiguous('tx', txSegments, n);
  // Scratch too: the track store copies what it is given at once.
  if (mixed.length < n) mixed = new Int16Array(n);
  const out = mixed.subarray(0, n);
  for (let i = 0; i < n; i++) {
    const sum = rx[i] + tx[i];
    out[i] = (sum + (sum >>> 31)) >> 1; // Math.trunc(sum / 2) in integer arithmetic
  }
  return out;
}

/**
 * Records calls as three 8 kHz 16-bit mono WAV files each: the Recorder port, composed of an
 * audio source (the synthesized voices by default) feeding the two sides — or, for a call started
 * with `source: 'fed'`, a driver feeding them through `feed` (one writer per call, never both) — the
 * mixing of the mixed track (the sum of rx and tx, at half gain), and the track store
 * (track-store.ts), the only code that writes WAV data.
 *
 * Fed audio is held per side until it can be written: at once when both sides have 200 ms
 * ahead of the files (the synthesized source feeds both every second), else by the
 * once-a-second tick, which writes what both sides have and, with silence where a side sent
 * nothing, every sample older than HOLD_MS. So a call holds a fifth of a second of audio while
 * both its sources keep to the clock (up to two seconds while one is silent), however long it
 * runs; every write is asynchronous and at most a minute of audio, and the mixing costs one pass
 * over each sample.
 *
 * @example
 * const recorder = createFileRecorder({ dir: './data/recordings', timers: createSystemTimers() });
 * recorder.start(uuid, clock.now()); // the synthesized source writes it
 * // A call whose audio a driver supplies (a real phone's RTP): only what is fed is written.
 * recorder.start(other, clock.now(), { source: 'fed' });
 * recorder.feed(other, 'tx', frame, frameAtMs); // 160 samples of G.711 decoded
 * await recorder.stop(uuid, clock.now());
 * recorder.path(uuid, 'rx'); // '/…/data/recordings/<uuid>-rx.wav'
 */
export function createFileRecorder(opts: FileRecorderOptions): FileRecorder {
  const clock = opts.clock ?? systemClock;
  const store: TrackStore = createTrackStore({ dir: opts.dir, onError: opts.onError });
  const source = opts.source === undefined ? createSynthSource({ timers: opts.timers, clock }) : opts.source;
  const recordings = new Map<string, Recording>();

  /** The sample of `r` at `atMs`, within what a file can hold. */
  const sampleAt = (r: Recording, atMs: number) =>
    Math.min(MAX_TRACK_SAMPLES, Math.max(0, Math.floor((atMs - r.startMs) * SAMPLES_PER_MS)));

  /** Writes [written, upTo) of every track: what was fed, silence where nothing was. */
  function flush(r: Recording, upTo: number) {
    while (r.writer.ok && r.writer.length < upTo) {
      const from = r.writer.length;
      const to = Math.min(upTo, from + MAX_SAMPLES_PER_WRITE);
      const rx = take(r.pending.rx, from, to);
      const tx = take(r.pending.tx, from, to);
      void r.writer.append({
        mixed: [asBytes(mix(rx, tx, to - from))],
        rx: sideBytes(rx, to - from),
        tx: sideBytes(tx, to - from),
      });
    }
  }

  /** Audio from the recorder's own source (`own`) or from outside (a driver's RTP). */
  function accept(uuid: string, side: RecordingSide, pcm: Int16Array | Buffer, atMs: number, own: boolean) {
    const r = recordings.get(uuid);
    if (!r || r.stopping || !r.writer.ok || r.own !== own) return;
    let samples = asSamples(pcm);
    let pos = Math.round((atMs - r.startMs) * SAMPLES_PER_MS);
    if (!Number.isFinite(pos)) return;
    const written = r.writer.length;
    // Late audio (time already written) and audio past what a WAV file holds are dropped.
    if (pos < written) {
      samples = samples.subarray(Math.min(samples.length, written - pos));
      pos = written;
    }
    if (pos + samples.length > MAX_TRACK_SAMPLES)
      samples = samples.subarray(0, Math.max(0, MAX_TRACK_SAMPLES - pos));
    if (samples.length === 0) return;
    const list = r.pending[side];
    let i = list.length;
    while (i > 0 && list[i - 1].pos > pos) i--;
    list.splice(i, 0, { pos, samples });
    r.end[side] = Math.max(r.end[side], pos + samples.length);
    const ready = Math.min(r.end.rx, r.end.tx);
    if (ready - written >= FLUSH_SAMPLES) flush(r, ready);
  }

  function tick(r: Recording) {
    if (r.stopping || !r.writer.ok) return;
    r.cancel = opts.timers.after(FLUSH_MS, () => tick(r));
    flush(r, Math.max(Math.min(r.end.rx, r.end.tx), sampleAt(r, clock.now() - HOLD_MS)));
    return r.writer.settled();
  }

  function stop(uuid: string, atMs: number): Promise<void> {
    const r = recordings.get(uuid);
    if (!r) return Promise.resolve();
    if (r.stopping) return r.stopping;
    // The source delivers what is due up to the hangup before the files are finished.
    if (r.own) source?.stop(uuid, atMs);
    r.cancel?.();
    r.cancel = null;
    const total = sampleAt(r, atMs);
    flush(r, total);
    r.pending = { rx: [], tx: [] };
    r.stopping = r.writer.finish(total).finally(() => recordings.delete(uuid));
    return r.stopping;
  }

  const settled = (uuid: string) => {
    const r = recordings.get(uuid);
    return r ? (r.stopping ?? r.writer.settled()) : Promise.resolve();
  };
  /** What the recorder's own source feeds into: only the calls it was started for. */
  const ownSink: AudioSink = {
    feed: (uuid, side, pcm, atMs) => accept(uuid, side, pcm, atMs, true),
    settled,
  };
  const feed: Recorder['feed'] = (uuid, side, pcm, atMs) => accept(uuid, side, pcm, atMs, false);

  const recorder: FileRecorder = {
    start(uuid, atMs, startOpts) {
      if (recordings.has(uuid)) return;
      const writer = store.create(uuid);
      if (!writer) return;
      const own = source !== null && startOpts?.source !== 'fed';
      const r: Recording = {
        startMs: atMs,
        own,
        writer,
        pending: { rx: [], tx: [] },
        end: { rx: 0, tx: 0 },
        cancel: null,
        stopping: null,
      };
      recordings.set(uuid, r);
      r.cancel = opts.timers.after(FLUSH_MS, () => tick(r));
      if (own) source?.start(uuid, atMs, ownSink);
    },
    feed,
    settled,
    stop,
    path: (uuid, track) => store.path(uuid, track),
    async close() {
      const now = clock.now();
      await Promise.all([...recordings.keys()].map((uuid) => stop(uuid, now)));
    },
    active: () => recordings.size,
    sweep: () => store.sweep(),
    salvage: (uuid) => store.salvage(uuid),
  };
  return recorder;
}
