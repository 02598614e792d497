import { type CallCoreDeps, createCallCore } from '../../domain/calls/call-core.ts';
import type { PhoneDriver, PhoneEvents } from '../../domain/calls/phone-driver.ts';
import { badInput } from '../../domain/errors.ts';
import { normalizePhone } from '../../domain/phone.ts';
import type { AccountRecord } from '../../domain/ports.ts';
import type { PhoneBehaviour, TalkTime } from './behaviours.ts';
import { createSimDriver } from './sim-driver.ts';

export type { SimSettings } from './sim-driver.ts';

/** The call core's dependencies, less its drivers (the simulator's is the one), plus its random source. */
export type SimulatorDeps = Omit<CallCoreDeps, 'drivers'> & {
  random?: () => number;
  /**
   * Drivers of real phones, asked first which endpoints they serve (the SIP driver: employees
   * with a registered phone); the simulator serves every other endpoint of the same calls.
   */
  drivers?: { driver: PhoneDriver; attach(events: PhoneEvents): void }[];
};

/**
 * The simulated office: the call core (domain/calls/call-core.ts: routing, state, history,
 * events) with every phone served by the simulator's driver (sim-driver.ts: behaviours and talk
 * times). `engine` is the CallEngine the Phonet API drives; `sim` the simulation API's controls —
 * the call setup use cases, and what a simulated phone does (answer, reject, press a digit).
 */
export function createSimulator(deps: SimulatorDeps) {
  const { random, drivers = [], ...coreDeps } = deps;
  const phonesOf = createSimDriver({ timers: deps.timers, random: random ?? Math.random });
  const core = createCallCore({ ...coreDeps, drivers: [...drivers.map((d) => d.driver), phonesOf.driver] });
  phonesOf.attach(core.phones);
  for (const d of drivers) d.attach(core.phones);
  const { engine, phones, setup, liveCalls } = core;

  const sim = {
    incoming: setup.incoming,
    callback: setup.callback,
    internal: setup.internal,
    outgoing: setup.outgoing,
    pause: setup.pause,
    /** An employee answers a ringing leg (by leg uuid, or the company call uuid + ext). */
    async answer(accountId: number, uuid: string, ext?: string) {
      await setup.track(phones.answered(setup.ringingLeg(accountId, uuid, ext, 'answer')));
    },
    /** An employee rejects a ringing leg (busy). */
    async reject(accountId: number, uuid: string, ext?: string) {
      await setup.track(phones.refused(setup.ringingLeg(accountId, uuid, ext, 'reject'), 4));
    },
    /** The caller presses a digit in an IVR. */
    digit: (accountId: number, uuid: string, digit: string) => phones.digit(accountId, uuid, digit),
    setEmployeeBehaviour(accountId: number, ext: string, b: PhoneBehaviour | null) {
      phonesOf.setEmployeeBehaviour(accountId, ext, b);
    },
    /** `number` '*' sets the default for every external number of the account. */
    setExternalBehaviour(account: AccountRecord, number: string, b: PhoneBehaviour | null) {
      let key = '*';
      if (number !== '*') {
        const num = normalizePhone(number, account.defaultCountry);
        if (!num) throw badInput(`otherLegNum '${number}' is not a phone number`);
        key = num;
      }
      phonesOf.setExternalBehaviour(account.id, key, b);
    },
    setTalkTime(accountId: number, t: TalkTime | null) {
      phonesOf.setTalkTime(accountId, t);
    },
    settings: phonesOf.settings,
    adoptSettings: phonesOf.adoptSettings,
    activeCount: setup.activeCount,
    /** engine.active without the promise: this process's calls, for the traffic generator. */
    activeLegs: setup.activeLegs,
  };

  return { engine, sim, liveCalls };
}
export type Simulator = ReturnType<typeof createSimulator>;
