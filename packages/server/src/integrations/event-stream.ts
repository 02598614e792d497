import type { CallEvent } from '@dzvin/protocol';
import type { CallBus } from '../domain/calls/call-engine.ts';
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../domain/ports.ts';
import { callEventPayload } from './outbox.ts';

/** One event of the live stream: the same payload a CRM's events URL gets. */
export interface StreamEvent {
  id: number;
  event: string;
  data: CallEvent;
}

const KEEP = 500;

/**
 * The live stream (a Dzvin extension: Server-Sent Events per account) fed from the call bus of
 * this process. Each account keeps its last few hundred events so a client reconnecting with
 * `Last-Event-ID` gets what it missed (within this process's memory).
 */
export function createEventStream(deps: { bus: CallBus; store: Store; clock: Clock }) {
  const subscribers = new Map<number, Set<(e: StreamEvent) => void>>();
  const recent = new Map<number, StreamEvent[]>();
  const domains = new Map<number, string>();
  let seq = 0;

  const off = deps.bus.on((e) => {
    if (e.type !== 'call.dial' && e.type !== 'call.bridge' && e.type !== 'call.hangup') return;
    const accountId = e.call.accountId;
    const domain = domains.get(accountId);
    // Only accounts someone has streamed are kept (the domain is learnt when they subscribe).
    if (domain === undefined) return;
    const ev: StreamEvent = {
      id: ++seq,
      event: e.type,
      data: callEventPayload(e.type, e.call, domain, deps.clock.now()),
    };
    let list = recent.get(accountId);
    if (!list) {
      list = [];
      recent.set(accountId, list);
    }
    list.push(ev);
    if (list.length > KEEP) list.splice(0, list.length - KEEP);
    for (const fn of subscribers.get(accountId) ?? []) fn(ev);
  });

  return {
    /** Subscribes to an account's events; answers the missed ones after `lastEventId` and an unsubscribe. */
    subscribe(
      account: { id: number; domain: string },
      fn: (e: StreamEvent) => void,
      lastEventId?: number,
    ): { missed: StreamEvent[]; unsubscribe: () => void } {
      domains.set(account.id, account.domain);
      let set = subscribers.get(account.id);
      if (!set) {
        set = new Set();
        subscribers.set(account.id, set);
      }
      set.add(fn);
      const missed =
        lastEventId === undefined ? [] : (recent.get(account.id) ?? []).filter((e) => e.id > lastEventId);
      return {
        missed,
        unsubscribe: () => {
          set.delete(fn);
        },
      };
    },
    close() {
      off();
    },
  };
}
export type EventStream = ReturnType<typeof createEventStream>;
