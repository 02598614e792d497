import type { Disposition, Employee, Ivr, Trunk } from '@dzvin/protocol';
import type { AccountRecord } from '../ports.ts';

/**
 * The port beneath the call core: how it drives phones. A driver serves endpoints (an employee's
 * phone, an external number on a trunk), not the whole process: the simulator serves every
 * endpoint today; a SIP driver will serve the employees whose softphones are registered and the
 * SIP trunks, while the rest of the office stays simulated in the same call.
 *
 * The core decides (routing, ring timeouts, state, history, events); a driver only makes phones
 * ring, dials out, connects media and reports back through `PhoneEvents`.
 */
export type Endpoint =
  | { kind: 'employee'; accountId: number; employee: Employee }
  | { kind: 'external'; accountId: number; number: string; trunk: Trunk | null };

/** What a driver knows of a call: enough to address its phones, nothing of the core's state. */
export interface CallRef {
  uuid: string;
  accountId: number;
}
export interface LegRef extends CallRef {
  /** The leg's uuid (a direct call's primary leg has the call's uuid). */
  legUuid: string;
  employee: Employee;
  /**
   * Who the ringing phone should show: the external number and its name (the contacts book's or
   * a CRM's), or the colleague of an internal call (their name and ext); null fields unknown.
   */
  caller?: { name: string | null; number: string | null };
}

export interface PhoneDriver {
  /**
   * Whether its phones are simulated (nobody real answers them): the account's phone setting
   * (`simulated` / `real` / `hybrid`, domain/accounts/phone-mode.ts) decides whether such a
   * driver may serve the account's employees. Absent: real phones.
   */
  readonly simulated?: boolean;
  /** Whether this driver serves the endpoint (the core takes the first driver that does). */
  serves(endpoint: Endpoint): boolean;
  /**
   * An employee's phone starts ringing for a leg; the driver reports `answered` or `refused`.
   * The core ends the leg after `timeoutMs` unanswered (the driver need not).
   */
  ring(leg: LegRef, timeoutMs: number): void;
  /** Dials an external number for the call; the driver reports `externalAnswered` or `externalRefused`. */
  dial(call: CallRef, number: string, trunk: Trunk | null, timeoutMs: number): void;
  /**
   * Whether this driver supplies the call's recorded audio itself (a real phone's RTP and what
   * was sent to it, fed through `Recorder.feed`) instead of the recorder's synthesized voices.
   * Asked once, when the parties connect and the recording starts. Absent: it does not.
   */
  suppliesAudio?(call: CallRef): boolean;
  /** The parties are connected (media flows); a driver may later report `remoteHangup`. */
  connected(call: CallRef, at: number): void;
  /** The IVR answers the caller: play its greeting; digits come back as `digit`. */
  playIvr(call: CallRef, ivr: Ivr): void;
  /** The core ended one phone's part (it stops ringing, or hangs up). */
  release(leg: LegRef): void;
  /**
   * An attended transfer completed from a phone (REFER with Replaces): the phone of `from`
   * (answered, in its consultation call) is now the leg `to` of another call, without hanging up.
   * False when the driver cannot (the core then refuses the transfer). Absent: it cannot.
   */
  moveLeg?(from: LegRef, to: LegRef): boolean;
  /**
   * The call ended: everything of it stops. `disposition` is how the company call ended (a phone
   * that placed the call answers its INVITE by it: busy, no answer…).
   */
  ended(call: CallRef, disposition?: Disposition): void;
}

/**
 * A phone a driver serves went off hook and dialled (a call placed from a real phone, issue 15):
 * `dialled` is an ext of the account (an employee or a ring group) or an external number. The
 * employee `ext` is then off hook on the call (busy for others) until it ends; the driver hears
 * of it through `connected` (the other side answered) and `ended` (with its disposition).
 */
export interface OffHook {
  account: AccountRecord;
  ext: string;
  dialled: string;
  driver: PhoneDriver;
  /** The call, as soon as the core has made it (before any `connected`/`ended` of it). */
  placed?(call: CallRef): void;
}

/**
 * A real caller on a trunk (a carrier's INVITE for the trunk's number): the call is routed as any
 * incoming call (call.settings, IVR, groups), and its external party is this driver's — it plays
 * IVR greetings, reports digits, and hears `connected` / `ended` as the simulator's caller would.
 */
export interface IncomingCaller {
  driver: PhoneDriver;
  /** The call, as soon as the core has made it (before any `playIvr`/`connected`/`ended` of it). */
  placed?(call: CallRef): void;
  /**
   * The account's trunk with `trunkNumber`, when the driver has just read it for this call (the
   * SIP engine finds it to accept the carrier's INVITE): used as is instead of read again.
   */
  trunk?: Trunk;
}

/** What phones report to the core (through whichever driver serves them). */
export interface PhoneEvents {
  answered(legUuid: string): Promise<void>;
  refused(legUuid: string, disposition: Disposition): Promise<void>;
  externalAnswered(callUuid: string): Promise<void>;
  externalRefused(callUuid: string, disposition: Disposition): Promise<void>;
  /** A party hung up (the end of the conversation). */
  remoteHangup(callUuid: string): Promise<void>;
  digit(accountId: number, callUuid: string, digit: string): Promise<void>;
  /** A phone went off hook dialling: an internal or outgoing call (DomainError when nothing is dialled). */
  offHook(dial: OffHook): Promise<{ uuid: string }>;
  /**
   * The employee talking on a call transfers it (a phone's REFER): blind, as the API's transfer —
   * `toExt` rings, the call moves when they answer, else it stays. DomainError when it cannot.
   * `byExt`: the employee whose phone asked; only the one talking on the call may (else CONFLICT).
   */
  transfer(accountId: number, callUuid: string, toExt: string, byExt?: string): Promise<void>;
  /**
   * An attended transfer from a phone (REFER with Replaces): `byExt` talks on `callUuid` and has
   * placed `consultUuid` to another employee, who answered; that employee takes `callUuid` over
   * (its phone moves there, `moveLeg`), `consultUuid` ends answered and `byExt` leaves both.
   * DomainError when it cannot (CONFLICT: not those calls' parties, or not answered).
   */
  replaceTransfer(accountId: number, callUuid: string, consultUuid: string, byExt: string): Promise<void>;
  /** The employee who placed a call (or a trunk's caller) hung up (answered if it was bridged, else no answer). */
  callerHangup(callUuid: string): Promise<void>;
  /** A real caller reached the trunk `trunkNumber` of the account (DomainError when it has none). */
  incoming(
    account: AccountRecord,
    from: string,
    trunkNumber: string,
    caller: IncomingCaller,
  ): Promise<{ uuid: string }>;
}
