import { type Static, Type } from 'typebox';
import { EpochMs, Nullable } from './common.ts';

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

/**
 * Starts the traffic generator of the account (`POST /api/v1/sim/traffic`): Poisson arrivals of
 * incoming calls at `ratePerSec`, from a pool of `callers` numbers (some call again), to the
 * account's trunks (or `trunks`). `answerRate`/`answerAfterSec` set every employee's phone to
 * answer with that probability after about that many seconds (±50 %), `talk` sets the talk time;
 * both stay set after the generator stops. Arrivals beyond `maxConcurrent` company calls in
 * progress are dropped. Starting again replaces the running generator.
 * @example `{ "ratePerSec": 2, "durationSec": 60, "answerRate": 0.8, "talk": { "minSec": 20, "maxSec": 90 } }`
 */
export const TrafficStart = Type.Object({
  ratePerSec: Type.Number({ exclusiveMinimum: 0, maximum: 200, description: 'Mean arrivals per second' }),
  durationSec: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: 86_400, description: 'Stop by itself after this long' }),
  ),
  answerRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  answerAfterSec: Type.Optional(Type.Number({ minimum: 0, maximum: 600, description: 'Mean ring time' })),
  talk: Type.Optional(TalkTime),
  maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  trunks: Type.Optional(
    Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { minItems: 1, maxItems: 100 }),
  ),
  callers: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 100_000, description: 'Size of the pool of caller numbers' }),
  ),
});
export type TrafficStart = Static<typeof TrafficStart>;

/**
 * The account's traffic generator: the running one, or the last one's final counts.
 * `placed` calls reached the simulator, `dropped` arrivals found `maxConcurrent` calls in
 * progress, `failed` ones were refused (e.g. an unknown trunk; `lastError` says why).
 * @example `{ "running": true, "startedAt": 1764147600000, "stoppedAt": null, "ratePerSec": 2, "durationSec": 60, "maxConcurrent": null, "placed": 17, "dropped": 0, "failed": 0, "lastError": null }`
 */
export const TrafficStatus = Type.Object({
  running: Type.Boolean(),
  startedAt: Nullable(EpochMs),
  stoppedAt: Nullable(EpochMs),
  ratePerSec: Nullable(Type.Number()),
  durationSec: Nullable(Type.Number()),
  maxConcurrent: Nullable(Type.Integer()),
  placed: Type.Integer(),
  dropped: Type.Integer(),
  failed: Type.Integer(),
  lastError: Nullable(Type.String()),
});
export type TrafficStatus = Static<typeof TrafficStatus>;
