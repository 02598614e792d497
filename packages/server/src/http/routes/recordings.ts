import fs from 'node:fs';
import { Type } from 'typebox';
import type { AuthService } from '../../domain/accounts/auth-service.ts';
import { onCall, type Recorder, type RecordingTrack } from '../../domain/calls/call-model.ts';
import { notFound } from '../../domain/errors.ts';
import type { Store } from '../../domain/ports.ts';
import { sendText } from '../errors.ts';
import { type App, errorResponses } from '../route-kit.ts';
import { sessionToken } from '../session.ts';

const tags = ['Phonet: recordings'];

const HEX32 = /^[0-9a-f]{32}$/;
/** `{uuid}`, `{uuid}-rx` or `{uuid}-tx`; the uuid as 32 hex digits or in the dashed form. */
const AUDIO_ID = /^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-(rx|tx))?$/;

export interface AudioId {
  /** Lower-case, as written in the URL. */
  uuid: string;
  track: RecordingTrack;
}

/** Parses the `{id}` of `/rest/public/calls/{id}/audio`; null for anything else. */
export function parseAudioId(id: string): AudioId | null {
  const m = AUDIO_ID.exec(id.toLowerCase());
  if (!m) return null;
  return { uuid: m[1], track: (m[2] as 'rx' | 'tx' | undefined) ?? 'mixed' };
}

/** The same uuid in its other spelling (32 hex digits ↔ dashed): both URLs name one call. */
function otherSpelling(uuid: string): string {
  if (HEX32.test(uuid))
    return `${uuid.slice(0, 8)}-${uuid.slice(8, 12)}-${uuid.slice(12, 16)}-${uuid.slice(16, 20)}-${uuid.slice(20)}`;
  return uuid.replaceAll('-', '');
}

export type ByteRange = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * One `Range: bytes=…` against a representation of `size` bytes (RFC 9110 §14): `a-b`, `a-`,
 * `-n`. null means "send it all": no header, another unit, a malformed header or several ranges
 * (a server may ignore Range). An end past the last byte is clipped.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

const errors = errorResponses(403, 404, 416);
const wav = {
  content: { 'audio/wav': { schema: { type: 'string', format: 'binary' } } },
};

/**
 * `GET|HEAD /rest/public/calls/{uuid}/audio`, `{uuid}-rx/audio`, `{uuid}-tx/audio` (spec #15):
 * no session, the unguessable uuid is the key; `audio/wav` with byte ranges; 404 until the
 * call has ended (the recorder shows only finished files) and for unknown uuids.
 */
/** Who may fetch a recording: resolves true to serve it, false for 404, or throws (403). */
export type RecordingAccess = (id: AudioId, cookie: string | undefined, host: string) => Promise<boolean>;

/** Every finished recording to anyone with its uuid (the document's behaviour, spec #15). */
export const anyoneWithTheUuid: RecordingAccess = async () => true;

/**
 * The account setting of spec #15: when the call's account requires a session, the request
 * needs one of that account (403 without; a session of another account finds nothing: 404).
 * A file whose call is not saved yet is still "not ended" (404).
 */
export function recordingAccess(store: Store, auth: AuthService): RecordingAccess {
  return async (id, cookie, host) => {
    const call = (await store.calls.byUuid(id.uuid)) ?? (await store.calls.byUuid(otherSpelling(id.uuid)));
    if (!call) return false;
    const account = await store.accounts.byId(call.accountId);
    if (!account?.recordingsNeedSession) return true;
    const viewer = await auth.resolveSession(sessionToken(cookie), host);
    if (viewer.account.id !== account.id) return false;
    // An employee's own session hears the calls they were on, nobody else's.
    const e = viewer.employeeId;
    return e === null || onCall(call, e);
  };
}

export function recordingRoutes(app: App, deps: { recorder: Recorder; access: RecordingAccess }) {
  const locate = (id: AudioId) =>
    deps.recorder.path(id.uuid, id.track) ?? deps.recorder.path(otherSpelling(id.uuid), id.track);

  app.route({
    method: ['GET', 'HEAD'],
    url: '/rest/public/calls/:id/audio',
    schema: {
      tags,
      summary: 'A call recording: mixed ({uuid}), what the employee heard ({uuid}-rx) or said ({uuid}-tx)',
      description:
        'No session needed: the uuid is the key (unless the account requires a session for recordings: then the JSESSIONID of that account, else 403). audio/wav (PCM, 8 kHz, 16-bit, mono); Range: bytes=… is supported (206), as are ETag / If-None-Match (304) and If-Range. 404 until the call has ended.',
      params: Type.Object({
        id: Type.String({ description: '`{uuid}`, `{uuid}-rx` or `{uuid}-tx`' }),
      }),
      response: {
        200: { description: 'The whole recording', ...wav },
        206: { description: 'The requested byte range (Content-Range)', ...wav },
        304: Type.Null({ description: 'Not modified (If-None-Match matched the ETag)' }),
        403: {
          ...errors[403],
          description: 'The account requires a session for recordings, and there is none',
        },
        404: { ...errors[404], description: 'Unknown uuid, or the call has not ended yet' },
        416: { ...errors[416], description: 'Range not satisfiable (Content-Range: bytes */size)' },
      },
    },
    async handler(request, reply) {
      const { id } = request.params;
      const parsed = parseAudioId(id);
      const file = parsed && locate(parsed);
      if (!file || !(await deps.access(parsed, request.headers.cookie, request.hostname)))
        throw notFound('NOT_FOUND', `Recording ${id} not found`);

      let fh: fs.promises.FileHandle;
      try {
        fh = await fs.promises.open(file, 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT')
          throw notFound('NOT_FOUND', `Recording ${id} not found`);
        throw e;
      }
      let streaming = false;
      try {
        const stat = await fh.stat();
        const size = stat.size;
        const etag = `"${size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
        reply
          .header('accept-ranges', 'bytes')
          .header('cache-control', 'private, max-age=3600')
          .header('etag', etag)
          .header('last-modified', stat.mtime.toUTCString());

        if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send(null);

        const ifRange = request.headers['if-range'];
        const rangeApplies = !ifRange || ifRange === etag || ifRange === stat.mtime.toUTCString();
        const range = rangeApplies ? parseRange(request.headers.range, size) : null;
        if (range === 'unsatisfiable') {
          reply.header('content-range', `bytes */${size}`);
          return sendText(reply, 416, `Range not satisfiable: the recording is ${size} bytes`);
        }

        const { start, end } = range ?? { start: 0, end: size - 1 };
        reply
          .type('audio/wav')
          .header('content-disposition', `inline; filename="${id.toLowerCase()}.wav"`)
          .header('content-length', String(end - start + 1));
        if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
        if (request.method === 'HEAD' || size === 0) return reply.send();
        streaming = true;
        return reply.send(fh.createReadStream({ start, end, autoClose: true }));
      } finally {
        if (!streaming) await fh.close();
      }
    },
  });
}
