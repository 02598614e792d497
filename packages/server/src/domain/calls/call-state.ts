import type { CallEventName, Employee, Ivr, OtherLeg, Trunk } from '@dzvin/protocol';
import type { Cancel } from '../clock.ts';
import type { AccountRecord } from '../ports.ts';
import type { FinishedCall, Party } from './call-model.ts';
import type { PhoneDriver } from './phone-driver.ts';

/**
 * The call ledger's records: a company call in progress and its legs, as the call core keeps
 * them (projection.ts renders them for active/v3, the events and history).
 */

/**
 * A leg: one employee's phone taking part in a company call. The first employee of a direct call
 * (not through a ring group) is the call itself — `primary`, same uuid, no events of its own: a
 * CRM sees one uuid per phone call (README "What a CRM receives"). Ring-group members and
 * transfer targets are child legs with their own uuid and `parentUuid`.
 */
export interface Leg {
  uuid: string;
  primary: boolean;
  employee: Employee;
  /** The driver whose phone this is. */
  driver: PhoneDriver;
  dialAt: number;
  /** When the phone was picked up (or went off hook to dial out): from then on the employee is busy. */
  offHookAt: number | null;
  /**
   * When the employee was connected to the other party: set once, together with the leg's
   * call.bridge, and never moved (a click-to-call employee who picked up waits for the number).
   */
  bridgeAt: number | null;
  ended: boolean;
  timers: Cancel[];
  /** What the ringing strategy does when this phone stops ringing unanswered (next member…). */
  onEnd: (disposition: 0 | 1 | 2 | 3 | 4) => Promise<void>;
}

export type CallState = 'ivr' | 'ringing' | 'dialing' | 'bridged' | 'ended';

/** A company call in progress. */
export interface Call {
  uuid: string;
  account: AccountRecord;
  direction: 1 | 2 | 4;
  state: CallState;
  dialAt: number;
  bridgeAt: number | null;
  otherLegNum: string | null;
  otherLegName: string | null;
  /** What the CRMs (and the contacts book) said about the number (spec #17). */
  otherLegs: OtherLeg[];
  trunk: Trunk | null;
  /**
   * The trunk events and active/v3 name for an internal call (the account's default one, as the
   * document's example of an internal active call shows it); history's `trunk` stays null.
   */
  shownTrunk: Trunk | null;
  /** The driver of the external party (caller or callee), for calls that have one. */
  external: PhoneDriver | null;
  /**
   * Trunks an outgoing call tried before `trunk` (their carrier was congested or away), oldest
   * first: history's `trunk` lists them all (`o=…;o=…;`).
   */
  triedTrunks: Trunk[];
  /** Which dial of the external number is the current one (a retry on another trunk is the next). */
  dialAttempt: number;
  /** The call has (had) a primary leg: one employee, one uuid (not a ring-group call). */
  direct: boolean;
  /** Its call.dial was emitted (when it first reached a phone, or just before it ended without). */
  dialSent: boolean;
  /** The entity handling the call now (user, group or IVR) — company.api's `leg`. */
  handler: Party | null;
  legs: Map<string, Leg>;
  answered: Leg | null;
  transfers: string[];
  timers: Cancel[];
  ivr: Ivr | null;
  /** An attended transfer in progress: the employee being consulted while the caller waits. */
  consult: Leg | null;
  /** The employee who placed an internal call (its `leg`; the callee is `leg2`). */
  caller: Party | null;
  recording: boolean;
  lastEvent: CallEventName;
  /**
   * Records of legs that ended while the call goes on but share the call's uuid (a direct call's
   * primary leg, transferred away): saved with the call's own record, so the history never holds
   * a row of this uuid without the call's hangup event beside it.
   */
  held: FinishedCall[];
}
