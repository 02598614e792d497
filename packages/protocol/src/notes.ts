import { type Static, Type } from 'typebox';
import { EpochMs, Id, Nullable } from './common.ts';

/**
 * A note of a contact (every documented key present, spec #3).
 * @example see `fixtures/note.json`
 */
export const Note = Type.Object({
  id: Type.Integer(),
  elementId: Type.Integer({ description: 'The contact id' }),
  elementType: Type.Integer(),
  noteType: Type.Integer(),
  dateCreate: EpochMs,
  lastModified: EpochMs,
  content: Nullable(Type.String()),
  responsibleUserId: Nullable(Type.Integer()),
  otherLegNum: Nullable(Type.String()),
  otherLegName: Nullable(Type.String()),
  status: Nullable(Type.String()),
  errorMsg: Nullable(Type.String()),
  uuid: Nullable(Type.String()),
  end: Nullable(Type.Integer()),
  legId: Nullable(Type.Integer()),
  logicDirection: Nullable(Type.Integer()),
  billSec: Nullable(Type.Integer()),
  recordLink: Nullable(Type.String()),
  trunk: Nullable(Type.String()),
  tag: Nullable(Type.String()),
});
export type Note = Static<typeof Note>;
export const NoteList = Type.Array(Note);

const Int = Type.Optional(Nullable(Type.Integer({ minimum: -2147483648, maximum: Number.MAX_SAFE_INTEGER })));
/** Kept in 32-bit columns: larger values are a 400, not a PostgreSQL overflow (a 500). */
const Int32 = Type.Optional(Nullable(Type.Integer({ minimum: -2147483648, maximum: 2147483647 })));
const Str = (max = 1000) =>
  Type.Optional(Nullable(Type.Union([Type.String({ maxLength: max }), Type.Number()])));

/**
 * A note as clients send it. Server-maintained keys (`dateCreate`, `lastModified`, `elementId`)
 * are accepted and ignored; `id` selects the note on `PUT`.
 * @example `{ "content": "Called back, wants a quote", "noteType": 0 }`
 */
export const NoteInput = Type.Object({
  id: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }))),
  elementId: Type.Optional(Type.Unknown()),
  elementType: Int32,
  noteType: Int32,
  dateCreate: Type.Optional(Type.Unknown()),
  lastModified: Type.Optional(Type.Unknown()),
  content: Type.Optional(Nullable(Type.String({ maxLength: 100_000 }))),
  responsibleUserId: Int,
  otherLegNum: Str(64),
  otherLegName: Str(500),
  status: Str(100),
  errorMsg: Str(2000),
  uuid: Str(100),
  end: Int,
  legId: Int,
  logicDirection: Int32,
  billSec: Int32,
  recordLink: Str(2000),
  trunk: Str(200),
  tag: Str(200),
});
export type NoteInput = Static<typeof NoteInput>;

/** Path parameters of `DELETE /rest/crm/contacts/v2/{cntId}/notes/{noteId}` (`id` is the contact). */
export const NoteParams = Type.Object({ id: Id, noteId: Id });
