// What the PBX POSTs to a CRM (spec: "The PBX calls the CRM"), as typed, narrowed payloads.
import type { EventLeg, OtherLeg } from '@dzvin/protocol';

/**
 * The three call events; the dedupe key is `(uuid, event)` (spec #11).
 * @example
 * ```ts
 * if (CALL_EVENT_NAMES.includes(name as CallEventName)) …
 * ```
 */
export const CALL_EVENT_NAMES = ['call.dial', 'call.bridge', 'call.hangup'] as const;

/**
 * `'call.dial' | 'call.bridge' | 'call.hangup'`.
 * @example
 * ```ts
 * const name: CallEventName = 'call.hangup';
 * ```
 */
export type CallEventName = (typeof CALL_EVENT_NAMES)[number];

/**
 * `lgDirection` of a call event: 1 internal, 2 outgoing, 4 incoming (32/64 are pause records).
 * @example
 * ```ts
 * const incoming: LgDirection = 4;
 * ```
 */
export type LgDirection = 1 | 2 | 4 | 32 | 64;

/** Keys every call event has (all present, `null` when unknown; times in ms, spec #1/#3). */
interface CallEventBase {
  accountDomain: string;
  /** The call; the same for dial, bridge and hangup. */
  uuid: string;
  /**
   * null for a phone call (one uuid from dial to hangup; a direct call is one call); the
   * ring-group call's uuid for one member's leg of it. One CRM record per phone call: skip events
   * whose `parentUuid` is set (they are per-employee attempts, for agent statistics).
   */
  parentUuid: string | null;
  /** When the phone started ringing (ms). */
  dialAt: number;
  /** When the event was sent (ms). */
  serverTime: number;
  lgDirection: LgDirection;
  /**
   * The employee placing or taking the call. Dzvin always sends an object: `id` 0 while no
   * employee holds the call (ringing a group, in an IVR), with the group's ext or "" and its name.
   */
  leg: EventLeg | null;
  /** The callee employee of an internal call; null otherwise. */
  leg2: EventLeg | null;
  /**
   * One entry per connected CRM (Dzvin's contacts book included), known or not: `num` is the
   * other party's number, `id`/`name` null when that CRM does not know it (spec #17).
   */
  otherLegs: OtherLeg[];
  trunkNum: string | null;
  trunkName: string | null;
}

/**
 * `call.dial`: a phone started ringing; nobody has answered (`bridgeAt` is null).
 * @example
 * ```ts
 * onCallEvent(e) { if (e.event === 'call.dial') showPopup(e.otherLegs[0]?.name); }
 * ```
 */
export interface CallDialEvent extends CallEventBase {
  event: 'call.dial';
  bridgeAt: null;
}

/**
 * `call.bridge`: the call was answered (`bridgeAt` is set).
 * @example
 * ```ts
 * if (e.event === 'call.bridge') console.log('answered after', e.bridgeAt - e.dialAt, 'ms');
 * ```
 */
export interface CallBridgeEvent extends CallEventBase {
  event: 'call.bridge';
  bridgeAt: number;
}

/**
 * `call.hangup`: the call or conversation ended (`bridgeAt` null when it was never answered).
 * @example
 * ```ts
 * if (e.event === 'call.hangup' && e.bridgeAt === null) createCallBackTask(e);
 * ```
 */
export interface CallHangupEvent extends CallEventBase {
  event: 'call.hangup';
  bridgeAt: number | null;
}

/**
 * Any call event; narrow it with `event.event`.
 * @example
 * ```ts
 * function handle(e: CallEvent) {
 *   switch (e.event) {
 *     case 'call.bridge': return e.bridgeAt; // number
 *     case 'call.dial': return e.bridgeAt; // null
 *   }
 * }
 * ```
 */
export type CallEvent = CallDialEvent | CallBridgeEvent | CallHangupEvent;

/**
 * The event of one name.
 * @example
 * ```ts
 * const onHangup = (e: CallEventOf<'call.hangup'>) => e.bridgeAt;
 * ```
 */
export type CallEventOf<N extends CallEventName> = Extract<CallEvent, { event: N }>;

/**
 * `call.settings`: the PBX asks who calls (or is called) before routing; `trunkNum` only on incoming calls.
 * @example
 * ```ts
 * onCallSettings: async ({ otherLegNum }) => lookup(otherLegNum)
 * ```
 */
export interface CallSettingsRequest {
  request: 'call.settings';
  otherLegNum: string;
  trunkNum: string | null;
}

/**
 * What the CRM knows about the number; `responsibleEmployeeExt` (wins) or
 * `responsibleEmployeeEmail` routes the call to that employee. Answer `null` for "unknown".
 * @example
 * ```ts
 * const known: CallSettingsAnswer = { name: 'Іван Іваненко', url: 'https://crm.example/c/1', urlText: 'Іван Іваненко', responsibleEmployeeExt: '001' };
 * ```
 */
export interface CallSettingsAnswer {
  name?: string | null;
  url?: string | null;
  urlText?: string | null;
  newEntry?: boolean;
  responsibleEmployeeExt?: string | null;
  responsibleEmployeeEmail?: string | null;
}

/**
 * One tracked call of a UTM batch (the PBX sends an array every minute; extra keys may appear).
 * @example
 * ```ts
 * onUtm: (items) => items.forEach((u) => saveLead(u.otherLegNum, u.utmSource, u.callParentUuid))
 * ```
 */
export interface UtmItem {
  utmSource: string | null;
  utmMedium: string | null;
  utmCampaign: string | null;
  utmContent: string | null;
  utmTerm: string | null;
  googleClientId: string | null;
  clientIp: string | null;
  referrer: string | null;
  otherLegNum: string | null;
  trunkSource: string | null;
  label: string | null;
  /** When the call ended (ms). */
  callDate: number | null;
  /** When the call started (ms). */
  callStart: number | null;
  callParentUuid: string;
  [extra: string]: unknown;
}

/**
 * Where a delivery came from and how it was sent, handed to every callback.
 * @example
 * ```ts
 * onCallEvent: (e, ctx) => log.info({ ip: ctx.ip, id: ctx.webhookId }, e.event)
 * ```
 */
export interface DeliveryContext {
  /** The sender's address (after trusted proxies). */
  ip: string;
  /** `webhook-id` when the delivery was signed. */
  webhookId: string | null;
  /** The request headers, lower-case names. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}
