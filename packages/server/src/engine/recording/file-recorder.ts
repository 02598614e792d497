import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Recorder, RecordingTrack } from '../../domain/calls/call-model.ts';
import { type Cancel, type Clock, systemClock, type Timers } from '../../domain/clock.ts';
import { BYTES_PER_SAMPLE, loopSlices, SAMPLES_PER_MS, voiceLoops } from './synth.ts';
import { MAX_DATA_BYTES, sizeFields, WAV_HEADER_BYTES, wavHeader } from './wav-header.ts';

export interface FileRecorderOptions {
  /** Where finished recordings live (created if missing). */
  dir: string;
  /** Schedules the once-a-second flush of every call in progress. */
  timers: Timers;
  /** Gives the flush its sample time. Default: the system clock. */
  clock?: Clock;
  /** A recording that failed (disk full, directory gone…). The call goes on without it. */
  onError?: (err: unknown, uuid: string) => void;
}

/** The Recorder port on WAV files, plus what the composition root needs at shutdown. */
export interface FileRecorder extends Recorder {
  /** Finalizes every recording in progress at the clock's current time (graceful shutdown). */
  close(): Promise<void>;
  /** Number of recordings in progress. */
  active(): number;
  /**
   * Removes `.part` files nobody has written to for `STALE_PART_MS` (left by a process that was
   * killed mid-call; a recording in progress is appended to every second, by whichever process of
   * a cluster runs it). The server runs it at start and hourly; answers how many it removed.
   */
  sweep(): Promise<number>;
}

/** A `.part` file untouched this long belongs to no recording in progress. */
export const STALE_PART_MS = 15 * 60_000;

/** Flush period: one second of audio (16 KB per track) per call and tick. */
const FLUSH_MS = 1000;
const MAX_SAMPLES = Math.floor(MAX_DATA_BYTES / BYTES_PER_SAMPLE);
/** At most a minute of audio per write call (a handful of views of the loops). */
const MAX_SAMPLES_PER_WRITE = 60 * 1000 * SAMPLES_PER_MS;
/** File order of a recording's tracks. */
const TRACKS: RecordingTrack[] = ['mixed', 'rx', 'tx'];
/** Recorder uuids become file names: nothing that could leave the directory. */
const SAFE_UUID = /^[A-Za-z0-9_-]{1,128}$/;
const PART = '.part';

interface Recording {
  uuid: string;
  startMs: number;
  /** Samples on disk (per track). */
  written: number;
  /** One handle per TRACKS entry, once opened. */
  files: FileHandle[];
  /** Every disk operation of this recording, in order. */
  chain: Promise<void>;
  cancel: Cancel | null;
  failed: boolean;
  stopping: Promise<void> | null;
}

/** `${uuid}.wav` (mixed), `${uuid}-rx.wav`, `${uuid}-tx.wav` (spec #15 URLs `{uuid}`, `{uuid}-rx`, `{uuid}-tx`). */
export function recordingFileName(uuid: string, track: RecordingTrack): string {
  return track === 'mixed' ? `${uuid}.wav` : `${uuid}-${track}.wav`;
}

/**
 * Records calls as three 8 kHz 16-bit mono WAV files each, streamed while the call runs
 * (issue 3: never assembled at hangup): `start` opens `.part` files and writes the header, every
 * second of clock time the audio of the elapsed interval is appended (views of the shared
 * synthesized loops, so nothing grows with call length), and `stop` writes the rest, patches the
 * header sizes and renames the files into place, so only finished recordings are ever served
 * (spec #15: 404 until the call has ended).
 *
 * Holds three file descriptors per call in progress.
 *
 * @example
 * const recorder = createFileRecorder({ dir: './data/recordings', timers: createSystemTimers() });
 * recorder.start(uuid, clock.now());
 * // … the call runs …
 * await recorder.stop(uuid, clock.now());
 * recorder.path(uuid, 'rx'); // '/…/data/recordings/<uuid>-rx.wav'
 */
export function createFileRecorder(opts: FileRecorderOptions): FileRecorder {
  const dir = path.resolve(opts.dir);
  const clock = opts.clock ?? systemClock;
  const onError = opts.onError ?? (() => {});
  const loops = voiceLoops();
  const recordings = new Map<string, Recording>();
  fs.mkdirSync(dir, { recursive: true });

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

  const finalPath = (uuid: string, track: RecordingTrack) => path.join(dir, recordingFileName(uuid, track));
  const partPath = (uuid: string, track: RecordingTrack) => finalPath(uuid, track) + PART;
  const samplesAt = (r: Recording, atMs: number) =>
    Math.min(MAX_SAMPLES, Math.max(0, Math.floor((atMs - r.startMs) * SAMPLES_PER_MS)));

  /** Runs `op` after everything queued for `r`; a failure ends the recording, never the caller. */
  function enqueue(r: Recording, op: () => Promise<void>): Promise<void> {
    r.chain = r.chain.then(async () => {
      if (r.failed) return;
      try {
        await op();
      } catch (err) {
        await fail(r, err);
      }
    });
    return r.chain;
  }

  async function fail(r: Recording, err: unknown) {
    r.failed = true;
    r.cancel?.();
    r.cancel = null;
    try {
      onError(err, r.uuid);
    } catch {
      // A failing reporter must not leave the files open.
    }
    await Promise.allSettled(r.files.map((f) => f.close()));
    await Promise.allSettled(TRACKS.map((t) => fs.promises.rm(partPath(r.uuid, t), { force: true })));
  }

  /** Appends samples [r.written, upTo) to each track at their file positions. */
  async function writeUpTo(r: Recording, upTo: number) {
    while (r.written < upTo) {
      // Normally one second per tick; a longer gap (a stalled clock) goes in bounded pieces.
      const from = r.written;
      const to = Math.min(upTo, from + MAX_SAMPLES_PER_WRITE);
      const position = WAV_HEADER_BYTES + from * BYTES_PER_SAMPLE;
      await Promise.all(TRACKS.map((t, i) => r.files[i].writev(loopSlices(loops[t], from, to), position)));
      r.written = to;
    }
  }

  function tick(r: Recording) {
    if (r.failed || r.stopping) return;
    r.cancel = opts.timers.after(FLUSH_MS, () => tick(r));
    const upTo = samplesAt(r, clock.now());
    return enqueue(r, () => writeUpTo(r, upTo));
  }

  async function finish(r: Recording, atMs: number) {
    const total = samplesAt(r, atMs);
    await writeUpTo(r, total);
    if (total < r.written) {
      // Stopped at a time before the last flush: cut back to the call's real length.
      await Promise.all(r.files.map((f) => f.truncate(WAV_HEADER_BYTES + total * BYTES_PER_SAMPLE)));
      r.written = total;
    }
    const fields = sizeFields(total * BYTES_PER_SAMPLE);
    await Promise.all(
      r.files.map(async (f) => {
        for (const [offset, bytes] of fields) await f.write(bytes, 0, bytes.length, offset);
        await f.close();
      }),
    );
    r.files = [];
    await Promise.all(TRACKS.map((t) => fs.promises.rename(partPath(r.uuid, t), finalPath(r.uuid, t))));
  }

  function stop(uuid: string, atMs: number): Promise<void> {
    const r = recordings.get(uuid);
    if (!r) return Promise.resolve();
    if (r.stopping) return r.stopping;
    r.cancel?.();
    r.cancel = null;
    r.stopping = enqueue(r, () => finish(r, atMs)).finally(() => recordings.delete(uuid));
    return r.stopping;
  }

  return {
    start(uuid, atMs) {
      if (!SAFE_UUID.test(uuid)) {
        onError(new Error(`refusing to record a call with uuid ${JSON.stringify(uuid)}`), uuid);
        return;
      }
      if (recordings.has(uuid)) return;
      const r: Recording = {
        uuid,
        startMs: atMs,
        written: 0,
        files: [],
        chain: Promise.resolve(),
        cancel: null,
        failed: false,
        stopping: null,
      };
      recordings.set(uuid, r);
      enqueue(r, async () => {
        const header = wavHeader();
        for (const t of TRACKS) {
          const f = await fs.promises.open(partPath(uuid, t), 'w');
          r.files.push(f);
          await f.write(header, 0, header.length, 0);
        }
      });
      r.cancel = opts.timers.after(FLUSH_MS, () => tick(r));
    },
    stop,
    path(uuid, track) {
      if (!SAFE_UUID.test(uuid)) return null;
      const p = finalPath(uuid, track);
      return fs.existsSync(p) ? p : null;
    },
    async close() {
      const now = clock.now();
      await Promise.all([...recordings.keys()].map((uuid) => stop(uuid, now)));
    },
    active: () => recordings.size,
    sweep,
  };
}
