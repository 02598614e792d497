import { randomUUID } from 'node:crypto';
import type { CallEventName, Disposition, Employee, Trunk } from '@dzvin/protocol';
import { driverAllowed, type PhoneMode, phoneModeOf } from '../accounts/phone-mode.ts';
import type { Cancel, Clock, Timers } from '../clock.ts';
import { badInput, DomainError } from '../errors.ts';
import { normalizePhone } from '../phone.ts';
import type { AccountRecord, Store, Target } from '../ports.ts';
import { retryWithBackoff } from '../retry.ts';
import type { CallBus, CallEngine, CallSettings, RoutingHook } from './call-engine.ts';
import type { Direction, FinishedCall, LiveCall, Recorder } from './call-model.ts';
import type { Call, Leg } from './call-state.ts';
import { closedAt, createLiveLedger } from './live-ledger.ts';
import type { Endpoint, IncomingCaller, LegRef, OffHook, PhoneDriver, PhoneEvents } from './phone-driver.ts';
import type { Presence } from './presence.ts';
import { employeeParty, groupParty, historyRecord, ivrParty, liveCall } from './projection.ts';
import { directRefusal, EMPLOYEE_RING_MS, EXTERNAL_RING_MS, groupOutcome, planGroup } from './routing.ts';

export interface CallCoreDeps {
  store: Store;
  clock: Clock;
  timers: Timers;
  recorder: Recorder;
  bus: CallBus;
  /** The phone drivers, asked in order which serves an endpoint (the first that does). */
  drivers: PhoneDriver[];
  /**
   * Which phones an account that has not chosen uses (domain/accounts/phone-mode.ts): hybrid
   * unless said (the server passes `real` in DZVIN_MODE=production).
   */
  defaultPhones?: PhoneMode;
  newUuid?: () => string;
  routing?: RoutingHook;
  /** Who is on a call in the other processes over the same database (none: this process alone). */
  presence?: Presence;
  onError?: (err: unknown) => void;
  /**
   * Keeps the calls in progress in the database too (live-ledger.ts), so that those of a process
   * that died are closed by the next (`liveCalls.recover`). `nodeId` names this process's rows;
   * `drainedByEvents`: the event capture writes the rows in the transaction of each event
   * (`liveCalls.drain`), so the core writes them only with its saves and touches. Absent: calls in
   * progress live in memory only.
   */
  liveCalls?: { nodeId: string; drainedByEvents?: boolean };
  /**
   * Joins the transaction that saves a finished call (the webhook outbox writes its hangup
   * events there, spec #18): `before` is awaited first, `inTransaction` runs inside it, and what
   * it answers runs once that transaction has committed (never when it did not).
   */
  saveHook?: {
    before(): Promise<void>;
    inTransaction(tx: Store, records: FinishedCall[]): Promise<() => void>;
  };
}

/**
 * The call core: the PBX beneath every engine. It owns the call ledger (calls, legs, the durable
 * save that joins the outbox transaction), carries out the routing planner's decisions (IVR →
 * group strategy → employee, the CRM's responsible employee first), the call setup use cases
 * (makeCall, incoming on a trunk, internal, outgoing, callback), transfers, presence (pause 32 /
 * unpause 64) and the events; phones are driven through the `PhoneDriver` port (the simulator
 * today, SIP next), which reports back through `phones` (PhoneEvents). Everything runs on the
 * injected Clock/Timers.
 */
export function createCallCore(deps: CallCoreDeps) {
  const { store, clock, timers, recorder, bus, presence } = deps;
  const newUuid = deps.newUuid ?? (() => randomUUID().replaceAll('-', ''));
  const onError = deps.onError ?? (() => {});
  const calls = new Map<string, Call>();
  const legIndex = new Map<string, Call>();
  /** The legs not yet ended of each employee (by id): "is this person talking?" without a scan. */
  const legsOfEmployee = new Map<number, Set<Leg>>();
  /** Each round-robin group's turns taken, when no shared presence counts them. */
  const turns = new Map<number, number>();
  const inflight = new Set<Promise<unknown>>();
  /**
   * The caller's phone of an internal call placed from a phone (OffHook): off hook, so busy for
   * other calls, but no leg of the call (an internal call's caller is its `caller`, not a leg).
   */
  const callerLegs = new Map<string, Leg>();
  let closing = false;

  // The calls in progress in the database (live-ledger.ts): each call's row as if cut now.
  const ledger = deps.liveCalls
    ? createLiveLedger<Call>({
        store,
        clock,
        nodeId: deps.liveCalls.nodeId,
        uuidOf: (c) => c.uuid,
        snapshot(c) {
          if (c.state === 'ended' || !c.dialSent) return null;
          const now = clock.now();
          // As endCall would save it: answered if it was, else a failure; ringing legs no answer.
          const final: Disposition = c.bridgeAt !== null ? 0 : 3;
          const records = [...c.held];
          for (const leg of c.legs.values())
            if (!leg.ended)
              records.push(historyRecord(c, leg, leg.bridgeAt !== null ? 0 : leg.primary ? final : 1, now));
          records.push(historyRecord(c, null, final, now));
          return { uuid: c.uuid, accountId: c.account.id, records };
        },
      })
    : null;
  let ledgerWrite: Promise<void> = Promise.resolve();
  let ledgerScheduled = false;
  /** The call changed: its row is rewritten (with the event's transaction, or one of its own). */
  function markLive(c: Call) {
    if (!ledger) return;
    ledger.mark(c);
    if (deps.liveCalls?.drainedByEvents || ledgerScheduled) return;
    ledgerScheduled = true;
    ledgerWrite = ledgerWrite
      .then(() => {
        ledgerScheduled = false;
        return ledger.flush();
      })
      .catch(onError);
  }

  const defaultPhones = deps.defaultPhones ?? 'hybrid';
  /**
   * The driver of an endpoint: the first that serves it among those the account's phone setting
   * allows (`simulated` / `real` / `hybrid`, domain/accounts/phone-mode.ts). This is the one place
   * the setting is applied. Null: no phone of that endpoint can ring — an employee who is offline
   * for calls (routing treats them so: `withPhone`).
   */
  function driverFor(account: AccountRecord, endpoint: Endpoint): PhoneDriver | null {
    const mode = phoneModeOf(account, defaultPhones);
    return (
      deps.drivers.find(
        (d) => driverAllowed(mode, endpoint.kind, d.simulated === true) && d.serves(endpoint),
      ) ?? null
    );
  }
  function externalDriver(account: AccountRecord, number: string, trunk: Trunk | null): PhoneDriver {
    const d = driverFor(account, { kind: 'external', accountId: account.id, number, trunk });
    if (!d) throw new DomainError('CONFLICT', 'No phone driver serves this endpoint');
    return d;
  }
  const phoneOf = (account: AccountRecord, e: Employee) =>
    driverFor(account, { kind: 'employee', accountId: account.id, employee: e });
  /**
   * The employee as routing sees them: an employee whose phone cannot ring (nothing registered
   * with the account's phones `real`) is offline — a direct call ends no answer, a group skips them.
   */
  const withPhone = (account: AccountRecord, e: Employee): Employee =>
    e.presence === 'online' && !phoneOf(account, e) ? { ...e, presence: 'offline' } : e;
  /**
   * Where a leg of an employee without a phone "rings" (a transfer to them): nowhere — it is
   * refused as no answer at once.
   */
  const noPhone: PhoneDriver = {
    serves: () => false,
    ring(leg) {
      // After ringLeg has set the leg up (its caller goes on synchronously).
      track(Promise.resolve().then(() => phones.refused(leg.legUuid, 1)));
    },
    dial() {
      throw new DomainError('CONFLICT', 'No phone driver serves this endpoint');
    },
    connected() {},
    playIvr() {},
    release() {},
    ended() {},
  };
  /** The drivers taking part in a call (its external party's and its employees' phones). */
  function driversOf(c: Call): Set<PhoneDriver> {
    const set = new Set<PhoneDriver>();
    if (c.external) set.add(c.external);
    for (const l of c.legs.values()) set.add(l.driver);
    const caller = callerLegs.get(c.uuid);
    if (caller) set.add(caller.driver);
    return set;
  }
  const legRef = (c: Call, leg: Leg): LegRef => ({
    uuid: c.uuid,
    accountId: c.account.id,
    legUuid: leg.uuid,
    employee: leg.employee,
    caller:
      c.direction === 1
        ? { name: c.caller?.displayName ?? null, number: c.caller?.ext ?? null }
        : { name: c.otherLegs[0]?.name || c.otherLegName, number: c.otherLegNum },
  });
  const callRef = (c: Call) => ({ uuid: c.uuid, accountId: c.account.id });
  /**
   * The presence claim of an internal call's caller (off hook on their phone): a key of its own,
   * not the call's uuid, which the callee's primary leg claims under (a claim's key is unique).
   */
  const callerClaim = (callUuid: string) => `${callUuid}.caller`;

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

  /** An event of the company call (one of each kind per call). */
  function emitCall(type: CallEventName, c: Call) {
    c.lastEvent = type;
    if (type === 'call.dial') c.dialSent = true;
    markLive(c);
    bus.emit({ type, at: clock.now(), call: liveCall(c, null), kind: 'company' });
  }

  /** An event of a child leg; a primary leg has none (its events are the call's). */
  function emitLeg(type: CallEventName, c: Call, leg: Leg) {
    // A leg's hangup changes the call's row only for a primary leg (endLeg marks that).
    if (type !== 'call.hangup') markLive(c);
    if (leg.primary) return;
    bus.emit({ type, at: clock.now(), call: liveCall(c, leg), kind: 'user' });
  }

  /** Read through a function: TypeScript would keep a narrowing of `c.state` across awaits. */
  const hasEnded = (c: Call) => c.state === 'ended';

  /**
   * Saves finished records in one transaction (one commit per call, not one per leg). A failed
   * save (the database down, a deadlock) is retried with backoff until it succeeds: a finished
   * call is never dropped, and the call's flow waits here rather than stopping half-way. Only a
   * process that is shutting down gives up after a few more attempts.
   */
  async function save(records: FinishedCall[], alsoRelease: string[] = []) {
    const hook = deps.saveHook;
    let committed: (() => void) | undefined;
    await retryWithBackoff(
      async () => {
        committed = undefined;
        if (hook) await hook.before();
        if (ledger) await ledgerWrite;
        if (records.length === 1 && !hook && !presence && !ledger) await store.calls.save(records[0]);
        else {
          // Rows drained into a transaction that then fails are marked again (written next time).
          let undo = () => {};
          let afterCommit: (() => void) | undefined;
          try {
            await store.transaction(async (tx) => {
              for (const r of records) await tx.calls.save(r);
              if (ledger) {
                // The calls saved whole are no longer in progress; the others' marked rows are
                // brought up to date in the same transaction.
                const ended = records.filter((r) => r.kind === 'company').map((r) => r.uuid);
                for (const u of ended) ledger.forget(u);
                undo = await ledger.drain(tx);
                await tx.liveCalls.remove(ended);
              }
              // The employees of the legs saved here are free once their records are.
              if (presence)
                await presence.release(tx, [...new Set(records.map((r) => r.uuid)), ...alsoRelease]);
              if (hook) afterCommit = await hook.inTransaction(tx, records);
            });
          } catch (err) {
            undo();
            throw err;
          }
          committed = afterCommit;
        }
      },
      {
        firstDelayMs: 100,
        maxDelayMs: 5_000,
        retryIf(err, attempt) {
          if (closing && attempt >= 3) return false;
          onError(err);
          return true;
        },
      },
    );
    committed?.();
    for (const record of records) bus.emit({ type: 'call.saved', at: clock.now(), record });
  }

  /** Ends one leg (the others go on). With `batch`, its record joins the call's final save. */
  async function endLeg(c: Call, leg: Leg, disposition: Disposition, batch?: FinishedCall[]) {
    if (leg.ended) return;
    leg.ended = true;
    for (const t of leg.timers) t();
    dropLeg(leg);
    leg.driver.release(legRef(c, leg));
    const now = clock.now();
    // A primary leg's record waits in the call (`held`): its row must carry it. A child leg saved
    // on its own needs no new row: recovery skips records already saved (and a ring-all group of
    // N answered would otherwise rewrite the call's row N − 1 times).
    if (leg.primary) markLive(c);
    emitLeg('call.hangup', c, leg);
    const r = historyRecord(c, leg, leg.bridgeAt !== null ? 0 : disposition, now);
    if (batch) batch.push(r);
    else if (leg.primary) {
      // The call goes on under this uuid: its row waits for the call's own (see Call.held); the
      // employee is free at once all the same.
      c.held.push(r);
      if (presence) await presence.release(store, [leg.uuid]).catch(onError);
    } else await save([r]);
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
    const records: FinishedCall[] = [...c.held];
    const drivers = driversOf(c);
    // The primary leg is the call: it ends as the call does (a congested click-to-call too).
    for (const leg of c.legs.values()) await endLeg(c, leg, leg.primary ? final : 1, records);
    const caller = callerLegs.get(c.uuid);
    const alsoRelease: string[] = [];
    if (caller) {
      alsoRelease.push(callerClaim(c.uuid));
      callerLegs.delete(c.uuid);
      caller.ended = true;
      const mine = legsOfEmployee.get(caller.employee.id);
      mine?.delete(caller);
      if (mine?.size === 0) legsOfEmployee.delete(caller.employee.id);
    }
    for (const d of drivers) d.ended(callRef(c), final);
    if (c.recording) await recorder.stop(c.uuid, now);
    calls.delete(c.uuid);
    emitCall('call.hangup', c);
    records.push(historyRecord(c, null, final, now));
    await save(records, alsoRelease);
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
    const [found] = await store.contacts.byPhone(account.id, otherLegNum, 0, 1);
    const name = found
      ? [found.firstName, found.lastName].filter(Boolean).join(' ') || found.companyTitle
      : null;
    return { otherLegName: name, otherLegs: [], responsible: [] };
  }

  /** Whether the employee is on a call now (picked up, or dialling out), here. */
  const talkingHere = (e: Employee) =>
    [...(legsOfEmployee.get(e.id) ?? [])].some((l) => !l.ended && l.offHookAt !== null);

  /**
   * "Is this employee on a call?" for `employees`, here or (with a shared presence) in any
   * process: one query for all of them, read when the call is routed.
   */
  async function talkingAmong(accountId: number, employees: Employee[]): Promise<(e: Employee) => boolean> {
    const elsewhere =
      presence && employees.length
        ? await presence.busyAmong(
            accountId,
            employees.map((e) => e.id),
          )
        : null;
    return (e) => talkingHere(e) || (elsewhere?.has(e.id) ?? false);
  }

  /** The first responsible employee (a CRM's answer) who can take calls now, as a route. */
  async function responsibleRoute(account: AccountRecord, ids: number[]): Promise<Target | null> {
    if (!ids.length) return null;
    const employees = (await store.directory.employees.byIds(account.id, ids)).map((e) =>
      withPhone(account, e),
    );
    const talking = await talkingAmong(account.id, employees);
    for (const e of employees)
      if (directRefusal(e, talking(e)) === null) return { type: 'employee', id: e.id };
    return null;
  }

  /** The round-robin group's turn for a new call: shared by every process when presence is. */
  async function nextTurn(accountId: number, groupId: number): Promise<number> {
    if (presence) return presence.nextTurn(accountId, groupId);
    const turn = turns.get(groupId) ?? 0;
    turns.set(groupId, turn + 1);
    return turn;
  }

  /** The leg of an employee who dialled (off hook from now, nothing ringing to end), under `c`'s uuid. */
  function offHookLeg(c: Call, e: Employee, driver: PhoneDriver, primary: boolean): Leg {
    const now = clock.now();
    return {
      uuid: c.uuid,
      primary,
      employee: e,
      driver,
      dialAt: now,
      offHookAt: now,
      bridgeAt: null,
      ended: false,
      timers: [],
      onEnd: async () => {},
    };
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
      driver: phoneOf(c.account, e) ?? noPhone,
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
    // The phone first (its own timers), then the core's ring timeout.
    leg.driver.ring(legRef(c, leg), timeoutMs);
    leg.timers.push(
      later(c, timeoutMs, async () => {
        if (leg.ended) return;
        await endLeg(c, leg, 1);
        if (c.state !== 'ended') await leg.onEnd(1);
      }),
    );
    return leg;
  }

  function startRecording(c: Call, at: number) {
    if (c.recording) return;
    c.recording = true;
    // A real phone's driver records what was said and heard; simulated phones get synthesized voices.
    const fed = [...driversOf(c)].some((d) => d.suppliesAudio?.(callRef(c)) ?? false);
    recorder.start(c.uuid, at, fed ? { source: 'fed' } : undefined);
  }

  /** The parties are connected: recording, and the drivers' media (the simulator's talk time). */
  function connected(c: Call, at: number) {
    startRecording(c, at);
    for (const d of driversOf(c)) d.connected(callRef(c), at);
  }

  /** True when the employee is already talking on another call (one answered call at a time). */
  function talkingElsewhere(c: Call, employeeId: number): boolean {
    for (const l of legsOfEmployee.get(employeeId) ?? [])
      if (!l.ended && l.offHookAt !== null && legIndex.get(l.uuid) !== c) return true;
    return false;
  }

  /**
   * Claims the employee for `leg` (shared presence). A phone picked up while the database is
   * away is answered all the same — the claim is written once the database is back (and given
   * back if the call ended meanwhile): an outage must not stop calls, only delay what is shared.
   */
  async function claimOffHook(c: Call, leg: Leg): Promise<boolean> {
    if (!presence) return true;
    try {
      return await presence.claim(c.account.id, leg.employee.id, leg.uuid);
    } catch (err) {
      onError(err);
      track(
        retryWithBackoff(() => presence.claim(c.account.id, leg.employee.id, leg.uuid), {
          firstDelayMs: 200,
          maxDelayMs: 5_000,
          retryIf: (e) => {
            onError(e);
            return !closing && !leg.ended;
          },
        }).then(async (held) => {
          // The call may have ended (and been saved) while the claim waited: give it back.
          if (held && leg.ended) await presence.release(store, [leg.uuid]);
        }),
      ).catch(() => {});
      return true;
    }
  }

  /** An employee picks up. */
  async function answerLeg(c: Call, leg: Leg) {
    if (leg.ended || leg.offHookAt !== null) return;
    // A phone ringing on two calls can pick up only one: the other finds it busy.
    if (talkingElsewhere(c, leg.employee.id)) return refuseLeg(c, leg, 4);
    if (presence) {
      // …and so can one ringing on calls of two processes: the claim decides which.
      const held = await claimOffHook(c, leg);
      if (leg.ended || hasEnded(c)) {
        // The call ended while the claim was written: its save may have come first.
        if (held) await presence.release(store, [leg.uuid]);
        return;
      }
      if (leg.offHookAt !== null) return;
      if (!held) return refuseLeg(c, leg, 4);
    }
    const now = clock.now();
    for (const t of leg.timers) t();
    leg.timers = [];
    leg.offHookAt = now;
    if (c.direction === 2 && c.state === 'ringing') {
      // Click-to-call: the employee answered; now dial the external number. Nothing is bridged
      // yet: the call is bridged when the two parties are connected (externalAnswered).
      c.answered = leg;
      c.handler = employeeParty(leg.employee);
      // A callback rings a whole group: the first phone to answer takes the call, the others stop.
      for (const other of c.legs.values())
        if (other !== leg && !other.ended && other.offHookAt === null) await endLeg(c, other, 1);
      // Saves take time (and are retried while the database is away): the call may have ended.
      if (hasEnded(c) || leg.ended) return;
      dialExternal(c);
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
      connected(c, now);
    }
  }

  /**
   * A ringing phone refuses: the leg ends and the ringing strategy goes on as after any
   * unanswered leg — the next member of a hunt group, the last of a ring-all group ends the call.
   */
  async function refuseLeg(c: Call, leg: Leg, disposition: Disposition) {
    await endLeg(c, leg, disposition);
    if (c.state !== 'ended') await leg.onEnd(disposition);
  }

  /** Dials the call's external number; the driver reports the outcome, the core times it out. */
  function dialExternal(c: Call) {
    c.state = 'dialing';
    const driver = c.external ?? externalDriver(c.account, c.otherLegNum ?? '', c.trunk);
    c.external = driver;
    const attempt = ++c.dialAttempt;
    driver.dial(callRef(c), c.otherLegNum ?? '', c.trunk, EXTERNAL_RING_MS);
    later(c, EXTERNAL_RING_MS, () =>
      c.state === 'dialing' && c.dialAttempt === attempt ? endCall(c, 1) : undefined,
    );
  }

  /**
   * An outgoing call's carrier was congested or away (disposition 2): the account's next trunk
   * with a SIP carrier not tried yet (default first, then by id), if any. A simulated trunk is
   * never the fallback of a real one: nobody real would answer there.
   */
  async function nextTrunk(c: Call): Promise<Trunk | null> {
    if (c.direction !== 2 || !c.trunk?.sipCarrier) return null;
    const tried = new Set([...c.triedTrunks, c.trunk].map((t) => t.id));
    const trunks = await store.directory.trunks.list(c.account.id);
    const order = [...trunks].sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.id - b.id);
    return order.find((t) => t.sipCarrier && !tried.has(t.id)) ?? null;
  }

  /** The external side answered: the employee and the number are connected. */
  function externalAnswered(c: Call) {
    if (c.state !== 'dialing') return;
    const now = clock.now();
    c.state = 'bridged';
    c.bridgeAt = now;
    const employee = c.answered;
    if (employee) {
      c.transfers.push(employee.employee.ext);
      // The leg is bridged (and its talk time starts) when the other side answers, as on a
      // real phone bill.
      if (!employee.ended && employee.bridgeAt === null) {
        employee.bridgeAt = now;
        emitLeg('call.bridge', c, employee);
      }
    }
    emitCall('call.bridge', c);
    connected(c, now);
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
      // Waiting in the IVR is a call in progress for the live views, before (or without) a dial.
      bus.emit({ type: 'call.update', at: clock.now(), call: liveCall(c, null), kind: 'company' });
      if (c.external) c.external.playIvr(callRef(c), ivr);
      later(c, ivr.timeoutSec * 1000, () => {
        if (c.state !== 'ivr' || c.ivr !== ivr) return;
        c.ivr = null;
        return routeTo(c, ivr.defaultTarget);
      });
      return;
    }
    c.state = 'ringing';
    if (target.type === 'employee') {
      const found = await d.employees.get(c.account.id, target.id);
      if (!found) return endCall(c, 3);
      const e = withPhone(c.account, found);
      c.handler = employeeParty(e);
      const refusal = directRefusal(e, (await talkingAmong(c.account.id, [e]))(e));
      if (hasEnded(c)) return;
      if (refusal !== null) return endCall(c, refusal);
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
    const members = (await d.employees.byIds(c.account.id, g.members)).map((e) => withPhone(c.account, e));
    const talking = await talkingAmong(c.account.id, members);
    let plan = planGroup(g, members, talking, 0);
    if (!plan.ring.length) return endCall(c, plan.nobody);
    // A round-robin group takes a turn per call that some member can take.
    if (g.strategy === 'round-robin')
      plan = planGroup(g, members, talking, await nextTurn(c.account.id, g.id));
    if (hasEnded(c)) return;
    // However the phones ring, the call ends busy when every one of them was, else no answer.
    const outcomes = new Set<Disposition>();
    if (plan.mode === 'all-at-once') {
      let left = plan.ring.length;
      for (const e of plan.ring)
        ringLeg(c, e, plan.ringMs, async (disposition) => {
          left--;
          outcomes.add(disposition);
          if (left === 0 && !c.answered) await endCall(c, groupOutcome(outcomes));
        });
      return;
    }
    const next = (i: number) => {
      if (i >= plan.ring.length) return endCall(c, groupOutcome(outcomes));
      ringLeg(c, plan.ring[i], plan.ringMs, async (disposition) => {
        outcomes.add(disposition);
        if (!c.answered && c.state !== 'ended') await next(i + 1);
      });
    };
    await next(0);
  }

  /** The ringing phone an action means: the leg named, or the one of `ext`, or the only one. */
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
    // By the number's unique index (trunks_number), not the account's whole list: once per call
    // coming in on a trunk.
    const trunk = num
      ? (await store.directory.trunks.byNumber(num)).find((t) => t.accountId === account.id)?.trunk
      : undefined;
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
      external: null,
      triedTrunks: [],
      dialAttempt: 0,
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
      held: [],
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
    return newCall(account, 2, {
      otherLegNum: num,
      otherLegName: settings.otherLegName,
      otherLegs: settings.otherLegs,
      trunk,
      ...fields,
    });
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
        out.push(liveCall(c, null));
        for (const l of legs) if (l !== c.answered) out.push(liveCall(c, l));
        continue;
      }
      if (!legs.length) out.push(liveCall(c, null));
      for (const l of legs) out.push(liveCall(c, l));
    }
    return out.sort((a, b) => a.dialAt - b.dialAt);
  }

  /** What phones report, through whichever driver serves them. */
  const phones: PhoneEvents = {
    async answered(legUuid) {
      const c = legIndex.get(legUuid);
      const leg = c?.legs.get(legUuid);
      if (c && leg && !leg.ended) await step(c, () => answerLeg(c, leg));
    },
    async refused(legUuid, disposition) {
      const c = legIndex.get(legUuid);
      const leg = c?.legs.get(legUuid);
      if (c && leg && !leg.ended && leg.offHookAt === null)
        await step(c, () => refuseLeg(c, leg, disposition));
    },
    async externalAnswered(callUuid) {
      const c = calls.get(callUuid);
      if (c) externalAnswered(c);
    },
    async externalRefused(callUuid, disposition) {
      const c = calls.get(callUuid);
      if (!c || c.state !== 'dialing') return;
      await step(c, async () => {
        if (c.state !== 'dialing') return;
        // Congestion on this trunk's carrier: the next trunk's, when the account has one.
        const next = disposition === 2 ? await nextTrunk(c) : null;
        if (next && !hasEnded(c)) {
          c.triedTrunks.push(c.trunk!);
          c.trunk = next;
          c.external = null;
          dialExternal(c);
          return;
        }
        // The external side never answered: nobody talked, whatever the employee did.
        await endCall(c, disposition);
      });
    },
    async remoteHangup(callUuid) {
      const c = calls.get(callUuid);
      if (c) await step(c, () => endCall(c, 0));
    },
    async digit(accountId, callUuid, digit) {
      const c = findCall(accountId, callUuid);
      if (c.state !== 'ivr' || !c.ivr) throw new DomainError('CONFLICT', 'The call is not in an IVR');
      const option = c.ivr.options.find((o) => o.digit === digit);
      if (!option) throw badInput(`The IVR '${c.ivr.name}' has no option ${digit}`);
      c.ivr = null;
      await track(step(c, () => routeTo(c, option.target)));
    },
    async offHook(dial) {
      const { account } = dial;
      // A phone the account's setting does not use (a registered phone of a `simulated` sandbox).
      const mode = phoneModeOf(account, defaultPhones);
      if (!driverAllowed(mode, 'employee', dial.driver.simulated === true))
        throw new DomainError(
          'EMPLOYEE_UNAVAILABLE',
          `The account's phones are ${mode}: this phone is not used`,
        );
      const ext = dial.dialled.trim();
      const isExt =
        (await store.directory.employees.byExt(account.id, ext)) ??
        (await store.directory.groups.byExt(account.id, ext));
      if (isExt) return setup.internal(account, dial.ext, ext, dial);
      // Not an ext: an external number only when it reads as a full one (E.164 once normalized);
      // anything shorter is an ext nobody has.
      if (!normalizePhone(ext, account.defaultCountry)?.startsWith('+'))
        throw new DomainError('EMPLOYEE_NOT_FOUND', `No employee, ring group or number ${ext}`);
      return setup.outgoing(account, dial.ext, ext, undefined, dial);
    },
    async callerHangup(callUuid) {
      const c = calls.get(callUuid);
      if (c) await step(c, () => endCall(c, 1));
    },
    async transfer(accountId, callUuid, toExt, byExt) {
      const c = findCall(accountId, callUuid);
      // A phone on the call that is not the one talking on it (the caller of an internal call,
      // a consulted employee) cannot move it: the API's transfer always moves the employee's side.
      if (byExt !== undefined && c.answered?.employee.ext !== byExt)
        throw new DomainError(
          'CONFLICT',
          `Only the employee talking on the call can transfer it, not ${byExt}`,
        );
      await engine.transfer(accountId, callUuid, toExt);
    },
    async replaceTransfer(accountId, callUuid, consultUuid, byExt) {
      const c = findCall(accountId, callUuid);
      const c2 = findCall(accountId, consultUuid);
      if (c === c2) throw badInput('A call cannot replace itself');
      if (c.state !== 'bridged' || !c.answered || c.answered.employee.ext !== byExt)
        throw new DomainError('CONFLICT', `${byExt} is not talking on the call to transfer`);
      // The consultation: a call byExt placed to another employee, who answered it (its primary
      // leg when byExt dialled the ext, a group's leg when a ring group) — that phone moves.
      const target = c2.answered;
      if (
        c2.state !== 'bridged' ||
        callerLegs.get(c2.uuid)?.employee.ext !== byExt ||
        !target ||
        target.ended ||
        target.bridgeAt === null
      )
        throw new DomainError('CONFLICT', `The consultation is not a call ${byExt} placed and got answered`);
      if (target.employee.id === c.answered.employee.id) throw badInput(`The call is already with ${byExt}`);
      if (!target.driver.moveLeg)
        throw new DomainError('CONFLICT', 'That phone cannot be moved to another call');
      const now = clock.now();
      const leg: Leg = {
        uuid: newUuid(),
        primary: false,
        employee: target.employee,
        driver: target.driver,
        dialAt: now,
        offHookAt: now,
        bridgeAt: null,
        ended: false,
        timers: [],
        onEnd: async () => {},
      };
      if (!target.driver.moveLeg(legRef(c2, target), legRef(c, leg)))
        throw new DomainError('CONFLICT', 'That phone cannot be moved to another call');
      addLeg(c, leg);
      if (presence) await claimOffHook(c, leg);
      // The consultation ends answered (its phone went on, in the other call); then the call moves.
      await track(step(c2, () => endCall(c2, 0)));
      if (hasEnded(c) || leg.ended) return;
      await track(step(c, () => takeOver(c, leg, now)));
    },
    incoming: (account, from, trunkNumber, caller) => setup.incoming(account, from, trunkNumber, caller),
  };

  const engine: CallEngine = {
    async makeCall(account, legExt, otherLegNum) {
      const e = await employeeByExt(account, legExt);
      if (e.paused) throw new DomainError('EMPLOYEE_UNAVAILABLE', `Employee ${e.ext} is paused`);
      if (e.presence !== 'online')
        throw new DomainError('EMPLOYEE_UNAVAILABLE', `Employee ${e.ext} is offline`);
      if (!phoneOf(account, e))
        throw new DomainError(
          'EMPLOYEE_UNAVAILABLE',
          `Employee ${e.ext} has no phone registered (the account's phones are ${phoneModeOf(account, defaultPhones)})`,
        );
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

  /** The call setup use cases beyond the Phonet API (the simulation API, the callback widget). */
  const setup = {
    /**
     * An external number calls a trunk of the account. `caller`: the caller is real, on that
     * driver (a carrier's INVITE, engine/sip/phone-originated.ts), rather than simulated.
     */
    async incoming(
      account: AccountRecord,
      from: string,
      trunkNumber: string,
      caller?: IncomingCaller,
    ): Promise<{ uuid: string }> {
      // The SIP engine's carrier call comes with the trunk it read to accept the INVITE (one
      // read per call, not two).
      const trunk = caller?.trunk ?? (await trunkByNumber(account, trunkNumber));
      const num = externalNumber(account, from);
      const settings = await callSettings(account, 4, num, trunk);
      const c = newCall(account, 4, {
        otherLegNum: num,
        otherLegName: settings.otherLegName,
        otherLegs: settings.otherLegs,
        trunk,
        external: caller?.driver ?? externalDriver(account, num, trunk),
      });
      caller?.placed?.(callRef(c));
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
    async internal(
      account: AccountRecord,
      fromExt: string,
      toExt: string,
      origin?: OffHook,
    ): Promise<{ uuid: string }> {
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
      if (origin) {
        // Placed from a phone: the caller is off hook from now on (busy for other calls).
        const leg = offHookLeg(c, from, origin.driver, false);
        callerLegs.set(c.uuid, leg);
        const mine = legsOfEmployee.get(from.id);
        if (mine) mine.add(leg);
        else legsOfEmployee.set(from.id, new Set([leg]));
        origin.placed?.(callRef(c));
        if (presence) await track(step(c, () => presence.claim(account.id, from.id, callerClaim(c.uuid))));
      }
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
      origin?: OffHook,
    ): Promise<{ uuid: string }> {
      const e = await employeeByExt(account, fromExt);
      const driver = origin?.driver ?? phoneOf(account, e);
      if (!driver)
        throw new DomainError(
          'EMPLOYEE_UNAVAILABLE',
          `Employee ${e.ext} has no phone to dial from (the account's phones are ${phoneModeOf(account, defaultPhones)})`,
        );
      const c = await newOutgoingCall(account, number, { handler: employeeParty(e) }, trunkNumber);
      origin?.placed?.(callRef(c));
      // The employee dialled: the call is theirs (the primary leg, off hook, no ringing to end).
      const leg = offHookLeg(c, e, driver, true);
      c.direct = true;
      addLeg(c, leg);
      c.answered = leg;
      emitCall('call.dial', c);
      await track(
        step(c, async () => {
          // The employee is off hook: held for this call in every process (a claim another
          // call's leg already has stays with it; this phone dials out all the same, as a real
          // one can).
          if (presence) await presence.claim(account.id, e.id, leg.uuid);
          if (!hasEnded(c)) dialExternal(c);
        }),
      );
      return { uuid: c.uuid };
    },
    /** Presence: an employee pauses or comes back (a 32 / 64 record in users.api). */
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
    /** The leg a phone action (answer, reject) means on a call: see `ringingLeg`. */
    ringingLeg(accountId: number, uuid: string, ext: string | undefined, verb: string): string {
      return ringingLeg(findCall(accountId, uuid), uuid, ext, verb).uuid;
    },
    /** Runs a phone's report as tracked work (idle() waits for it). */
    track,
    activeCount: () => calls.size,
    /** engine.active without the promise: this process's calls, for the traffic generator. */
    activeLegs,
  };

  /**
   * The calls in progress in the database (live-ledger.ts): what the server's loops and the event
   * capture drive. Null when the core keeps them in memory only.
   */
  const liveCalls = ledger && {
    nodeId: ledger.nodeId,
    /** Writes the marked calls' rows through the caller's transaction (the event capture's). */
    drain: (tx: Store) => ledger.drain(tx),
    /** This process is alive: its rows are touched (and what is marked written); idle, nothing to touch. */
    touch: () => (calls.size ? ledger.touch() : ledger.flush()),
    /**
     * Closes the calls of processes not in `alive` last seen before `before`: each one's records
     * saved as they stood at the cut, with their hangup events, in one transaction that takes the
     * row (a row another process took first is skipped; a record already in the history is not
     * written again). Answers how many calls it closed.
     */
    async recover(alive: string[], before: number): Promise<number> {
      const hook = deps.saveHook;
      let closed = 0;
      // A row that cannot be closed (reported) does not stop the others; it is tried next time.
      const failed = new Set<string>();
      for (;;) {
        const uuids = (await store.liveCalls.orphans(alive, before, 100 + failed.size)).filter(
          (u) => !failed.has(u),
        );
        for (const uuid of uuids) {
          if (hook) await hook.before();
          let records: FinishedCall[] = [];
          let afterCommit: (() => void) | undefined;
          try {
            await store.transaction(async (tx) => {
              records = [];
              afterCommit = undefined;
              const taken = await tx.liveCalls.take(uuid);
              if (!taken) return;
              const { row, seenAt } = taken;
              const saved = await tx.liveCalls.saved(row.records);
              records = row.records
                .filter((r) => !saved.has(`${r.uuid} ${r.kind}`))
                .map((r) =>
                  closedAt(
                    r,
                    seenAt,
                    // What the dead process had written of the recording is kept.
                    r.recordingUuid !== null &&
                      (recorder.path(r.recordingUuid, 'mixed') !== null ||
                        recorder.salvage?.(r.recordingUuid) === true),
                  ),
                );
              for (const r of records) await tx.calls.save(r);
              if (presence) {
                const uuids = [...new Set(row.records.map((r) => r.uuid))];
                await presence.release(tx, [...uuids, callerClaim(row.uuid)]);
              }
              if (hook && records.length) afterCommit = await hook.inTransaction(tx, records);
            });
          } catch (err) {
            failed.add(uuid);
            onError(err);
            continue;
          }
          afterCommit?.();
          if (records.length) closed++;
          for (const record of records) bus.emit({ type: 'call.saved', at: clock.now(), record });
        }
        if (uuids.length < 100) return closed;
      }
    },
  };

  return { engine, phones, setup, liveCalls };
}
export type CallCore = ReturnType<typeof createCallCore>;
