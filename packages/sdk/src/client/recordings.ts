import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Requester } from './phonet-client.ts';

/**
 * Which recording of a call: both sides (`mixed`, the default), only the external party (`rx`,
 * incoming voice) or only the employee (`tx`).
 * @example
 * ```ts
 * client.recordings.url(uuid, { track: 'rx' });
 * ```
 */
export type RecordingTrack = 'mixed' | 'rx' | 'tx';

/**
 * A recording being downloaded: read `body` as a stream, or `arrayBuffer()` it once.
 * @example
 * ```ts
 * const rec = await client.recordings.download(uuid);
 * console.log(rec.contentType, rec.size);
 * for await (const chunk of rec.body) process.stdout.write(chunk);
 * ```
 */
export interface RecordingDownload {
  /** 200, or 206 for a range. */
  status: number;
  /** `audio/wav` on Dzvin (Phonet may send mp3). */
  contentType: string | null;
  /** Bytes in this response (`Content-Length`), when sent. */
  size: number | undefined;
  /** `Content-Range` of a partial answer. */
  contentRange: string | null;
  /** The bytes, as they arrive. */
  body: ReadableStream<Uint8Array>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

const suffix = (track: RecordingTrack | undefined) => (track === 'rx' ? '-rx' : track === 'tx' ? '-tx' : '');
const audioPath = (uuid: string, track?: RecordingTrack) =>
  `/rest/public/calls/${encodeURIComponent(uuid)}${suffix(track)}/audio`;

/** `client.recordings`. @internal */
export function createRecordingsApi(c: Requester) {
  const download = async (
    uuid: string,
    o: { track?: RecordingTrack; range?: { start: number; end?: number }; signal?: AbortSignal } = {},
  ): Promise<RecordingDownload> => {
    const headers: Record<string, string> = { accept: 'audio/*, */*' };
    if (o.range) headers.range = `bytes=${o.range.start}-${o.range.end ?? ''}`;
    // Public URLs (spec #15): the session is sent when there is one, asked for only on 403.
    const x = await c.exchange(
      { method: 'GET', path: audioPath(uuid, o.track), headers, signal: o.signal },
      'optional',
      true,
    );
    const res = x.response!;
    const len = res.headers.get('content-length');
    return {
      status: res.status,
      contentType: res.headers.get('content-type'),
      size: len === null ? undefined : Number(len),
      contentRange: res.headers.get('content-range'),
      body: res.body ?? new ReadableStream({ start: (ctl) => ctl.close() }),
      arrayBuffer: () => res.arrayBuffer(),
    };
  };
  return {
    /**
     * The public URL of a call's recording (no request is made). Available once the call has ended.
     * @example
     * ```ts
     * const href = client.recordings.url(call.uuid, { track: 'mixed' });
     * ```
     */
    url(uuid: string, o: { track?: RecordingTrack } = {}): string {
      return c.baseUrl + audioPath(uuid, o.track);
    },
    /**
     * Streams a recording (`GET /rest/public/calls/{uuid}[-rx|-tx]/audio`), optionally a byte
     * range. PhonetNotFoundError until the call has ended.
     * @example
     * ```ts
     * const rec = await client.recordings.download(uuid, { track: 'tx' });
     * const wav = Buffer.from(await rec.arrayBuffer());
     * ```
     */
    download,
    /**
     * Downloads a recording into a file, streaming; resolves with the number of bytes written.
     * @example
     * ```ts
     * const bytes = await client.recordings.saveTo(uuid, `/var/recordings/${uuid}.wav`);
     * ```
     */
    async saveTo(
      uuid: string,
      filePath: string,
      o: { track?: RecordingTrack; signal?: AbortSignal } = {},
    ): Promise<number> {
      const rec = await download(uuid, o);
      let bytes = 0;
      const source = Readable.fromWeb(rec.body as unknown as WebReadableStream<Uint8Array>);
      source.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      await pipeline(source, createWriteStream(filePath), { signal: o.signal });
      return bytes;
    },
  };
}
