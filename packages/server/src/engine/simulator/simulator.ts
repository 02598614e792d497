import { randomUUID } from 'node:crypto';
import type { CallEventName, Disposition, Employee, Ivr, OtherLeg, RingGroup, Trunk } from '@dzvin/protocol';
import type { CallBus, CallEngine, CallSettings, RoutingHook } from '../../domain/calls/call-engine.ts';
import type { Direction, FinishedCall, LiveCall, Party, Recorder } from '../../domain/calls/call-model.ts';
import type { Cancel, Clock, Timers } from '../../domain/clock.ts';
import { badInput, DomainError } from '../../domain/errors.ts';
import { normalizePhone } from '../../domain/phone.ts';
import type { AccountRecord, Store, Target } from '../../domain/ports.ts';
import {
  DEFAULT_EMPLOYEE_BEHAVIOUR,
  DEFAULT_EXTERNAL_BEHAVIOUR,
  DEFAULT_TALK,
  decide,
  type PhoneBehaviour,
  type TalkTime,
  talkMs,
} from './behaviours.ts';

/** How long an employee's phone rings when no group timeout applies, and an external party's. */
const EMPLOYEE_RING_MS = 30_000;
const EXTERNAL_RING_MS = 45_000;

/**
 * A leg: one employee's phone taking part in a company call. The first employee of a direct call
 * (not through a ring group) is the call itself — `primary`, same uuid, no events of its own: a
 * CRM sees one uuid per phone call (README "What a CRM receives"). Ring-group members and
 * transfer targets are child legs with their own uuid and `parentUuid`.
 */
interface Leg {
  uuid: string;
  primary: boolean;
  employee: Employee;
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
  onEnd: (disposition: Disposition) => Promise<void>;
}

type CallState = 'ivr' | 'ringing' | 'dialing' | 'bridged' | 'ended';

/** A company call in progress. */
interface Call {
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
}

export interface SimulatorDeps {
  store: Store;
  clock: Clock;
  timers: Timers;
  recorder: Recorder;
  bus: CallBus;
  random?: () => number;
  newUuid?: () => string;
  routing?: RoutingHook;
  onError?: (err: unknown) => void;
  /**
   * Joins the transaction that saves a finished call (the webhook outbox writes its hangup
   * events there, spec #18): `before` is awaited first, `inTransaction` runs inside it.
   */
  saveHook?: {
    before(): Promise<void>;
    inTransaction(tx: Store, records: FinishedCall[]): Promise<void>;
    after(): void;
  };
}

const employeeParty = (e: Employee): Party => ({ type: 1, id: e.id, ext: e.ext, displayName: e.displayName });
const groupParty = (g: RingGroup): Party => ({ type: 2, id: g.id, ext: g.ext, displayName: g.name });
const ivrParty = (i: Ivr): Party => ({ type: 4, id: i.id, ext: null, displayName: i.name });

/**
 * The office simulator: a CallEngine whose phones are behaviours. Everything runs on the
 * injected Clock/Timers, so a test drives a whole call by advancing time.
 */
export function createSimulator(deps: SimulatorDeps) {
  const { store, clock, timers, recorder, bus } = deps;
  const random = deps.random ?? Math.random;
  const newUuid = deps.newUuid ?? (() => randomUUID().replaceAll('-', ''));
  const onError = deps.onError ?? (() => {});
  const calls = new Map<string, Call>();
  const legIndex = new Map<string, Call>();
  /** The legs not yet ended of each employee (by id): "is this person talking?" without a scan. */
  const legsOfEmployee = new Map<number, Set<Leg>>();
  function addLeg(c: Call, leg: Leg) {
    c.legs.set(leg.uuid, leg);
    legIndex.set(leg.uuid, c);
    const mine = legsOfEmployee.get(leg.employee.id);
    if (mine) mine.add(leg);
    else legsOfEmployee.set(leg.employee.id, new Set([leg]));
  }
  function dropLeg(leg: Leg) {
    legIndex.delete(leg.uuid);
    const mine = legsOfEmployee.get(leg.employee.id);
    mine?.delete(leg);
    if (mine?.size === 0) legsOfEmployee.delete(leg.employee.id);
  }
  const inflight = new Set<Promise<unknown>>();
  const behaviours = new Map<string, PhoneBehaviour>();
  const externalBehaviours = new Map<string, PhoneBehaviour>();
  const talk = new Map<number, TalkTime>();
  const roundRobin = new Map<number, number>();

  /** Tracks async work so idle() can wait for it. */
  function track<T>(p: Promise<T>): Promise<T> {
    inflight.add(p);
    p.then(
      () => inflight.delete(p),
      (err) => {
        inflight.delete(p);
        onError(err);
      },
    );
    return p;
  }

  const behaviourOf = (accountId: number, ext: string) =>
    behaviours.get(`${accountId}:${ext}`) ?? DEFAULT_EMPLOYEE_BEHAVIOUR;
  const externalOf = (accountId: number, num: string) =>
    externalBehaviours.get(`${accountId}:${num}`) ??
    externalBehaviours.get(`${accountId}:*`) ??
    DEFAULT_EXTERNAL_BEHAVIOUR;

  /**
   * Runs a step of `c`'s flow; when it fails (a directory read while the database is away), the
   * call ends as a failure (disposition 3) instead of staying in progress for good with nothing
   * left to end it. The error still reaches the caller.
   */
  async function step<T>(c: Call, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (c.state !== 'ended') await endCall(c, 3).catch(onError);
      throw err;
    }
  }

  function later(c: Call, ms: number, fn: () => void | Promise<void>): Cancel {
    const cancel = timers.after(ms, () => (c.state === 'ended' ? undefined : step(c, async () => fn())));
    c.timers.push(cancel);
    return cancel;
  }

  /**
   * The call (`leg` null, or its primary leg) or a child leg as active/v3 and the events show it.
   * The company view's `leg` is whoever handles the call: the employee of a direct call, the one
   * who answered, else the group or IVR holding it (the HTTP and event projections render a
   * non-employee as `id: 0`, see `eventLeg`).
   */
  function live(c: Call, leg: Leg | null): LiveCall {
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

  /** An event of the company call (one of each kind per call). */
  function emitCall(type: CallEventName, c: Call) {
    c.lastEvent = type;
    if (type === 'call.dial') c.dialSent = true;
    bus.emit({ type, at: clock.now(), call: live(c, null), kind: 'company' });
  }

  /** An event of a child leg; a primary leg has none (its events are the call's). */
  function emitLeg(type: CallEventName, c: Call, leg: Leg) {
    if (leg.primary) return;
    bus.emit({ type, at: clock.now(), call: live(c, leg), kind: 'user' });
  }

  const secs = (ms: number) => Math.max(0, Math.round(ms / 1000));

  function trunkField(c: Call): string | null {
    if (!c.trunk) return null;
    const digits = c.trunk.number.replace(/^\+/, '');
    return c.direction === 2 ? `o=${digits};` : `i=${digits};`;
  }

  let closing = false;
  /** Read through a function: TypeScript would keep a narrowing of `c.state` across awaits. */
  const hasEnded = (c: Call) => c.state === 'ended';

  /**
   * Saves finished records in one transaction (one commit per call, not one per leg). A failed
   * save (the database down, a deadlock) is retried with backoff until it succeeds: a finished
   * call is never dropped, and the call's flow waits here rather than stopping half-way. Only a
   * process that is shutting down gives up after a few more attempts.
   */
  async function save(records: FinishedCall[]) {
    const hook = deps.saveHook;
    for (let attempt = 1, delay = 100; ; attempt++, delay = Math.min(delay * 2, 5_000)) {
      try {
        if (hook) await hook.before();
        if (records.length === 1 && !hook) await store.calls.save(records[0]);
        else
          await store.transaction(async (tx) => {
            for (const r of records) await tx.calls.save(r);
            if (hook) await hook.inTransaction(tx, records);
          });
        break;
      } catch (err) {
        if (closing && attempt >= 3) throw err;
        onError(err);
        // Real time, whatever clock the calls run on: it is the database that has to come back.
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    hook?.after();
    for (const record of records) bus.emit({ type: 'call.saved', at: clock.now(), record });
  }

  /**
   * The history record of the call (`leg` null: company.api) or of an employee leg (users.api;
   * a primary leg's record shares the call's uuid, with `parentUuid` null).
   */
  function record(c: Call, leg: Leg | null, disposition: Disposition, now: number): FinishedCall {
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

  /** Ends one leg (the others go on). With `batch`, its record joins the call's final save. */
  async function endLeg(c: Call, leg: Leg, disposition: Disposition, batch?: FinishedCall[]) {
    if (leg.ended) return;
    leg.ended = true;
    for (const t of leg.timers) t();
    dropLeg(leg);
    const now = clock.now();
    emitLeg('call.hangup', c, leg);
    const r = record(c, leg, leg.bridgeAt !== null ? 0 : disposition, now);
    if (batch) batch.push(r);
    else await save([r]);
  }

  /** Ends the whole company call and every leg still up, saved together in one transaction. */
  async function endCall(c: Call, disposition: Disposition) {
    if (c.state === 'ended') return;
    const final = c.bridgeAt !== null ? 0 : disposition;
    c.state = 'ended';
    for (const t of c.timers) t();
    const now = clock.now();
    // A call that ended before any phone rang (in an IVR, nobody free) still reaches the CRMs
    // as a call: its dial, then its hangup.
    if (!c.dialSent) emitCall('call.dial', c);
    const records: FinishedCall[] = [];
    // The primary leg is the call: it ends as the call does (a congested click-to-call too).
    for (const leg of c.legs.values()) await endLeg(c, leg, leg.primary ? final : 1, records);
    if (c.recording) await recorder.stop(c.uuid, now);
    calls.delete(c.uuid);
    emitCall('call.hangup', c);
    records.push(record(c, null, final, now));
    await save(records);
  }

  async function contactName(account: AccountRecord, num: string): Promise<string | null> {
    const [found] = await store.contacts.byPhone(account.id, num, 0, 1);
    if (!found) return null;
    const name = [found.firstName, found.lastName].filter(Boolean).join(' ');
    return name || found.companyTitle;
  }

  /**
   * Before an incoming or outgoing call is routed (spec: call.settings): the routing hook asks
   * the CRMs; without one, the contacts book names the number.
   */
  async function callSettings(
    account: AccountRecord,
    direction: 2 | 4,
    otherLegNum: string,
    trunk: Trunk,
  ): Promise<CallSettings> {
    if (deps.routing)
      return deps.routing.callSettings(account, {
        direction,
        otherLegNum,
        trunkNum: direction === 4 ? trunk.number : null,
      });
    return { otherLegName: await contactName(account, otherLegNum), otherLegs: [], responsible: [] };
  }

  /** The first responsible employee (a CRM's answer) who can take calls now, as a route. */
  async function responsibleRoute(account: AccountRecord, ids: number[]): Promise<Target | null> {
    if (!ids.length) return null;
    for (const e of await store.directory.employees.byIds(account.id, ids))
      if (employeeAvailable(e)) return { type: 'employee', id: e.id };
    return null;
  }

  /** Whether `e` (as just read from the directory) can take a call: online, not paused, not talking. */
  function employeeAvailable(e: Employee): boolean {
    if (e.paused || e.presence !== 'online') return false;
    for (const l of legsOfEmployee.get(e.id) ?? []) if (!l.ended && l.offHookAt !== null) return false;
    return true;
  }

  /**
   * Rings one employee's phone as a leg of `c` (the primary leg of a direct call, or a child);
   * `onEnd` runs when it stops ringing unanswered. The call's own call.dial goes first, when this
   * is the first phone it reaches.
   */
  function ringLeg(
    c: Call,
    e: Employee,
    timeoutMs: number,
    onEnd: (disposition: Disposition) => Promise<void>,
    primary = false,
  ): Leg {
    const leg: Leg = {
      uuid: primary ? c.uuid : newUuid(),
      primary,
      employee: e,
      dialAt: clock.now(),
      offHookAt: null,
      bridgeAt: null,
      ended: false,
      timers: [],
      onEnd,
    };
    if (primary) c.direct = true;
    addLeg(c, leg);
    if (!c.dialSent) emitCall('call.dial', c);
    emitLeg('call.dial', c, leg);
    const outcome = decide(behaviourOf(c.account.id, e.ext), random);
    const at = (ms: number, fn: () => Promise<void>) => {
      const cancel = later(c, ms, () => (leg.ended ? undefined : fn()));
      leg.timers.push(cancel);
    };
    if (outcome.kind === 'answer' && outcome.afterMs < timeoutMs)
      at(outcome.afterMs, () => answerLeg(c, leg));
    else if (outcome.kind === 'refuse') {
      at(outcome.afterMs, async () => {
        await endLeg(c, leg, outcome.disposition);
        if (c.state !== 'ended') await leg.onEnd(outcome.disposition);
      });
      return leg;
    }
    at(timeoutMs, async () => {
      await endLeg(c, leg, 1);
      if (c.state !== 'ended') await leg.onEnd(1);
    });
    return leg;
  }

  function startRecording(c: Call, at: number) {
    if (c.recording) return;
    c.recording = true;
    recorder.start(c.uuid, at);
  }

  function scheduleTalk(c: Call) {
    const ms = talkMs(talk.get(c.account.id) ?? DEFAULT_TALK, random);
    later(c, ms, () => endCall(c, 0));
  }

  /** An employee picks up. */
  /** True when the employee is already talking on another call (one answered call at a time). */
  function talkingElsewhere(c: Call, employeeId: number): boolean {
    for (const l of legsOfEmployee.get(employeeId) ?? [])
      if (!l.ended && l.offHookAt !== null && legIndex.get(l.uuid) !== c) return true;
    return false;
  }

  async function answerLeg(c: Call, leg: Leg) {
    if (leg.ended || leg.offHookAt !== null) return;
    // A phone ringing on two calls can pick up only one: the other finds it busy.
    if (talkingElsewhere(c, leg.employee.id)) return refuseLeg(c, leg);
    const now = clock.now();
    for (const t of leg.timers) t();
    leg.timers = [];
    leg.offHookAt = now;
    if (c.direction === 2 && c.state === 'ringing') {
      // Click-to-call: the employee answered; now dial the external number. Nothing is bridged
      // yet: the call is bridged when the two parties are connected (dialExternal).
      c.answered = leg;
      c.handler = employeeParty(leg.employee);
      // A callback rings a whole group: the first phone to answer takes the call, the others stop.
      for (const other of c.legs.values())
        if (other !== leg && !other.ended && other.offHookAt === null) await endLeg(c, other, 1);
      // Saves take time (and are retried while the database is away): the call may have ended.
      if (hasEnded(c) || leg.ended) return;
      await dialExternal(c);
      return;
    }
    if (c.consult === leg) {
      // Attended transfer: the consulted employee talks to the transferring one; the caller waits.
      leg.bridgeAt = now;
      emitLeg('call.bridge', c, leg);
      return;
    }
    await takeOver(c, leg, now);
  }

  /** `leg` becomes the employee on the call; whoever had it leaves (a transfer) and other phones stop ringing. */
  async function takeOver(c: Call, leg: Leg, now: number) {
    const previous = c.answered;
    leg.offHookAt ??= now;
    c.answered = leg;
    c.handler = employeeParty(leg.employee);
    c.transfers.push(leg.employee.ext);
    for (const other of c.legs.values())
      if (other !== leg && !other.ended && other.offHookAt === null) await endLeg(c, other, 1);
    if (previous && !previous.ended) await endLeg(c, previous, 0);
    // The saves above take time: a call that ended meanwhile must not come back to life
    // (a second bridge, talk time and hangup for the same call).
    if (c.state === 'ended' || leg.ended) return;
    // A consulted employee (attended transfer) was bridged when they answered the consultation.
    if (leg.bridgeAt === null) {
      leg.bridgeAt = now;
      emitLeg('call.bridge', c, leg);
    }
    if (c.state !== 'bridged') {
      c.state = 'bridged';
      c.bridgeAt = now;
      emitCall('call.bridge', c);
      startRecording(c, now);
      scheduleTalk(c);
    }
  }

  /**
   * A ringing phone refuses (busy): the leg ends and the ringing strategy goes on as after any
   * unanswered leg — the next member of a hunt group, the last of a ring-all group ends the call.
   */
  async function refuseLeg(c: Call, leg: Leg) {
    await endLeg(c, leg, 4);
    if (c.state !== 'ended') await leg.onEnd(4);
  }

  async function dialExternal(c: Call) {
    c.state = 'dialing';
    const outcome = decide(externalOf(c.account.id, c.otherLegNum ?? ''), random);
    if (outcome.kind === 'answer' && outcome.afterMs < EXTERNAL_RING_MS) {
      later(c, outcome.afterMs, async () => {
        const now = clock.now();
        c.state = 'bridged';
        c.bridgeAt = now;
        const employee = c.answered;
        if (employee) {
          c.transfers.push(employee.employee.ext);
          // The employee and the number are connected now: the leg is bridged (and its talk
          // time starts) when the other side answers, as on a real phone bill.
          if (!employee.ended && employee.bridgeAt === null) {
            employee.bridgeAt = now;
            emitLeg('call.bridge', c, employee);
          }
        }
        emitCall('call.bridge', c);
        startRecording(c, now);
        scheduleTalk(c);
      });
    } else if (outcome.kind === 'refuse') {
      later(c, outcome.afterMs, () => endFailed(c, outcome.disposition));
    } else {
      later(c, EXTERNAL_RING_MS, () => endFailed(c, 1));
    }
  }

  /** The external side never answered: nobody talked, whatever the employee did. */
  async function endFailed(c: Call, disposition: Disposition) {
    await endCall(c, disposition);
  }

  async function routeTo(c: Call, target: Target | null): Promise<void> {
    const d = store.directory;
    if (!target) return endCall(c, 3);
    if (target.type === 'ivr') {
      const ivr = await d.ivr.get(c.account.id, target.id);
      if (!ivr) return endCall(c, 3);
      c.state = 'ivr';
      c.ivr = ivr;
      c.handler = ivrParty(ivr);
      later(c, ivr.timeoutSec * 1000, () => {
        if (c.state !== 'ivr' || c.ivr !== ivr) return;
        c.ivr = null;
        return routeTo(c, ivr.defaultTarget);
      });
      return;
    }
    c.state = 'ringing';
    if (target.type === 'employee') {
      const e = await d.employees.get(c.account.id, target.id);
      if (!e) return endCall(c, 3);
      c.handler = employeeParty(e);
      if (!employeeAvailable(e)) return endCall(c, e.paused || e.presence !== 'online' ? 1 : 4);
      ringLeg(
        c,
        e,
        EMPLOYEE_RING_MS,
        async (disposition) => {
          if (!c.answered) await endCall(c, disposition);
        },
        true,
      );
      return;
    }
    const g = await d.groups.get(c.account.id, target.id);
    if (!g) return endCall(c, 3);
    c.handler = groupParty(g);
    // One query for the whole group, read fresh: pause and presence change at any time.
    const members = (await d.employees.byIds(c.account.id, g.members)).filter(employeeAvailable);
    if (!members.length) return endCall(c, 1);
    const ringMs = g.ringTimeoutSec * 1000;
    if (g.strategy === 'simultaneous') {
      let left = members.length;
      const outcomes = new Set<Disposition>();
      for (const e of members)
        ringLeg(c, e, ringMs, async (disposition) => {
          left--;
          outcomes.add(disposition);
          // Everyone busy is busy; any other mix is "no answer".
          if (left === 0 && !c.answered) await endCall(c, outcomes.size === 1 ? disposition : 1);
        });
      return;
    }
    // In turn: sequential always starts with the first member; round-robin starts after the last one rung.
    const start = g.strategy === 'round-robin' ? (roundRobin.get(g.id) ?? 0) % members.length : 0;
    if (g.strategy === 'round-robin') roundRobin.set(g.id, start + 1);
    const order = [...members.slice(start), ...members.slice(0, start)];
    const next = (i: number) => {
      if (i >= order.length) return endCall(c, 1);
      ringLeg(c, order[i], ringMs, async () => {
        if (!c.answered && c.state !== 'ended') await next(i + 1);
      });
    };
    await next(0);
  }

  /** The ringing phone a simulation action means: the leg named, or the one of `ext`, or the only one. */
  function ringingLeg(c: Call, uuid: string, ext: string | undefined, verb: string): Leg {
    // The call's own uuid names its primary leg too: then the ringing phone (of `ext`) is meant.
    const named = uuid === c.uuid ? undefined : c.legs.get(uuid);
    const leg =
      named ??
      [...c.legs.values()].find((l) => !l.ended && l.offHookAt === null && (!ext || l.employee.ext === ext));
    if (!leg || leg.ended || leg.offHookAt !== null)
      throw new DomainError('CONFLICT', `No ringing phone to ${verb} on that call`);
    return leg;
  }

  function findCall(accountId: number, uuid: string): Call {
    const c = calls.get(uuid) ?? legIndex.get(uuid);
    if (!c || c.account.id !== accountId) throw new DomainError('CALL_NOT_FOUND', `No active call ${uuid}`);
    return c;
  }

  async function trunkByNumber(account: AccountRecord, raw: string): Promise<Trunk> {
    const num = normalizePhone(raw, account.defaultCountry);
    const trunk = (await store.directory.trunks.list(account.id)).find((t) => t.number === num);
    if (!trunk) throw new DomainError('TRUNK_NOT_FOUND', `No trunk ${raw} in this account`);
    return trunk;
  }

  /** By ext as typed; a number (spec #9: `"legExt": 202`) also matches a zero-padded ext ("001" for 1). */
  async function employeeByExt(account: AccountRecord, raw: string): Promise<Employee> {
    const ext = raw.trim();
    const exact = await store.directory.employees.byExt(account.id, ext);
    if (exact) return exact;
    if (/^\d+$/.test(ext)) {
      const padded = (await store.directory.employees.list(account.id)).find(
        (e) => Number(e.ext) === Number(ext),
      );
      if (padded) return padded;
    }
    throw new DomainError('EMPLOYEE_NOT_FOUND', `No employee with ext ${ext}`);
  }

  function externalNumber(account: AccountRecord, raw: string): string {
    const num = normalizePhone(raw, account.defaultCountry);
    if (!num) throw badInput(`otherLegNum '${raw}' is not a phone number`);
    return num;
  }

  function newCall(account: AccountRecord, direction: 1 | 2 | 4, fields: Partial<Call>): Call {
    const c: Call = {
      uuid: newUuid(),
      account,
      direction,
      state: 'ringing',
      dialAt: clock.now(),
      bridgeAt: null,
      otherLegNum: null,
      otherLegName: null,
      otherLegs: [],
      trunk: null,
      shownTrunk: null,
      direct: false,
      dialSent: false,
      handler: null,
      legs: new Map(),
      answered: null,
      transfers: [],
      timers: [],
      ivr: null,
      caller: null,
      consult: null,
      recording: false,
      lastEvent: 'call.dial',
      ...fields,
    };
    calls.set(c.uuid, c);
    return c;
  }

  /**
   * An outgoing company call to `number` (normalized) on `trunkNumber`, or the account's default
   * trunk, with the CRMs' answer for the number (its call.dial goes when a phone is reached).
   */
  async function newOutgoingCall(
    account: AccountRecord,
    number: string,
    fields: Partial<Call> = {},
    trunkNumber?: string,
  ): Promise<Call> {
    const num = externalNumber(account, number);
    const trunks = await store.directory.trunks.list(account.id);
    const trunk = trunkNumber
      ? await trunkByNumber(account, trunkNumber)
      : (trunks.find((t) => t.isDefault) ?? trunks[0]);
    if (!trunk) throw new DomainError('NO_TRUNK', 'The account has no trunk for outgoing calls');
    const settings = await callSettings(account, 2, num, trunk);
    const c = newCall(account, 2, {
      otherLegNum: num,
      otherLegName: settings.otherLegName,
      otherLegs: settings.otherLegs,
      trunk,
      ...fields,
    });
    return c;
  }

  /**
   * Calls in progress of an account in this process: a direct call is itself (with a transfer
   * target still ringing as a child); a ring-group call is its members' legs, or itself while no
   * phone rings (in an IVR).
   */
  function activeLegs(accountId: number): LiveCall[] {
    const out: LiveCall[] = [];
    for (const c of calls.values()) {
      if (c.account.id !== accountId) continue;
      const legs = [...c.legs.values()].filter((l) => !l.ended && !l.primary);
      if (c.direct) {
        out.push(live(c, null));
        for (const l of legs) if (l !== c.answered) out.push(live(c, l));
        continue;
      }
      if (!legs.length) out.push(live(c, null));
      for (const l of legs) out.push(live(c, l));
    }
    return out.sort((a, b) => a.dialAt - b.dialAt);
  }

  const engine: CallEngine = {
    async makeCall(account, legExt, otherLegNum) {
      const e = await employeeByExt(account, legExt);
      if (e.paused) throw new DomainError('EMPLOYEE_UNAVAILABLE', `Employee ${e.ext} is paused`);
      if (e.presence !== 'online')
        throw new DomainError('EMPLOYEE_UNAVAILABLE', `Employee ${e.ext} is offline`);
      const c = await newOutgoingCall(account, otherLegNum, { handler: employeeParty(e) });
      ringLeg(
        c,
        e,
        EMPLOYEE_RING_MS,
        async (disposition) => {
          await endCall(c, disposition);
        },
        true,
      );
      return { uuid: c.uuid };
    },

    async active(accountId) {
      return activeLegs(accountId);
    },

    async hangup(accountId, uuid) {
      await track(endCall(findCall(accountId, uuid), 1));
    },

    async transfer(accountId, uuid, toExt) {
      const c = findCall(accountId, uuid);
      if (c.state !== 'bridged' || !c.answered)
        throw new DomainError('CONFLICT', 'Only an answered call can be transferred');
      const e = await store.directory.employees.byExt(accountId, toExt);
      if (!e) throw new DomainError('EMPLOYEE_NOT_FOUND', `No employee with ext ${toExt}`);
      if (e.id === c.answered.employee.id) throw badInput(`The call is already with ${toExt}`);
      // Blind transfer: ring the new employee; the call moves when they answer, else stays.
      ringLeg(c, e, EMPLOYEE_RING_MS, async () => {});
    },

    async attendedTransfer(accountId: number, uuid: string, toExt: string) {
      const c = findCall(accountId, uuid);
      if (c.state !== 'bridged' || !c.answered)
        throw new DomainError('CONFLICT', 'Only an answered call can be transferred');
      if (c.consult) throw new DomainError('CONFLICT', 'A transfer is already in progress');
      const e = await employeeByExt(c.account, toExt);
      if (e.id === c.answered.employee.id) throw badInput(`The call is already with ${toExt}`);
      const leg = ringLeg(c, e, EMPLOYEE_RING_MS, async () => {
        if (c.consult === leg) c.consult = null;
      });
      c.consult = leg;
    },

    /** Completes an attended transfer once the consulted employee has answered. */
    async completeTransfer(accountId: number, uuid: string) {
      const c = findCall(accountId, uuid);
      const leg = c.consult;
      if (!leg || leg.bridgeAt === null)
        throw new DomainError('CONFLICT', 'No answered consultation to complete');
      c.consult = null;
      await track(step(c, () => takeOver(c, leg, clock.now())));
    },

    /** Abandons an attended transfer: the consulted employee leaves, the caller stays. */
    async cancelTransfer(accountId: number, uuid: string) {
      const c = findCall(accountId, uuid);
      const leg = c.consult;
      if (!leg) throw new DomainError('CONFLICT', 'No transfer in progress');
      c.consult = null;
      await track(endLeg(c, leg, 1));
    },

    async idle() {
      while (inflight.size) await Promise.allSettled([...inflight]);
    },

    async close() {
      closing = true;
      for (const c of [...calls.values()]) await endCall(c, 1).catch(onError);
      await engine.idle();
    },
  };

  /** Simulation controls (our API, not Phonet's). */
  const sim = {
    /** An external number calls a trunk of the account. */
    async incoming(account: AccountRecord, from: string, trunkNumber: string): Promise<{ uuid: string }> {
      const trunk = await trunkByNumber(account, trunkNumber);
      const num = externalNumber(account, from);
      const settings = await callSettings(account, 4, num, trunk);
      const c = newCall(account, 4, {
        otherLegNum: num,
        otherLegName: settings.otherLegName,
        otherLegs: settings.otherLegs,
        trunk,
      });
      // spec: a CRM's responsible employee takes the call when they can, else the normal route.
      await track(
        step(c, async () =>
          routeTo(c, (await responsibleRoute(account, settings.responsible)) ?? trunk.destination),
        ),
      );
      return { uuid: c.uuid };
    },
    /**
     * A callback request (the callback widget): the PBX rings `target` — an employee, or a ring
     * group with its strategy — and when someone answers dials `number` on the default trunk,
     * as makeCall does (direction 2). Nobody answering ends the call unanswered.
     */
    async callback(
      account: AccountRecord,
      target: { type: 'employee' | 'group'; id: number },
      number: string,
    ): Promise<{ uuid: string }> {
      const c = await newOutgoingCall(account, number);
      await track(step(c, () => routeTo(c, target)));
      return { uuid: c.uuid };
    },
    /** An employee dials another employee's or a ring group's ext (direction 1). */
    async internal(account: AccountRecord, fromExt: string, toExt: string): Promise<{ uuid: string }> {
      const from = await employeeByExt(account, fromExt);
      const toEmployee = await store.directory.employees.byExt(account.id, toExt.trim());
      const toGroup = toEmployee ? null : await store.directory.groups.byExt(account.id, toExt.trim());
      if (!toEmployee && !toGroup)
        throw new DomainError('EMPLOYEE_NOT_FOUND', `No employee or ring group with ext ${toExt}`);
      if (toEmployee?.id === from.id) throw badInput('An employee cannot call their own ext');
      const trunks = await store.directory.trunks.list(account.id);
      const c = newCall(account, 1, {
        caller: employeeParty(from),
        shownTrunk: trunks.find((t) => t.isDefault) ?? trunks[0] ?? null,
      });
      await track(
        step(c, () =>
          routeTo(
            c,
            toEmployee ? { type: 'employee', id: toEmployee.id } : { type: 'group', id: toGroup!.id },
          ),
        ),
      );
      return { uuid: c.uuid };
    },
    /**
     * An employee dials an external number from their phone (no ring-back first, unlike
     * makeCall), on the account's default trunk or the one named.
     */
    async outgoing(
      account: AccountRecord,
      fromExt: string,
      number: string,
      trunkNumber?: string,
    ): Promise<{ uuid: string }> {
      const e = await employeeByExt(account, fromExt);
      const c = await newOutgoingCall(account, number, { handler: employeeParty(e) }, trunkNumber);
      // The employee dialled: the call is theirs (the primary leg, off hook, no ringing to end).
      const leg: Leg = {
        uuid: c.uuid,
        primary: true,
        employee: e,
        dialAt: clock.now(),
        offHookAt: clock.now(),
        bridgeAt: null,
        ended: false,
        timers: [],
        onEnd: async () => {},
      };
      c.direct = true;
      addLeg(c, leg);
      c.answered = leg;
      emitCall('call.dial', c);
      await track(dialExternal(c));
      return { uuid: c.uuid };
    },
    /** An employee answers a ringing leg (by leg uuid, or the company call uuid + ext). */
    async answer(accountId: number, uuid: string, ext?: string) {
      const c = findCall(accountId, uuid);
      const leg = ringingLeg(c, uuid, ext, 'answer');
      await track(step(c, () => answerLeg(c, leg)));
    },
    /** An employee rejects a ringing leg (busy). */
    async reject(accountId: number, uuid: string, ext?: string) {
      const c = findCall(accountId, uuid);
      const leg = ringingLeg(c, uuid, ext, 'reject');
      await track(step(c, () => refuseLeg(c, leg)));
    },
    /** The caller presses a digit in an IVR. */
    async digit(accountId: number, uuid: string, digit: string) {
      const c = findCall(accountId, uuid);
      if (c.state !== 'ivr' || !c.ivr) throw new DomainError('CONFLICT', 'The call is not in an IVR');
      const option = c.ivr.options.find((o) => o.digit === digit);
      if (!option) throw badInput(`The IVR '${c.ivr.name}' has no option ${digit}`);
      c.ivr = null;
      await track(step(c, () => routeTo(c, option.target)));
    },
    async pause(account: AccountRecord, ext: string, paused: boolean) {
      const e = await store.directory.employees.byExt(account.id, ext);
      if (!e) throw new DomainError('EMPLOYEE_NOT_FOUND', `No employee with ext ${ext}`);
      if (e.paused === paused) return;
      const { id: _id, createdAt: _c, ...row } = e;
      await store.directory.employees.update(account.id, e.id, { ...row, paused });
      const now = clock.now();
      bus.emit({
        type: paused ? 'employee.pause' : 'employee.unpause',
        at: now,
        accountId: account.id,
        employeeId: e.id,
      });
      await save([
        {
          uuid: newUuid(),
          accountId: account.id,
          kind: paused ? 'pause' : 'unpause',
          parentUuid: null,
          direction: (paused ? 32 : 64) as Direction,
          leg: employeeParty(e),
          leg2: null,
          otherLegNum: null,
          otherLegName: null,
          otherLegs: [],
          trunkNum: null,
          trunkName: null,
          trunk: null,
          dialAt: now,
          bridgeAt: null,
          endAt: now,
          billSecs: 0,
          duration: 0,
          disposition: 0,
          transferHistory: null,
          recordingUuid: null,
        },
      ]);
    },
    setEmployeeBehaviour(accountId: number, ext: string, b: PhoneBehaviour | null) {
      if (b) behaviours.set(`${accountId}:${ext}`, b);
      else behaviours.delete(`${accountId}:${ext}`);
    },
    /** `number` '*' sets the default for every external number of the account. */
    setExternalBehaviour(account: AccountRecord, number: string, b: PhoneBehaviour | null) {
      const key = `${account.id}:${number === '*' ? '*' : externalNumber(account, number)}`;
      if (b) externalBehaviours.set(key, b);
      else externalBehaviours.delete(key);
    },
    setTalkTime(accountId: number, t: TalkTime | null) {
      if (t) talk.set(accountId, t);
      else talk.delete(accountId);
    },
    /** The office's settings (phone behaviours, talk times) as data, for a process that joins. */
    settings(): SimSettings {
      return { employees: [...behaviours], externals: [...externalBehaviours], talk: [...talk] };
    },
    /**
     * Takes another process's settings. What is already set here stays: it can only be a change
     * published since that snapshot, so it is newer.
     */
    adoptSettings(s: SimSettings) {
      for (const [k, b] of s.employees) if (!behaviours.has(k)) behaviours.set(k, b);
      for (const [k, b] of s.externals) if (!externalBehaviours.has(k)) externalBehaviours.set(k, b);
      for (const [k, t] of s.talk) if (!talk.has(k)) talk.set(k, t);
    },
    activeCount: () => calls.size,
    /** engine.active without the promise: this process's calls, for the traffic generator. */
    activeLegs,
  };

  return { engine, sim };
}
export type Simulator = ReturnType<typeof createSimulator>;

/** Phone behaviours (keyed `account:ext` and `account:number`) and talk times (by account). */
export interface SimSettings {
  employees: [string, PhoneBehaviour][];
  externals: [string, PhoneBehaviour][];
  talk: [number, TalkTime][];
}
