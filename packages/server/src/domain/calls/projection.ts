import type {
  ActiveCall,
  CallEvent,
  CallEventName,
  Disposition,
  Employee,
  EventLeg,
  Ivr,
  RingGroup,
  Trunk,
} from '@dzvin/protocol';
import type { FinishedCall, LiveCall, Party } from './call-model.ts';
import type { Call, Leg } from './call-state.ts';

/**
 * How a call looks (README "What a CRM receives"): one module renders the ledger's calls as the
 * live call (active/v3 and the events) and the history record, and those as the documented
 * active/v3 item and call event — so "a call still in a group or IVR has no employee leg" is
 * written once.
 */

export const employeeParty = (e: Employee): Party => ({
  type: 1,
  id: e.id,
  ext: e.ext,
  displayName: e.displayName,
});
export const groupParty = (g: RingGroup): Party => ({ type: 2, id: g.id, ext: g.ext, displayName: g.name });
export const ivrParty = (i: Ivr): Party => ({ type: 4, id: i.id, ext: null, displayName: i.name });

/**
 * The call (`leg` null, or its primary leg) or a child leg as active/v3 and the events show it.
 * The company view's `leg` is whoever handles the call: the employee of a direct call, the one
 * who answered, else the group or IVR holding it (rendered as `id: 0`, see `eventLeg`).
 */
export function liveCall(c: Call, leg: Leg | null): LiveCall {
  const child = leg && !leg.primary ? leg : null;
  const trunk = c.trunk ?? c.shownTrunk;
  return {
    uuid: child ? child.uuid : c.uuid,
    accountId: c.account.id,
    parentUuid: child ? c.uuid : null,
    direction: c.direction,
    ...(c.direction === 1
      ? { leg: c.caller, leg2: child ? employeeParty(child.employee) : c.handler }
      : { leg: child ? employeeParty(child.employee) : c.handler, leg2: null }),
    otherLegNum: c.otherLegNum,
    otherLegName: c.otherLegName,
    otherLegs: c.otherLegs,
    trunkNum: trunk?.number ?? null,
    trunkName: trunk?.name ?? null,
    dialAt: child ? child.dialAt : c.dialAt,
    bridgeAt: child ? child.bridgeAt : c.bridgeAt,
    lastEvent: child
      ? child.ended
        ? 'call.hangup'
        : child.bridgeAt !== null
          ? 'call.bridge'
          : 'call.dial'
      : c.lastEvent,
  };
}

const secs = (ms: number) => Math.max(0, Math.round(ms / 1000));

/**
 * The documented `trunk` of a history record, e.g. `o=380442249895;` (null for internal calls);
 * an outgoing call that tried several trunks lists each, in order (`o=…;o=…;`).
 */
function trunkField(c: Call): string | null {
  if (!c.trunk) return null;
  const digits = (t: Trunk) => t.number.replace(/^\+/, '');
  if (c.direction !== 2) return `i=${digits(c.trunk)};`;
  return [...(c.triedTrunks ?? []), c.trunk].map((t) => `o=${digits(t)};`).join('');
}

/**
 * The history record of the call (`leg` null: company.api) or of an employee leg (users.api;
 * a primary leg's record shares the call's uuid, with `parentUuid` null).
 */
export function historyRecord(c: Call, leg: Leg | null, disposition: Disposition, now: number): FinishedCall {
  const bridgeAt = leg ? leg.bridgeAt : c.bridgeAt;
  const dialAt = leg ? leg.dialAt : c.dialAt;
  const answered = disposition === 0 && bridgeAt !== null;
  const trunk = c.trunk ?? c.shownTrunk;
  return {
    uuid: leg ? leg.uuid : c.uuid,
    accountId: c.account.id,
    kind: leg ? 'user' : 'company',
    parentUuid: leg && !leg.primary ? c.uuid : null,
    direction: c.direction,
    // Internal calls (spec: leg2 only for them): the caller is `leg`, whoever took it `leg2`.
    ...(c.direction === 1
      ? { leg: c.caller, leg2: leg ? employeeParty(leg.employee) : c.handler }
      : { leg: leg ? employeeParty(leg.employee) : c.handler, leg2: null }),
    otherLegNum: c.otherLegNum,
    otherLegName: c.otherLegNum === null ? null : (c.otherLegName ?? c.otherLegNum),
    otherLegs: c.otherLegs,
    trunkNum: trunk?.number ?? null,
    trunkName: trunk?.name ?? null,
    trunk: trunkField(c),
    dialAt,
    bridgeAt: answered ? bridgeAt : null,
    endAt: now,
    billSecs: answered && bridgeAt !== null ? secs(now - bridgeAt) : 0,
    duration: secs(now - dialAt),
    disposition,
    transferHistory: leg
      ? answered
        ? leg.employee.ext
        : null
      : c.transfers.length
        ? c.transfers.join(' > ')
        : null,
    recordingUuid: answered && c.recording ? c.uuid : null,
  };
}

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
