import type { CallEventName, OtherLeg } from '@dzvin/protocol';
import type { AccountRecord } from '../ports.ts';
import type { FinishedCall, LiveCall } from './call-model.ts';

/**
 * The port every call engine implements (the simulator now, a SIP engine later). Nothing of
 * telephony leaks through it: the HTTP layer and the domain speak calls, legs and employees.
 */
export interface CallEngine {
  /** Click-to-call: ring the employee, then dial the number and bridge (spec: makeCall). */
  makeCall(account: AccountRecord, legExt: string, otherLegNum: string): Promise<{ uuid: string }>;
  /** Calls in progress of an account, per leg (async: they may live in another process). */
  active(accountId: number): Promise<LiveCall[]>;
  /** Ends a call (company call or any of its legs) in whatever state it is. */
  hangup(accountId: number, uuid: string): Promise<void>;
  /** Blind transfer of an answered call to another employee's ext. */
  transfer(accountId: number, uuid: string, toExt: string): Promise<void>;
  /** Attended transfer: ring `toExt` for a consultation; complete or cancel it afterwards. */
  attendedTransfer(accountId: number, uuid: string, toExt: string): Promise<void>;
  completeTransfer(accountId: number, uuid: string): Promise<void>;
  cancelTransfer(accountId: number, uuid: string): Promise<void>;
  /** Resolves when every operation in flight has finished (tests, graceful shutdown). */
  idle(): Promise<void>;
  /** Ends every call and stops timers. */
  close(): Promise<void>;
}

/** What the in-process event bus carries: every state change of a call or leg (spec events + internal ones). */
export type CallBusEvent =
  | { type: CallEventName; at: number; call: LiveCall; kind: 'company' | 'user' }
  /**
   * A company call's live state changed with no Phonet event: it went into an IVR (before any
   * phone rings it has had no call.dial). For the live views (the SSE stream, the console's
   * Live), never for a CRM's events URL.
   */
  | { type: 'call.update'; at: number; call: LiveCall; kind: 'company' }
  | { type: 'call.saved'; at: number; record: FinishedCall }
  | { type: 'employee.pause' | 'employee.unpause'; at: number; accountId: number; employeeId: number };

export interface CallBus {
  emit(e: CallBusEvent): void;
  on(fn: (e: CallBusEvent) => void): () => void;
}

/** A synchronous, in-process bus: subscribers must not throw (errors are swallowed and reported). */
export function createCallBus(onError: (err: unknown) => void = () => {}): CallBus {
  const subs = new Set<(e: CallBusEvent) => void>();
  return {
    emit(e) {
      for (const fn of subs) {
        try {
          fn(e);
        } catch (err) {
          onError(err);
        }
      }
    },
    on(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

/**
 * What the PBX learnt about the other party of an incoming or outgoing call before routing it
 * (spec: call.settings; spec #16, #17).
 */
export interface CallSettings {
  /** The name for the employee's phone display and the call card; null when nobody knew the number. */
  otherLegName: string | null;
  /** One entry per CRM (the contacts book included) that knew the number, highest priority first. */
  otherLegs: OtherLeg[];
  /**
   * Employees (ids) a CRM named responsible for the number, preferred first
   * (`responsibleEmployeeExt` before `responsibleEmployeeEmail`). An incoming call goes to the
   * first of them who can take calls; the engine decides that, as only it knows who is talking.
   */
  responsible: number[];
}

/**
 * The routing step's hook (spec: call.settings before an incoming or outgoing call is routed;
 * a CRM's responsibleEmployee overrides the route of an incoming call). Implemented by
 * integrations/lookup.ts. It never throws and never takes much longer than its lookup timeout.
 */
export interface RoutingHook {
  callSettings(
    account: AccountRecord,
    call: { direction: 2 | 4; otherLegNum: string; trunkNum: string | null },
  ): Promise<CallSettings>;
}
