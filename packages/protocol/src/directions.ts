/** Call directions (`lgDirection`) as the document numbers them. */
export const DIRECTION = { internal: 1, outgoing: 2, incoming: 4, pause: 32, unpause: 64 } as const;

/** Directions a call-list filter may select. */
export const CALL_DIRECTIONS = [DIRECTION.internal, DIRECTION.outgoing, DIRECTION.incoming] as const;
export type CallDirection = (typeof CALL_DIRECTIONS)[number];

/**
 * Parses a `directions` filter in every encoding real clients send (spec decision #7):
 * a bitmask (`6`), repeated keys (`['2','4']`), PHP style (already folded into an array by the
 * query parser), comma lists (`'2,4'`). Returns the selected directions (of `allowed`), or
 * `defaults` when the filter is absent, or throws `RangeError` naming the bad part.
 * users.api passes `allowed` with 32/64 (pause records); the others take the call directions.
 * @example `parseDirections('6')` → `[2, 4]`; `parseDirections(['1', '4'])` → `[1, 4]`
 */
export function parseDirections<D extends number = CallDirection>(
  input: string | number | ReadonlyArray<string | number> | undefined | null,
  allowed: readonly D[] = CALL_DIRECTIONS as unknown as readonly D[],
  defaults: readonly D[] = allowed,
): D[] {
  if (input === undefined || input === null || input === '') return [...defaults];
  const all = allowed.reduce((m, d) => m | d, 0);
  const parts = (Array.isArray(input) ? input : [input]).flatMap((p) => String(p).split(','));
  let mask = 0;
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') continue;
    if (!/^\d{1,3}$/.test(part)) throw new RangeError(`directions: '${raw}' is not a number`);
    const n = Number(part);
    if (n === 0 || (n & ~all) !== 0)
      throw new RangeError(
        `directions: ${n} is not ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}, or a sum of them`,
      );
    mask |= n;
  }
  if (mask === 0) return [...defaults];
  return allowed.filter((d) => (mask & d) !== 0);
}
