import { type Static, Type } from 'typebox';

/** Milliseconds since 1970-01-01T00:00:00Z (spec decision #1: always milliseconds on output). */
export const EpochMs = Type.Integer({ description: 'Milliseconds since 1970-01-01T00:00:00Z' });

/** A database id as the document's `Long`: a positive integer that fits a JS number exactly. */
export const Id = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

/** Path parameters `{id}`. */
export const IdParams = Type.Object({ id: Id });

/** Helper for `T | null` (spec decision #3: every key present, `null` when unknown). */
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);

/**
 * The documented plain-text error body (spec decision #6).
 * @example `Contact 42 not found`
 */
export const ErrorText = Type.String({ description: 'Plain-text reason (text/plain; charset=utf-8)' });

/** The document's "success" body for update/delete operations: the number `1`. */
export const One = Type.Literal(1);
export type One = Static<typeof One>;
