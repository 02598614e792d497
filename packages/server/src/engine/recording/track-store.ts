import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { RecordingTrack } from '../../domain/calls/call-model.ts';
import { BYTES_PER_SAMPLE } from './pcm.ts';
import { MAX_DATA_BYTES, sizeFields, WAV_HEADER_BYTES, wavHeader } from './wav-header.ts';

/** A `.part` file untouched this long belongs to no recording in progress. */
export const STALE_PART_MS = 15 * 60_000;
/** The most samples one track can hold (the RIFF size field is 32 bits). */
export const MAX_TRACK_SAMPLES = Math.floor(MAX_DATA_BYTES / BYTES_PER_SAMPLE);
/** File order of a recording's tracks. */
export const TRACKS: readonly RecordingTrack[] = ['mixed', 'rx', 'tx'];
/** Recording uuids become file names: nothing that could leave the directory. */
const SAFE_UUID = /^[A-Za-z0-9_-]{1,128}$/;
const PART = '.part';

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
   * Appends the same number of samples to each track after everything queued (the buffers are
   * kept, not copied, until written). Resolves once written; never rejects (a failure ends the
   * recording, never the call).
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
}

export interface TrackStoreOptions {
  /** Where finished recordings live (created if missing). */
  dir: string;
  /** A recording that failed (disk full, directory gone…), or a uuid refused. */
  onError?: (err: unknown, uuid: string) => void;
}

/**
 * The track store: the only code that writes WAV data. A recording is three `.part` files opened
 * with a placeholder header, appended to at their file positions as audio arrives (streamed,
 * never assembled at hangup: issue 3; writes are asynchronous and queued per recording, so
 * nothing blocks the event loop), then finalized: sizes patched, renamed to `recordingFileName`,
 * so only finished recordings are ever served (spec #15: 404 until the call has ended). The HTTP
 * route reads them, with Range, from `path`.
 *
 * Holds three file descriptors per recording in progress.
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
    let files: FileHandle[] = [];
    let chain: Promise<void> = Promise.resolve();
    let length = 0;
    let ok = true;

    async function fail(err: unknown) {
      ok = false;
      try {
        onError(err, uuid);
      } catch {
        // A failing reporter must not leave the files open.
      }
      await Promise.allSettled(files.map((f) => f.close()));
      files = [];
      await Promise.allSettled(TRACKS.map((t) => fs.promises.rm(partPath(uuid, t), { force: true })));
    }

    /** Runs `op` after everything queued; a failure ends the recording, never the caller. */
    function enqueue(op: () => Promise<void>): Promise<void> {
      chain = chain.then(async () => {
        if (!ok) return;
        try {
          await op();
        } catch (err) {
          await fail(err);
        }
      });
      return chain;
    }

    enqueue(async () => {
      const header = wavHeader();
      for (const t of TRACKS) {
        const f = await fs.promises.open(partPath(uuid, t), 'w');
        files.push(f);
        await f.write(header, 0, header.length, 0);
      }
    });

    return {
      uuid,
      get length() {
        return length;
      },
      get ok() {
        return ok;
      },
      append(audio) {
        if (!ok) return chain;
        const bytes = audio.mixed.reduce((n, b) => n + b.length, 0);
        for (const t of TRACKS) {
          if (audio[t].reduce((n, b) => n + b.length, 0) !== bytes)
            throw new Error(`track ${t} of ${uuid}: every track must get the same number of samples`);
        }
        const samples = bytes / BYTES_PER_SAMPLE;
        if (samples === 0) return chain;
        if (length + samples > MAX_TRACK_SAMPLES)
          return enqueue(async () => {
            throw new Error(
              `recording ${uuid} would outgrow the ${MAX_TRACK_SAMPLES} samples a WAV file holds`,
            );
          });
        const position = WAV_HEADER_BYTES + length * BYTES_PER_SAMPLE;
        length += samples;
        return enqueue(async () => {
          await Promise.all(TRACKS.map((t, i) => files[i].writev(audio[t] as Buffer[], position)));
        });
      },
      settled: () => chain,
      finish(samples) {
        const total = Math.max(0, Math.min(samples, length));
        return enqueue(async () => {
          if (total < length) {
            // Ended at a time before the last append: cut back to the call's real length.
            await Promise.all(files.map((f) => f.truncate(WAV_HEADER_BYTES + total * BYTES_PER_SAMPLE)));
          }
          length = total;
          const fields = sizeFields(total * BYTES_PER_SAMPLE);
          await Promise.all(
            files.map(async (f) => {
              for (const [offset, value] of fields) await f.write(value, 0, value.length, offset);
              await f.close();
            }),
          );
          files = [];
          await Promise.all(TRACKS.map((t) => fs.promises.rename(partPath(uuid, t), finalPath(uuid, t))));
        });
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

  return {
    create,
    path(uuid, track) {
      if (!SAFE_UUID.test(uuid)) return null;
      const p = finalPath(uuid, track);
      return fs.existsSync(p) ? p : null;
    },
    sweep,
  };
}
