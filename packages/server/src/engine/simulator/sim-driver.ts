import type { CallRef, LegRef, PhoneDriver, PhoneEvents } from '../../domain/calls/phone-driver.ts';
import type { Cancel, Timers } from '../../domain/clock.ts';
import {
  DEFAULT_EMPLOYEE_BEHAVIOUR,
  DEFAULT_EXTERNAL_BEHAVIOUR,
  DEFAULT_TALK,
  decide,
  type PhoneBehaviour,
  type TalkTime,
  talkMs,
} from './behaviours.ts';

/** Phone behaviours (keyed `account:ext` and `account:number`) and talk times (by account). */
export interface SimSettings {
  employees: [string, PhoneBehaviour][];
  externals: [string, PhoneBehaviour][];
  talk: [number, TalkTime][];
}

/**
 * The simulated phones: a phone driver whose phones are behaviours (answer after N s with
 * probability p, manual, busy, do-not-disturb, unreachable, congestion) and whose conversations
 * last a talk time. It serves every endpoint; routing, state and history are the call core's.
 * Runs on the injected Timers, so a test drives a whole call by advancing a manual clock.
 */
export function createSimDriver(deps: { timers: Timers; random: () => number }) {
  const { timers, random } = deps;
  let phones: PhoneEvents | null = null;
  const behaviours = new Map<string, PhoneBehaviour>();
  const externalBehaviours = new Map<string, PhoneBehaviour>();
  const talk = new Map<number, TalkTime>();
  /** Timers of each ringing phone (by leg uuid) and of each call's far end (by call uuid). */
  const legTimers = new Map<string, Cancel[]>();
  const callTimers = new Map<string, Cancel[]>();

  const events = () => {
    if (!phones) throw new Error('the simulator driver is not attached to a call core');
    return phones;
  };
  function at(map: Map<string, Cancel[]>, key: string, ms: number, fn: () => Promise<void>) {
    const cancel = timers.after(ms, fn);
    const list = map.get(key);
    if (list) list.push(cancel);
    else map.set(key, [cancel]);
  }
  function cancel(map: Map<string, Cancel[]>, key: string) {
    for (const c of map.get(key) ?? []) c();
    map.delete(key);
  }

  const behaviourOf = (accountId: number, ext: string) =>
    behaviours.get(`${accountId}:${ext}`) ?? DEFAULT_EMPLOYEE_BEHAVIOUR;
  const externalOf = (accountId: number, num: string) =>
    externalBehaviours.get(`${accountId}:${num}`) ??
    externalBehaviours.get(`${accountId}:*`) ??
    DEFAULT_EXTERNAL_BEHAVIOUR;

  const driver: PhoneDriver = {
    simulated: true,
    serves: () => true,
    ring(leg: LegRef, timeoutMs: number) {
      const outcome = decide(behaviourOf(leg.accountId, leg.employee.ext), random);
      if (outcome.kind === 'answer' && outcome.afterMs < timeoutMs)
        at(legTimers, leg.legUuid, outcome.afterMs, () => events().answered(leg.legUuid));
      else if (outcome.kind === 'refuse')
        at(legTimers, leg.legUuid, outcome.afterMs, () => events().refused(leg.legUuid, outcome.disposition));
    },
    dial(call: CallRef, number: string, _trunk, timeoutMs: number) {
      const outcome = decide(externalOf(call.accountId, number), random);
      if (outcome.kind === 'answer' && outcome.afterMs < timeoutMs)
        at(callTimers, call.uuid, outcome.afterMs, () => events().externalAnswered(call.uuid));
      else if (outcome.kind === 'refuse')
        at(callTimers, call.uuid, outcome.afterMs, () =>
          events().externalRefused(call.uuid, outcome.disposition),
        );
    },
    connected(call: CallRef) {
      const ms = talkMs(talk.get(call.accountId) ?? DEFAULT_TALK, random);
      at(callTimers, call.uuid, ms, () => events().remoteHangup(call.uuid));
    },
    // Digits come from the simulation API (`POST …/digit`); the greeting is not synthesized.
    playIvr() {},
    release(leg: LegRef) {
      cancel(legTimers, leg.legUuid);
    },
    ended(call: CallRef) {
      cancel(callTimers, call.uuid);
    },
  };

  return {
    driver,
    attach(p: PhoneEvents) {
      phones = p;
    },
    setEmployeeBehaviour(accountId: number, ext: string, b: PhoneBehaviour | null) {
      if (b) behaviours.set(`${accountId}:${ext}`, b);
      else behaviours.delete(`${accountId}:${ext}`);
    },
    /** `key` is an E.164 number or '*' (every external number of the account). */
    setExternalBehaviour(accountId: number, key: string, b: PhoneBehaviour | null) {
      if (b) externalBehaviours.set(`${accountId}:${key}`, b);
      else externalBehaviours.delete(`${accountId}:${key}`);
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
  };
}
export type SimDriver = ReturnType<typeof createSimDriver>;
