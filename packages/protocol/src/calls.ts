import { type Static, Type } from 'typebox';
import { EpochMs, Nullable } from './common.ts';

/** `disposition` of a finished call. */
export const DISPOSITION = { answered: 0, noAnswer: 1, congestion: 2, failure: 3, busy: 4 } as const;
export type Disposition = (typeof DISPOSITION)[keyof typeof DISPOSITION];

/** `leg.type`: what handled or placed a call. */
export const LEG_TYPE = { user: 1, group: 2, ivr: 4 } as const;

/** The three documented call events (spec #11: receivers dedupe on `(uuid, event)`). */
export const CALL_EVENTS = ['call.dial', 'call.bridge', 'call.hangup'] as const;
export type CallEventName = (typeof CALL_EVENTS)[number];

/**
 * An employee as a call event or live call names it, typed as the document's examples
 * (`id` number, `ext` string, `displayName` string). While no employee holds the call (in an IVR,
 * ringing a group) it names what does: `id` 0, the group's ext or "" for an IVR, and its name.
 * @example `{ "id": 36, "ext": "001", "displayName": "Иван Иванов" }`
 */
export const EventLeg = Type.Object({
  id: Type.Integer({ minimum: 0, description: 'The employee; 0 while no employee holds the call' }),
  ext: Type.String(),
  displayName: Type.String(),
});
export type EventLeg = Static<typeof EventLeg>;

/** A user, group or IVR as call history names it (`leg.type` 1/2/4; an IVR has no ext). */
export const HistoryLeg = Type.Object({
  id: Type.Integer(),
  type: Type.Integer({ description: '1 user, 2 group, 4 IVR' }),
  displayName: Type.String(),
  ext: Nullable(Type.String()),
});
export type HistoryLeg = Static<typeof HistoryLeg>;

/**
 * One connected CRM's view of the external party (spec #17): there is one per CRM, the built-in
 * contacts book included, whether or not it knows the number. `id`, `name` and `companyName` are
 * null when it does not; `num` is always the other party's E.164 number; `url` links to the
 * contact or to creating one ("" when a CRM gave no link).
 * @example `{ "id": null, "name": null, "num": "+380505826633", "companyName": null, "url": "http://demo.localhost:8080/#/contacts?new=%2B380505826633", "priority": 100 }`
 */
export const OtherLeg = Type.Object({
  id: Nullable(Type.Union([Type.String(), Type.Integer()])),
  name: Nullable(Type.String()),
  num: Type.String(),
  companyName: Nullable(Type.String()),
  url: Type.String(),
  priority: Nullable(Type.Integer()),
});
export type OtherLeg = Static<typeof OtherLeg>;

/**
 * `POST /rest/user/makeCall` body; `legExt` may be a string or a number (spec #9).
 * @example `{ "legExt": "001", "otherLegNum": "+380993034330" }`
 */
export const MakeCallRequest = Type.Object({
  legExt: Type.Union([
    Type.String({ minLength: 1, maxLength: 10 }),
    Type.Integer({ minimum: 0, maximum: 9_999_999_999 }),
  ]),
  otherLegNum: Type.String({ minLength: 1, maxLength: 64 }),
});
export type MakeCallRequest = Static<typeof MakeCallRequest>;
export const MakeCallResponse = Type.Object({ uuid: Type.String() });
export type MakeCallResponse = Static<typeof MakeCallResponse>;

/**
 * A call in progress as `GET /rest/calls/active/v3` returns it.
 * @example `{ "uuid": "47a9…", "parentUuid": null, "lastEvent": "call.dial", "dialAt": 1431686100000, "bridgeAt": null, "lgDirection": 2, "leg": { "id": 36, "ext": "001", "displayName": "Иван Иванов" }, "leg2": null, "otherLegs": [], "trunkNum": "+380442246595", "trunkName": "Main" }`
 */
export const ActiveCall = Type.Object({
  uuid: Type.String(),
  parentUuid: Nullable(Type.String()),
  lastEvent: Type.String(),
  dialAt: EpochMs,
  bridgeAt: Nullable(EpochMs),
  lgDirection: Type.Integer(),
  leg: EventLeg,
  leg2: Nullable(EventLeg),
  otherLegs: Nullable(Type.Array(OtherLeg)),
  trunkNum: Nullable(Type.String()),
  trunkName: Nullable(Type.String()),
});
export type ActiveCall = Static<typeof ActiveCall>;

/**
 * One finished call as `company.api`, `missed.api` and `users.api` return it (every key present).
 */
export const CallHistoryRecord = Type.Object({
  parentUuid: Nullable(Type.String()),
  uuid: Type.String(),
  endAt: EpochMs,
  lgDirection: Type.Integer(),
  otherLegNum: Nullable(Type.String()),
  otherLegName: Nullable(Type.String()),
  leg: Nullable(HistoryLeg),
  leg2: Nullable(HistoryLeg),
  billSecs: Type.Integer(),
  duration: Type.Integer(),
  disposition: Type.Integer(),
  transferHistory: Nullable(Type.String()),
  audioRecUrl: Nullable(Type.String()),
  trunk: Nullable(Type.String()),
});
export type CallHistoryRecord = Static<typeof CallHistoryRecord>;

/** Largest page of call history (spec #8). */
export const CALLS_MAX_LIMIT = 50;

/** Query of the three history endpoints; `directions` in any encoding of spec #7. */
export const CallHistoryQuery = Type.Object({
  timeFrom: Type.Integer({
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'ms (a value below 1e12 is seconds)',
  }),
  timeTo: Type.Integer({
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'ms (a value below 1e12 is seconds)',
  }),
  directions: Type.Optional(Type.Array(Type.String({ maxLength: 20 }), { maxItems: 10 })),
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: CALLS_MAX_LIMIT, default: CALLS_MAX_LIMIT })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 })),
});
export type CallHistoryQuery = Static<typeof CallHistoryQuery>;

/**
 * A call event as the PBX POSTs it to a CRM's events URL (every key present, ms times).
 */
export const CallEvent = Type.Object({
  event: Type.String(),
  accountDomain: Type.String(),
  uuid: Type.String(),
  parentUuid: Nullable(Type.String()),
  dialAt: EpochMs,
  bridgeAt: Nullable(EpochMs),
  serverTime: EpochMs,
  lgDirection: Type.Integer(),
  leg: EventLeg,
  leg2: Nullable(EventLeg),
  otherLegs: Type.Array(OtherLeg),
  trunkNum: Nullable(Type.String()),
  trunkName: Nullable(Type.String()),
});
export type CallEvent = Static<typeof CallEvent>;
