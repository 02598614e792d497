import { type Static, Type } from 'typebox';

/** Dzvin's simulation API lives under this prefix (admin authentication). */
export const SIM_PREFIX = '/api/v1/sim';

/**
 * An external number calls one of the account's trunks.
 * @example `{ "from": "+380505826633", "trunk": "+380442246595" }`
 */
export const SimIncomingRequest = Type.Object({
  from: Type.String({ minLength: 2, maxLength: 64 }),
  trunk: Type.String({ minLength: 2, maxLength: 64 }),
});
export type SimIncomingRequest = Static<typeof SimIncomingRequest>;

/** Which employee acts on a call (optional when only one phone rings). */
export const SimActorRequest = Type.Object({ ext: Type.Optional(Type.String({ pattern: '^[0-9]{1,10}$' })) });
export const SimDigitRequest = Type.Object({ digit: Type.String({ pattern: '^[0-9*#]$' }) });
export const SimTransferRequest = Type.Object({ toExt: Type.String({ pattern: '^[0-9]{1,10}$' }) });

/**
 * How a simulated phone behaves when it rings.
 * @example `{ "mode": "answer", "answerAfterSec": 3, "probability": 0.8 }`
 */
export const PhoneBehaviour = Type.Union([
  Type.Object({
    mode: Type.Literal('answer'),
    answerAfterSec: Type.Number({ minimum: 0, maximum: 600 }),
    probability: Type.Number({ minimum: 0, maximum: 1 }),
  }),
  Type.Object({ mode: Type.Literal('manual') }),
  Type.Object({ mode: Type.Literal('busy') }),
  Type.Object({ mode: Type.Literal('dnd') }),
  Type.Object({ mode: Type.Literal('unreachable') }),
  Type.Object({ mode: Type.Literal('congestion') }),
]);
export type PhoneBehaviour = Static<typeof PhoneBehaviour>;

/** Talk time of answered calls, drawn uniformly. */
export const TalkTime = Type.Object({
  minSec: Type.Number({ minimum: 0, maximum: 36_000 }),
  maxSec: Type.Number({ minimum: 0, maximum: 36_000 }),
});
export type TalkTime = Static<typeof TalkTime>;
