import type { ActiveCall, CallEvent, CallEventName, EventLeg } from '@dzvin/protocol';
import type { FinishedCall, LiveCall, Party } from './call-model.ts';

/**
 * How a call looks to a CRM (README "What a CRM receives"): one module for the active/v3 item and
 * the call event, so both render a party the same way.
 */

/**
 * `leg`/`leg2` as events and active/v3 carry them: always `{id, ext, displayName}` typed as the
 * document's examples (id number, ext string, displayName string). A call that no employee holds
 * yet — in an IVR, ringing a group — names what holds it with `id: 0` (no employee has id 0, so a
 * CRM mapping `leg.id` to its users finds nobody rather than the wrong person), the group's ext
 * (unique among employees and groups) or "" for an IVR, and its name.
 */
export function eventLeg(p: Party | null): EventLeg {
  if (!p) return { id: 0, ext: '', displayName: '' };
  return { id: p.type === 1 ? p.id : 0, ext: p.ext ?? '', displayName: p.displayName };
}

/** LiveCall → the documented active/v3 item (every key present, ms times). */
export function toActiveCall(c: LiveCall): ActiveCall {
  return {
    uuid: c.uuid,
    parentUuid: c.parentUuid,
    lastEvent: c.lastEvent,
    dialAt: c.dialAt,
    bridgeAt: c.bridgeAt,
    lgDirection: c.direction,
    leg: eventLeg(c.leg),
    leg2: c.direction === 1 ? eventLeg(c.leg2) : null,
    // The document's internal active call: `otherLegs: null`.
    otherLegs: c.direction === 1 ? null : c.otherLegs,
    trunkNum: c.trunkNum,
    trunkName: c.trunkName,
  };
}

/**
 * The documented call event (every key present, ms times; spec #1, #3). `serverTime` is set
 * again on every attempt (the time the event is sent). Internal calls carry the account's default
 * trunk as the document's examples show it (strict clients type `trunkNum` as a string).
 */
export function callEventPayload(
  event: CallEventName,
  call: LiveCall | FinishedCall,
  accountDomain: string,
  serverTime: number,
): CallEvent {
  return {
    event,
    accountDomain,
    uuid: call.uuid,
    parentUuid: call.parentUuid,
    dialAt: call.dialAt,
    bridgeAt: call.bridgeAt,
    serverTime,
    lgDirection: call.direction,
    leg: eventLeg(call.leg),
    leg2: call.direction === 1 ? eventLeg(call.leg2) : null,
    otherLegs: call.otherLegs ?? [],
    trunkNum: call.trunkNum,
    trunkName: call.trunkName,
  };
}
