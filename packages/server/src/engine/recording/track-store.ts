import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { RecordingTrack } from '../../domain/calls/call-model.ts';
import { BYTES_PER_SAMPLE } from './pcm.ts';
import { finishedWavHeader, MAX_DATA_BYTES, WAV_HEADER_BYTES } from './wav-header.ts';

/** A `.part` file untouched this long belongs to no recording in progress. */
export const STALE_PART_MS = 15 * 60_000;
/** The most samples one track can hold (the RIFF size field is 32 bits). */
export const MAX_TRACK_SAMPLES = Math.floor(MAX_DATA_BYTES / BYTES_PER_SAMPLE);
/** File order of a recording's tracks. */
export const TRACKS: readonly RecordingTrack[] = ['mixed', 'rx', 'tx'];
/** Recording uuids become file names: nothing that could leave the directory. */
const SAFE_UUID = /^[A-Za-z0-9_-]{1,128}$/;
const PART = '.part';

/** What the writer thread is asked (one queue for every recording of the process, run in order). */
type ToWriter =
  | { op: 'create'; id: number; parts: string[] }
  /** `spans`: per track, [arena, offset, length] in the batch's arenas. */
  | { op: 'append'; id: number; position: number; spans: number[] }
  | { op: 'finish'; id: number; truncateTo: number | null; header: Uint8Array; finals: string[] }
  /** The recording failed here (too long): close and remove its files, nothing reported. */
  | { op: 'abort'; id: number };
/** One batch: the operations with their sequence numbers, and the arenas their bytes are in. */
interface WriterBatch {
  ops: [number, ToWriter][];
  arenas: ArrayBuffer[];
}
/**
 * What it answers, once per turn of its loop: the ops run (by sequence), the recordings that
 * failed, and the arenas it has written out (moved back, to be filled again).
 */
interface FromWriter {
  done: number[];
  failed: { id: number; message: string; code?: string; errno?: number; syscall?: string; path?: string }[];
  arenas: ArrayBuffer[];
}
interface WriterState {
  failed(err: Error): void;
}

/**
 * The writer thread's code (plain JavaScript: it needs nothing of ours). Every disk operation of
 * every recording runs here, synchronously, in the order queued: the main thread only sends a
 * batch of operations per turn of its event loop and gets their completions back the same way.
 * (Through the thread pool, each open, write, close and rename of each of the three tracks was a
 * promise and a request of the main thread's own: ~2 ms of it per recorded call under load.)
 */
const WRITER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const recordings = new Map();
let done = [];
let failed = [];
let spent = [];
let reporting = false;
const report = () => {
  reporting = false;
  const m = { done, failed, arenas: spent };
  done = [];
  failed = [];
  spent = [];
  parentPort.postMessage(m, m.arenas);
};
const writeAll = (fd, buf, position) => {
  for (let at = 0; at < buf.length; ) at += fs.writeSync(fd, buf, at, buf.length - at, position + at);
};
const drop = (r) => {
  r.failed = true;
  for (const fd of r.fds.splice(0)) try { fs.closeSync(fd); } catch {}
  for (const p of r.parts) try { fs.rmSync(p, { force: true }); } catch {}
};
parentPort.on('message', ({ ops, arenas }) => {
  for (const [seq, m] of ops) {
    if (m.op === 'create') recordings.set(m.id, { fds: [], parts: m.parts, failed: false });
    const r = recordings.get(m.id);
    if (r && !r.failed) {
      try {
        if (m.op === 'create') for (const p of m.parts) r.fds.push(fs.openSync(p, 'w'));
        else if (m.op === 'append')
          r.fds.forEach((fd, i) => {
            const [a, at, n] = m.spans.slice(3 * i, 3 * i + 3);
            writeAll(fd, new Uint8Array(arenas[a], at, n), m.position);
          });
        else if (m.op === 'abort') drop(r);
        else if (m.op === 'finish') {
          if (m.truncateTo !== null) for (const fd of r.fds) fs.ftruncateSync(fd, m.truncateTo);
          for (const fd of r.fds) writeAll(fd, m.header, 0);
          for (const fd of r.fds.splice(0)) fs.closeSync(fd);
          r.parts.forEach((p, i) => fs.renameSync(p, m.finals[i]));
        }
      } catch (e) {
        drop(r);
        failed.push({ id: m.id, message: String((e && e.message) || e), code: e && e.code, errno: e && e.errno, syscall: e && e.syscall, path: e && e.path });
      }
    }
    if (m.op === 'finish') recordings.delete(m.id);
    done.push(seq);
  }
  // Written synchronously above: the arenas go back to be filled again.
  for (const a of arenas) spent.push(a);
  if (!reporting) {
    reporting = true;
    setImmediate(report);
  }
});
`;

let writerIds = 1;
/** The recordings being written, by the id their operations carry. */
const writers = new Map<number, WriterState>();
interface WriterThread {
  run(op: ToWriter): Promise<void>;
  /** Copies `bytes` bytes of `pieces` into this turn's arenas: [arena, offset, length]. */
  copy(pieces: readonly Uint8Array[], bytes: number): [number, number, number];
}
let thread: WriterThread | null = null;
/**
 * The bytes of one turn's appends go in a few large buffers moved to the thread: a buffer per
 * track and append (thousands a second with a few hundred calls recorded) made the main thread's
 * garbage collector run far more often (each is memory outside the heap that it accounts for).
 */
const ARENA_BYTES = 256 * 1024;
/**
 * Arenas the writer has written out and moved back, kept to be filled again: a new one per 256 KB
 * (12 MB a second with 250 calls recorded, three tracks each) is memory outside the heap that V8
 * counts towards its next full collection — the longest pauses of the main thread on bench:sip's
 * media plateau (30–90 ms) were collections.
 */
const ARENA_POOL = 32;

/** The process's writer thread, started on first use (unref'd: it never keeps a process alive). */
function writerThread() {
  if (thread) return thread;
  const worker = new Worker(WRITER_SOURCE, { eval: true });
  worker.unref();
  let seq = 0;
  const waiting = new Map<number, () => void>();
  let batch: [number, ToWriter][] = [];
  let arenas: ArrayBuffer[] = [];
  let arena: Uint8Array | null = null;
  let used = 0;
  const pool: ArrayBuffer[] = [];
  const send = () => {
    const message: WriterBatch = { ops: batch, arenas };
    batch = [];
    arenas = [];
    arena = null;
    worker.postMessage(message, message.arenas);
  };
  const later = () => {
    // Everything queued in one turn of the event loop goes as one message.
    if (!batch.length && !arenas.length) setImmediate(send);
  };
  const lost = (err: Error) => {
    // The thread is gone: every recording in progress has failed, and what waited is over.
    thread = null;
    for (const w of [...writers.values()]) w.failed(err);
    for (const resolve of waiting.values()) resolve();
    waiting.clear();
  };
  worker.on('message', (m: FromWriter) => {
    // Failures first: whoever awaits the failed operation sees `ok` false and the error reported.
    for (const f of m.failed) {
      const err = Object.assign(new Error(f.message), {
        code: f.code,
        errno: f.errno,
        syscall: f.syscall,
        path: f.path,
      });
      writers.get(f.id)?.failed(err);
    }
    for (const s of m.done) {
      waiting.get(s)?.();
      waiting.delete(s);
    }
    for (const a of m.arenas) if (a.byteLength === ARENA_BYTES && pool.length < ARENA_POOL) pool.push(a);
  });
  worker.on('error', (err) => lost(err));
  worker.on('exit', (code) => lost(new Error(`the recordings' writer thread exited (code ${code})`)));
  thread = {
    copy(pieces, bytes) {
      later();
      if (!arena || used + bytes > arena.length) {
        const reused = bytes <= ARENA_BYTES ? pool.pop() : undefined;
        arena = reused ? new Uint8Array(reused) : new Uint8Array(Math.max(ARENA_BYTES, bytes));
        arenas.push(arena.buffer as ArrayBuffer);
        used = 0;
      }
      const at = used;
      for (const p of pieces) {
        arena.set(p, used);
        used += p.length;
      }
      return [arenas.length - 1, at, bytes];
    },
    run(op) {
      const s = seq++;
      later();
      batch.push([s, op]);
      // Waiting on the thread keeps the process up until the data is on disk.
      worker.ref();
      return new Promise<void>((resolve) =>
        waiting.set(s, () => {
          resolve();
          if (waiting.size === 1) worker.unref();
        }),
      );
    },
  };
  return thread;
}

/** `${uuid}.wav` (mixed), `${uuid}-rx.wav`, `${uuid}-tx.wav` (spec #15 URLs `{uuid}`, `{uuid}-rx`, `{uuid}-tx`). */
export function recordingFileName(uuid: string, track: RecordingTrack): string {
  return track === 'mixed' ? `${uuid}.wav` : `${uuid}-${track}.wav`;
}

/** The next samples of each track, as little-endian 16-bit PCM; the three cover the same number of samples. */
export type TrackAudio = Record<RecordingTrack, readonly Buffer[]>;

/** The three `.part` files of one recording in progress. */
export interface TrackWriter {
  readonly uuid: string;
  /** Samples per track appended so far (queued writes included): where the next append goes. */
  readonly length: number;
  /** False once a disk operation failed: `onError` was told, the `.part` files are gone, the rest is a no-op. */
  readonly ok: boolean;
  /**
   * Appends the same number of samples to each track after everything queued (the bytes are
   * copied at once: the buffers may be reused as soon as this returns). Resolves once written;
   * never rejects (a failure ends the recording, never the call).
   */
  append(audio: TrackAudio): Promise<void>;
  /** Resolves once everything queued so far is on disk (or the recording failed). */
  settled(): Promise<void>;
  /**
   * Ends the recording at `samples` per track (cutting back what was appended past it), fills in
   * the header sizes, closes the files and renames them into place: only now does `path` see them.
   */
  finish(samples: number): Promise<void>;
}

/** Where recordings are stored: three 8 kHz 16-bit mono WAV files per call. */
export interface TrackStore {
  /** Opens the `.part` files of a new recording; null (reported to `onError`) for a uuid that is not a plain name. */
  create(uuid: string): TrackWriter | null;
  /** Absolute path of a finished track, or null when there is none (still recording, unknown, failed). */
  path(uuid: string, track: RecordingTrack): string | null;
  /**
   * Removes `.part` files nobody has written to for `STALE_PART_MS` (left by a process that was
   * killed mid-call; a recording in progress is appended to every second, by whichever process of
   * a cluster runs it). Answers how many it removed.
   */
  sweep(): Promise<number>;
  /**
   * A recording a killed process left as `.part` files (its call closed by `recover`): the audio
   * that reached the disk is kept, as `finish` would have kept it — the three tracks cut to the
   * shortest, the header's sizes filled in, renamed into place. True when the recording is now
   * there (or already was). On the calling thread: a rare path, once per call so recovered.
   */
  salvage(uuid: string): boolean;
}

export interface TrackStoreOptions {
  /** Where finished recordings live (created if missing). */
  dir: string;
  /** A recording that failed (disk full, directory gone…), or a uuid refused. */
  onError?: (err: unknown, uuid: string) => void;
}

/**
 * The track store: the only code that writes WAV data. A recording is three `.part` files,
 * appended to after the header's place as audio arrives (streamed, never assembled at hangup:
 * issue 3; every disk operation runs in the process's writer thread, in the order queued, so
 * nothing blocks the event loop and the main thread spends one message per turn on all of them),
 * then finalized: the header written with its sizes, renamed to `recordingFileName`,
 * so only finished recordings are ever served (spec #15: 404 until the call has ended). The HTTP
 * route reads them, with Range, from `path`.
 *
 * Holds three file descriptors per recording in progress (in the writer thread).
 *
 * @example
 * const store = createTrackStore({ dir: './data/recordings' });
 * const w = store.create(uuid);
 * w?.append({ mixed: [m], rx: [r], tx: [t] });
 * await w?.finish(w.length);
 * store.path(uuid, 'rx'); // '/…/data/recordings/<uuid>-rx.wav'
 */
export function createTrackStore(opts: TrackStoreOptions): TrackStore {
  const dir = path.resolve(opts.dir);
  const onError = opts.onError ?? (() => {});
  fs.mkdirSync(dir, { recursive: true });

  const finalPath = (uuid: string, track: RecordingTrack) => path.join(dir, recordingFileName(uuid, track));
  const partPath = (uuid: string, track: RecordingTrack) => finalPath(uuid, track) + PART;

  function create(uuid: string): TrackWriter | null {
    if (!SAFE_UUID.test(uuid)) {
      onError(new Error(`refusing to record a call with uuid ${JSON.stringify(uuid)}`), uuid);
      return null;
    }
    const parts = TRACKS.map((t) => partPath(uuid, t));
    let last: Promise<void> = Promise.resolve();
    let length = 0;
    let ok = true;
    const state: WriterState = {
      failed(err) {
        if (!ok) return;
        ok = false;
        try {
          onError(err, uuid);
        } catch {
          // A failing reporter changes nothing: the worker has closed and removed the files.
        }
      },
    };
    const id = writerIds++;
    writers.set(id, state);
    /** Queues `op` for the writer thread after everything queued before: resolves once it has run. */
    const queue = (op: ToWriter): Promise<void> => {
      last = writerThread().run(op);
      return last;
    };
    queue({ op: 'create', id, parts });

    return {
      uuid,
      get length() {
        return length;
      },
      get ok() {
        return ok;
      },
      append(audio) {
        if (!ok) return last;
        const bytes = audio.mixed.reduce((n, b) => n + b.length, 0);
        for (const t of TRACKS) {
          if (audio[t].reduce((n, b) => n + b.length, 0) !== bytes)
            throw new Error(`track ${t} of ${uuid}: every track must get the same number of samples`);
        }
        const samples = bytes / BYTES_PER_SAMPLE;
        if (samples === 0) return last;
        if (length + samples > MAX_TRACK_SAMPLES) {
          state.failed(
            new Error(`recording ${uuid} would outgrow the ${MAX_TRACK_SAMPLES} samples a WAV file holds`),
          );
          return queue({ op: 'abort', id });
        }
        const position = WAV_HEADER_BYTES + length * BYTES_PER_SAMPLE;
        length += samples;
        const w = writerThread();
        const spans = TRACKS.flatMap((t) => w.copy(audio[t], bytes));
        return queue({ op: 'append', id, position, spans });
      },
      settled: () => last,
      finish(samples) {
        const total = Math.max(0, Math.min(samples, length));
        // Ended at a time before the last append: cut back to the call's real length.
        const truncateTo = total < length ? WAV_HEADER_BYTES + total * BYTES_PER_SAMPLE : null;
        length = total;
        const header = finishedWavHeader(total * BYTES_PER_SAMPLE);
        const finals = TRACKS.map((t) => finalPath(uuid, t));
        return queue({ op: 'finish', id, truncateTo, header, finals }).finally(() => writers.delete(id));
      },
    };
  }

  async function sweep(): Promise<number> {
    let removed = 0;
    const old = Date.now() - STALE_PART_MS;
    for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith(PART)) continue;
      const file = path.join(dir, name);
      try {
        // File times are wall-clock times, whatever clock the calls run on.
        if ((await fs.promises.stat(file)).mtimeMs >= old) continue;
        await fs.promises.rm(file, { force: true });
        removed++;
      } catch (err) {
        // Finished (renamed) or swept by another process meanwhile: nothing to do.
        if ((err as { code?: string }).code !== 'ENOENT') onError(err, name);
      }
    }
    return removed;
  }

  function salvage(uuid: string): boolean {
    if (!SAFE_UUID.test(uuid)) return false;
    if (fs.existsSync(finalPath(uuid, 'mixed'))) return true;
    const parts = TRACKS.map((t) => partPath(uuid, t));
    if (!parts.every((p) => fs.existsSync(p))) return false;
    try {
      const sizes = parts.map((p) => fs.statSync(p).size);
      const samples = Math.min(
        MAX_TRACK_SAMPLES,
        ...sizes.map((n) => Math.floor(Math.max(0, n - WAV_HEADER_BYTES) / BYTES_PER_SAMPLE)),
      );
      const header = finishedWavHeader(samples * BYTES_PER_SAMPLE);
      for (const p of parts) {
        const fd = fs.openSync(p, 'r+');
        try {
          fs.ftruncateSync(fd, WAV_HEADER_BYTES + samples * BYTES_PER_SAMPLE);
          fs.writeSync(fd, header, 0, header.length, 0);
        } finally {
          fs.closeSync(fd);
        }
      }
      for (const [i, p] of parts.entries()) fs.renameSync(p, finalPath(uuid, TRACKS[i]));
      return true;
    } catch (err) {
      onError(err, uuid);
      return false;
    }
  }

  return {
    create,
    path(uuid, track) {
      if (!SAFE_UUID.test(uuid)) return null;
      const p = finalPath(uuid, track);
      return fs.existsSync(p) ? p : null;
    },
    sweep,
    salvage,
  };
}
